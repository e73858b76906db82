"""Env throughput: AudioGoal steps/s at 128² (cold, warm, replayed) next to the raw kernels on
the same steps, and what an RL run meets (a random policy over many train scenes, resets and
scene switches included) in one process and through SB3's SubprocVecEnv."""

from __future__ import annotations

import time

import numpy as np

from .common import pinned
from .soak import rss_mb as resident_mb


def bench_env(cfg) -> list[dict]:
    """AudioGoal steps/s at 128², one process: cold (first visit of every state), and warm (the
    same episodes again: RIRs, binaural renders and FFTs cached), next to the raw kernels
    (render + convolution + spectrogram) timed on the same steps."""
    import gymnasium as gym

    from ... import av_env  # noqa: F401  (registers the ids)
    from ...acoustics import spectrogram
    from ...scenes.lru import LRU

    rows = []
    for renderer in ("auto", "raycast"):
        env = gym.make("earshot/AudioGoal-v0", split="test", scenes=1, episodes_per_scene=10, renderer=renderer)
        u = env.unwrapped

        def run(record=None):
            rng = np.random.default_rng(0)
            steps, t = 0, time.perf_counter()
            for i in range(len(u.episodes)):
                env.reset(options={"episode_index": i})
                while True:
                    a = u.oracle_action() if rng.random() < 0.7 else int(rng.integers(1, 4))
                    _, _, term, trunc, _ = env.step(a)
                    steps += 1
                    if record is not None:
                        record.append((u.sim.position.copy(), u.sim.heading, u.sim.steps))
                    if term or trunc:
                        break
            return steps / (time.perf_counter() - t)

        poses: list = []
        cold = run(poses)
        # warm, like for like with the kernels: every step's spectrogram computed (the env's
        # memory of observed spectrograms switched off), then as it runs: replays reuse them
        observer = u.observer
        kept, observer.spectrograms = observer.spectrograms, LRU(0)
        warm = run()
        observer.spectrograms = kept
        replay = run()
        # the kernels alone on the same steps: render + convolution (cached FFTs) + spectrogram
        sim = u.sim
        renderer_obj = sim.ctx.renderer
        src = sim.sources[0]
        key = sim._rir_key(src.node)
        rir = sim._binaural_rir(src.node, key)
        t = time.perf_counter()
        for position, heading, step in poses:
            renderer_obj.render(position, heading)
            audio = sim._conv.hear(src.sound, src.audio, key, rir, step * u.cfg.step_samples)
            spectrogram(audio, u.cfg, backend="numpy")
        kernels = len(poses) / (time.perf_counter() - t)
        name = f"AudioGoal steps/s ({renderer_obj.backend} renderer)"
        rows.append(dict(section="env", name=name + ", warm", value=warm, unit="steps/s", reference="raw kernels, same steps",
                         reference_value=kernels, reference_unit="steps/s", ratio=warm / kernels,
                         detail=f"overhead {100 * (kernels / warm - 1):.0f}% over kernels; target >= 450 steps/s, <= 25%"))
        rows.append(dict(section="env", name=name + ", warm replay", value=replay, unit="steps/s",
                         reference="raw kernels, same steps", reference_value=kernels, reference_unit="steps/s",
                         ratio=replay / kernels,
                         detail="the same episodes once more: every observed spectrogram is remembered (no audio work)"))
        rows.append(dict(section="env", name=name + ", cold", value=cold, unit="steps/s", reference="raw kernels, same steps",
                         reference_value=kernels, reference_unit="steps/s", ratio=cold / kernels,
                         detail="first visit: RIRs computed, binaural rendered"))
        env.close()
    rows.append(bench_moving_distractors())
    return rows


def moving_random_policy(distractor_mode: str, steps: int = 1500, scenes: int = 20, seed: int = 0) -> float:
    """MovingSource steps/s of a random policy (STOP in 2% of steps) over ``scenes`` train scenes
    at 64², one process, a new env (RIRs computed as the episodes meet them)."""
    import gymnasium as gym

    from ... import av_env  # noqa: F401  (registers the ids)

    env = gym.make("earshot/MovingSource-v0", split="train", scenes=scenes, resolution=64, distractor_mode=distractor_mode)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    t = time.perf_counter()
    for _ in range(steps):
        action = 0 if rng.random() < 0.02 else int(rng.integers(1, 4))
        _, _, term, trunc, _ = env.step(action)
        if term or trunc:
            env.reset()
    rate = steps / (time.perf_counter() - t)
    env.close()
    return rate


def bench_moving_distractors() -> dict:
    """What MovingSource's transient distractors (the default: each sounds in half the steps
    from a node drawn anew, an RIR not yet computed) cost against static ones, the same random
    policy and episodes; each mode run twice, alternating, the second runs reported (the rooms'
    traced tails then on disk for both)."""
    rates: dict[str, float] = {}
    for mode in ("static", "transient", "static", "transient"):
        rates[mode] = moving_random_policy(mode)
    return dict(section="env", name="MovingSource steps/s, random policy, transient distractors", value=rates["transient"],
                unit="steps/s", reference="static distractors, same policy", reference_value=rates["static"],
                reference_unit="steps/s", ratio=rates["transient"] / rates["static"],
                detail="20 train scenes, 64², 1,500 steps; each sounding distractor is heard from a new node")


def random_policy_run(steps: int, scenes: int, renderer: str = "auto", seed: int = 0, warm_steps: int = 0,
                      **env_kwargs) -> dict:
    """What an RL run meets: AudioGoal, a uniformly random 4-action policy (STOP included, so
    episodes last ~4 steps), ``scenes`` train scenes, nothing precomputed, every reset counted.
    Returns steps/s including construction and without it, and reset latencies (ms) within a
    scene and on a scene switch. ``warm_steps`` more steps of the same env and policy are then
    timed apart (``warm_steps_per_s``: the scenes met again, their RIRs and renders in memory).
    Traced tails go to the env's ``tail_cache`` (default: the per-user folder, ``EARSHOT_CACHE``)."""
    import gymnasium as gym

    from ... import av_env  # noqa: F401  (registers the ids)

    t0 = time.perf_counter()
    env = gym.make("earshot/AudioGoal-v0", split="train", scenes=scenes, renderer=renderer, **env_kwargs)
    built = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    resets_same, resets_switch = [], []
    t1 = time.perf_counter()
    env.reset(seed=seed)
    scene = env.unwrapped.episode.scene
    done_steps = 0
    while done_steps < steps:
        _, _, term, trunc, _ = env.step(int(rng.integers(4)))
        done_steps += 1
        if term or trunc:
            t = time.perf_counter()
            env.reset()
            dt = (time.perf_counter() - t) * 1e3
            now = env.unwrapped.episode.scene
            (resets_same if now == scene else resets_switch).append(dt)
            scene = now
    run = time.perf_counter() - t1
    u = env.unwrapped
    rss_mb = resident_mb()  # resident memory at the end of the run
    traced = u.source.tail_store.misses if u.source.tail_store is not None else None
    read = u.source.tail_store.hits if u.source.tail_store is not None else None
    pairs = u.sim.rir_computations  # of the timed run (the warm steps after it compute more)
    warm = None
    if warm_steps > 0:
        t2, done = time.perf_counter(), 0
        while done < warm_steps:
            _, _, term, trunc, _ = env.step(int(rng.integers(4)))
            done += 1
            if term or trunc:
                env.reset()
        warm = done / (time.perf_counter() - t2)
    out = {"steps": done_steps, "seconds": run, "construction_s": built, "steps_per_s": done_steps / run,
           "steps_per_s_with_construction": done_steps / (run + built), "episodes": len(resets_same) + len(resets_switch),
           "reset_ms_same_p50": float(np.percentile(resets_same, 50)) if resets_same else None,
           "reset_ms_same_p95": float(np.percentile(resets_same, 95)) if resets_same else None,
           "reset_ms_switch_p50": float(np.percentile(resets_switch, 50)) if resets_switch else None,
           "reset_ms_switch_p95": float(np.percentile(resets_switch, 95)) if resets_switch else None,
           "scene_switches": len(resets_switch), "rss_mb_end": rss_mb, "rir_pairs_computed": pairs,
           "renderer": u.sim.ctx.renderer.backend if u.sim.ctx.renderer else None,
           "tails_traced": traced, "tails_read": read,
           "warm_steps_per_s": warm}
    env.close()
    return out


def _fresh_run(queue, cache, steps, scenes, warm_steps, env_kwargs):
    import os
    import traceback

    from ...acoustics.tail_store import CACHE_ENV

    os.environ[CACHE_ENV] = cache
    try:
        queue.put(random_policy_run(steps, scenes, warm_steps=warm_steps, **env_kwargs))
    except BaseException:
        queue.put({"error": traceback.format_exc()})
        raise


def random_policy_fresh(steps: int, scenes: int, cache: str, warm_steps: int = 0, **env_kwargs) -> dict:
    """``random_policy_run`` in a fresh process (spawned: nothing in memory, the caller's core
    affinity) whose per-user cache (``EARSHOT_CACHE``) is ``cache``: an empty folder gives the
    cold first run, the same folder again the second run (traced tails read from disk)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_fresh_run, args=(queue, str(cache), steps, scenes, warm_steps, env_kwargs))
    proc.start()
    import queue as queues

    try:
        while True:  # a child that dies without answering (killed, or failed to start) ends the wait
            try:
                out = queue.get(timeout=5)
                break
            except queues.Empty:
                if not proc.is_alive():
                    raise RuntimeError(f"the benchmark's child process exited with code {proc.exitcode} without a result") from None
    finally:
        proc.join()
    if "error" in out:
        raise RuntimeError(f"the benchmark's child process failed:\n{out['error']}")
    return out


def _make_sharded(k: int, n: int, scenes: int):
    import gymnasium as gym

    class Busy(gym.Wrapper):
        """Seconds this worker spent in step and reset (the rest it waited for the others)."""

        busy = 0.0

        def step(self, action):
            t = time.perf_counter()
            try:
                return self.env.step(action)
            finally:
                self.busy += time.perf_counter() - t

        def reset(self, **kwargs):
            t = time.perf_counter()
            try:
                return self.env.reset(**kwargs)
            finally:
                self.busy += time.perf_counter() - t

        def busy_seconds(self) -> float:
            return self.busy

    return Busy(gym.make("earshot.av_env:earshot/AudioGoal-v0", split="train", scenes=scenes, scene_shard=(k, n)))


def random_policy_vec(steps: int, scenes: int, workers: int, seed: int = 0) -> dict:
    """The same random-policy run through SB3's SubprocVecEnv, each worker on a disjoint part of
    the scenes (``scene_shard``) and given its own core; steps are counted over all workers."""
    import functools

    from stable_baselines3.common.vec_env import SubprocVecEnv

    with pinned(workers):
        venv = SubprocVecEnv([functools.partial(_make_sharded, k, workers, scenes) for k in range(workers)], start_method="spawn")
        venv.seed(seed)
        venv.reset()
        rng = np.random.default_rng(seed)
        busy0 = venv.env_method("busy_seconds")
        t = time.perf_counter()
        done = 0
        while done < steps:
            venv.step(rng.integers(4, size=workers))
            done += workers
        run = time.perf_counter() - t
        busy = [b - b0 for b, b0 in zip(venv.env_method("busy_seconds"), busy0)]
        venv.close()
    # SubprocVecEnv steps all workers in lockstep: each step lasts as long as the slowest
    # worker's, so a worker is busy only part of the time when step costs vary (cold RIRs,
    # first visits to scenes, resets)
    return {"steps": done, "seconds": run, "steps_per_s": done / run, "workers": workers,
            "busy_fraction": [b / run for b in busy]}


def bench_training(cfg) -> list[dict]:
    """The random-policy training run (one process, as pinned), the reference being the warm
    kernels of the env section's kind: this run pays for every reset, scene and RIR."""
    r = random_policy_run(cfg.training_steps, cfg.training_scenes)
    detail = (f"{r['steps']} steps, {r['episodes']} episodes over {cfg.training_scenes} train scenes, "
              f"{r['renderer']}; resets p50/p95 {r['reset_ms_same_p50']:.1f}/{r['reset_ms_same_p95']:.1f} ms in a scene, "
              f"{r['reset_ms_switch_p50'] or 0:.1f}/{r['reset_ms_switch_p95'] or 0:.1f} ms on {r['scene_switches']} scene switches; "
              f"{r['rir_pairs_computed']} RIR pairs computed; {r['tails_traced']} room tails traced, {r['tails_read']} read "
              "from the per-user cache (EARSHOT_CACHE: what earlier runs left); "
              f"construction {r['construction_s']:.2f} s "
              f"({r['steps_per_s_with_construction']:.0f} steps/s counting it); RSS at the end {r['rss_mb_end'] or 0:.0f} MB; "
              "target >= 200 steps/s")
    rows = [dict(section="training", name="AudioGoal random policy, 50 scenes", value=r["steps_per_s"], unit="steps/s",
                 reference="34 steps/s before episode iteration and lazy RIRs", reference_value=34.0,
                 reference_unit="steps/s", ratio=r["steps_per_s"] / 34.0, detail=detail, raw=r)]
    rows += _fresh_rows(cfg)
    if cfg.training_workers > 0:
        v = random_policy_vec(cfg.training_steps, cfg.training_scenes, cfg.training_workers)
        rows.append(dict(section="training", name=f"same, SubprocVecEnv x{v['workers']}", value=v["steps_per_s"], unit="steps/s",
                         reference="one process (above)", reference_value=r["steps_per_s"], reference_unit="steps/s",
                         ratio=v["steps_per_s"] / r["steps_per_s"],
                         detail=(f"{v['steps']} steps over all workers, each on its own core and its own part of the scenes; "
                                 "workers busy " + "/".join(f"{b:.0%}" for b in v["busy_fraction"]) +
                                 " of the time (lockstep: each step waits for the slowest worker)"),
                         raw=v))
    return rows


def _fresh_rows(cfg) -> list[dict]:
    """Issue 26's cases, each in a fresh process on the pinned core: cold (an empty per-user
    cache: every room's tail traced), the second run (the same cache: tails read from disk), warm
    (the second run's env, stepping on) and 10,000 scenes with one episode each (every episode
    a new scene; an empty cache; ``min(steps, 300)`` steps)."""
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as root:
        cold = random_policy_fresh(cfg.training_steps, cfg.training_scenes, root)
        second = random_policy_fresh(cfg.training_steps, cfg.training_scenes, root, warm_steps=cfg.training_steps)
    with tempfile.TemporaryDirectory() as root:
        many = random_policy_fresh(min(cfg.training_steps, 300), 10_000, root, episodes_per_scene=1)
    for name, r, value, detail in (
            ("cold (empty caches, fresh process)", cold, cold["steps_per_s"], "every room's tail traced; target >= 300 steps/s"),
            ("second run (tails on disk, fresh process)", second, second["steps_per_s"], "no room traced again"),
            ("warm (the second run's env, stepping on)", second, second["warm_steps_per_s"], "RIRs and renders in memory"),
            ("10,000 scenes, cold", many, many["steps_per_s"], "one episode per scene: every episode meets a new scene")):
        rows.append(dict(section="training", name=f"AudioGoal random policy, {name}", value=value, unit="steps/s",
                         reference="issue 26: 138 steps/s cold before", reference_value=138.0, reference_unit="steps/s",
                         ratio=value / 138.0, raw=r,
                         detail=(f"{r['steps']} steps, {r['episodes']} episodes, {r['scene_switches']} scene switches, "
                                 f"{r['tails_traced']} tails traced, {r['tails_read']} read from disk, "
                                 f"{r['rir_pairs_computed']} RIR pairs; {detail}")))
    return rows


__all__ = ["bench_env", "bench_training", "random_policy_fresh", "random_policy_run", "random_policy_vec"]

"""earshot benchmark harness: prints a table and writes JSON.

Every figure is reported next to a reference measured in the same run on the same core(s), so
numbers stay comparable across noisy or different machines:

- render frames/s per backend, next to the raw Embree ray throughput for the same ray bundle
  (raycast) or the bare clear + read-back cost of the same framebuffer (gl);
- apartment generation and NavGraph build times, next to a fixed numpy reference workload.

By default the process is pinned to one core (``--cores 1``), as the targets are stated per core.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

# Pin math libraries to one thread before numpy loads (the targets are per core).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _config import parse_config  # noqa: E402

from earshot.scenes import NavGraph, generate_apartment, split_seeds  # noqa: E402
from earshot.scenes.render import make_renderer  # noqa: E402


@dataclass
class BenchmarkConfig:
    only: str = "all"  # comma-separated sections: scenes,render,acoustics,env,training,agents,datasets,echo,waypoint
    training_steps: int = 20_000  # steps of the random-policy training run (section "training")
    training_scenes: int = 50  # train-split scenes it cycles over
    training_workers: int = 2  # SubprocVecEnv workers of the vectorized run (0 skips it); uses that many cores
    agent_steps: int = 3_000  # env steps of each PPO training run (section "agents")
    dataset_samples: int = 4_000  # samples of each dataset generation run (section "datasets")
    raytrace: bool = True  # include the fast-tail vs ray-traced comparison (~1 min; --no-raytrace skips it)
    cores: int = 1  # pin to this many cores (0 = leave the affinity alone)
    apartments: int = 5  # held-out apartments to average over
    frames: int = 300  # frames per backend and resolution
    out: str = "outputs/benchmark.json"


def _timeit(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def numpy_reference_ms() -> float:
    """A fixed CPU workload (float64 matmuls and an FFT) in ms: the yardstick for CPU-bound figures."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((192, 192))
    x = rng.standard_normal(1 << 16)

    def work():
        b = a
        for _ in range(10):
            b = (a @ b) * 1e-2
        np.fft.rfft(x)

    return _timeit(work, 15) * 1e3


def bench_scenes(cfg: BenchmarkConfig) -> list[dict]:
    seeds = list(split_seeds("test"))[: cfg.apartments]
    ref = numpy_reference_ms()
    gen, nav, ready, nodes = [], [], [], []
    for seed in seeds:
        t0 = time.perf_counter()
        scene = generate_apartment(seed)
        t1 = time.perf_counter()
        graph = NavGraph.build(scene)
        t2 = time.perf_counter()
        gen.append(t1 - t0)
        nav.append(t2 - t1)
        ready.append(t2 - t0)
        nodes.append(len(graph))
    rows = []
    for name, values in (("apartment generation", gen), ("NavGraph build", nav), ("apartment + NavGraph ready", ready)):
        ms = float(np.mean(values) * 1e3)
        rows.append(dict(section="scenes", name=name, value=ms, unit="ms", reference="numpy reference workload",
                         reference_value=ref, reference_unit="ms", ratio=ms / ref,
                         detail=f"mean over {len(seeds)} test apartments ({np.mean(nodes):.0f} nodes), max {max(values) * 1e3:.0f} ms"))
    return rows


def _poses(graph: NavGraph, n: int, rng) -> list[tuple[np.ndarray, float]]:
    nodes = rng.integers(len(graph), size=n)
    headings = rng.uniform(-np.pi, np.pi, size=n)
    return [(graph.positions[k], float(h)) for k, h in zip(nodes, headings)]


def bench_render(cfg: BenchmarkConfig) -> list[dict]:
    from earshot.scenes.render.gl import egl_available

    seeds = list(split_seeds("test"))[: cfg.apartments]
    scenes = [generate_apartment(s) for s in seeds]
    graphs = [NavGraph.build(s) for s in scenes]
    backends = ["raycast"] + (["gl"] if egl_available()[0] else [])
    rows = []
    for res in (128, 256):
        for backend in backends:
            fps, ref_fps = [], []
            for scene, graph in zip(scenes, graphs):
                renderer = make_renderer(backend, scene, width=res, height=res)
                poses = _poses(graph, cfg.frames, np.random.default_rng(0))
                renderer.render(*poses[0])  # warm-up (GL context, buffers)
                t = time.perf_counter()
                for pose in poses:
                    renderer.render(*pose)
                fps.append(len(poses) / (time.perf_counter() - t))
                ref_fps.append(_reference_fps(backend, renderer, scene, poses))
                renderer.close()
            value, ref = float(np.mean(fps)), float(np.mean(ref_fps))
            reference = ("raw Embree rays (same bundle, no shading)" if backend == "raycast"
                         else "bare clear + read-back of the same framebuffer")
            rows.append(dict(section="render", name=f"{backend} RGB-D {res}x{res}", value=value, unit="frames/s",
                             reference=reference, reference_value=ref, reference_unit="frames/s", ratio=value / ref,
                             detail=f"mean over {len(scenes)} test apartments, {cfg.frames} poses each"))
    if "gl" not in backends:
        rows.append(dict(section="render", name="gl RGB-D", value=None, unit="frames/s", reference="",
                         reference_value=None, reference_unit="", ratio=None, detail=f"EGL unavailable: {egl_available()[1]}"))
    return rows


def _reference_fps(backend: str, renderer, scene, poses) -> float:
    n = min(len(poses), 100)
    if backend == "raycast":
        dirs = renderer.camera.ray_directions
        caster = scene.ray_caster
        origins = [np.broadcast_to(renderer.camera.eye(p).astype(np.float32), dirs.shape) for p, _ in poses[:n]]
        rotated = [dirs @ renderer.camera.rotation(h).astype(np.float32).T for _, h in poses[:n]]
        t = time.perf_counter()
        for o, d in zip(origins, rotated):
            caster.intersect(o, d)
        return n / (time.perf_counter() - t)
    ctx, _, _, fbo, _ = renderer._gl
    w, h = renderer.camera.width, renderer.camera.height
    t = time.perf_counter()
    for _ in range(n):
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        np.frombuffer(fbo.read(components=3, attachment=0), np.uint8).reshape(h, w, 3)
        np.frombuffer(fbo.read(components=1, attachment=1, dtype="f4"), np.float32).reshape(h, w)
    return n / (time.perf_counter() - t)


def bench_acoustics(cfg: BenchmarkConfig) -> list[dict]:
    import tempfile

    from earshot.acoustics import AudioConfig, RIRCache, compute_rir, compute_rirs, hear, make_sound, spectrogram
    from earshot.acoustics.geometry import _models

    ref = numpy_reference_ms()
    audio = AudioConfig()
    seeds = list(split_seeds("test"))[: cfg.apartments]
    all_nodes, per_pair, single, first_bin, new_heading, counts = [], [], [], [], [], []
    for seed in seeds:
        scene = generate_apartment(seed, n_rooms=4)
        graph = NavGraph.build(scene)
        points = graph.positions + [0, 0, audio.ear_height]
        src = graph.positions[len(graph) // 2] + [0, 0, audio.source_height]
        # warm the scene's caches (room boxes, face tables) with another source: the source's
        # own ray tracing is part of what is timed
        compute_rirs(scene, graph.positions[0] + [0, 0, audio.source_height], points[:2], audio)
        t = time.perf_counter()
        rirs = compute_rirs(scene, src, points, audio)
        all_nodes.append(time.perf_counter() - t)
        per_pair.append(all_nodes[-1] / len(points))
        counts.append(len(points))
        single.append(_timeit(lambda: compute_rir(scene, src, points[0], audio), 5))
        sample = rirs[:: max(1, len(rirs) // 20)]
        t = time.perf_counter()
        for r in sample:
            r.binaural(0.0)
        first_bin.append((time.perf_counter() - t) / len(sample))
        headings = np.random.default_rng(0).uniform(-np.pi, np.pi, 50)
        t = time.perf_counter()
        for r in sample:
            for h in headings:
                r.binaural(float(h))
        new_heading.append((time.perf_counter() - t) / (len(sample) * len(headings)))
    rows = [
        dict(name="one source -> every node (4 rooms)", value=float(np.mean(all_nodes) * 1e3), unit="ms",
             detail=f"mean over {len(seeds)} test apartments, {np.mean(counts):.0f} nodes, ray-traced tail included; "
                    f"target <= 300 ms; max {max(all_nodes) * 1e3:.0f} ms"),
        dict(name="cold RIR, amortized per pair", value=float(np.mean(per_pair) * 1e3), unit="ms", detail="compute_rirs one-to-many"),
        dict(name="cold RIR, single pair", value=float(np.mean(single) * 1e3), unit="ms", detail="compute_rir"),
        dict(name="first binaural render (tail synthesis)", value=float(np.mean(first_bin) * 1e3), unit="ms",
             detail="once per RIR; target <= 5 ms"),
        dict(name="binaural render, new heading", value=float(np.mean(new_heading) * 1e3), unit="ms", detail="target <= 1 ms"),
    ]
    # the on-disk cache against recomputing, as a fresh process meets it (nothing in memory)
    scene = generate_apartment(seeds[0])
    graph = NavGraph.build(scene)
    points = graph.positions + [0, 0, audio.ear_height]
    src = graph.positions[len(graph) // 3] + [0, 0, audio.source_height]
    visited = points[:: max(1, len(points) // 12)][:12]  # the receivers of a short episode
    with tempfile.TemporaryDirectory() as root:
        RIRCache(root).get_many(scene, src, points, config=audio)  # written when collected
        compute_rirs(scene, graph.positions[0] + [0, 0, audio.source_height], points[:2], audio)  # warm the scene, not this source
        _models.get(scene, {}).pop("energy_fields", None)  # the cache filled this source's ray tracing: forget it
        t = time.perf_counter()
        compute_rirs(scene, src, points, audio)
        cold_all = time.perf_counter() - t
        t = time.perf_counter()
        for p in visited:
            compute_rirs(scene, src, p[None], audio, check_free_space=False)
        cold_pairs = (time.perf_counter() - t) / len(visited)
        reads_all, reads_pairs = [], []
        for _ in range(5):
            t = time.perf_counter()
            RIRCache(root, memory_mb=0).get_many(scene, src, points, config=audio)
            reads_all.append(time.perf_counter() - t)
            fresh = RIRCache(root)
            t = time.perf_counter()
            for p in visited:
                fresh.get(scene, src, p, config=audio)
            reads_pairs.append((time.perf_counter() - t) / len(visited))
        warm_all, warm_pairs = float(np.median(reads_all)), float(np.median(reads_pairs))
        size = RIRCache(root).disk_usage()
        rows.append(dict(name="RIR cache, one source's file (all nodes) vs computing them", value=warm_all * 1e3, unit="ms",
                         detail=f"{len(points)} receivers, {size / 1e3:.0f} kB file, np.load + SHA-256; computing: {cold_all * 1e3:.0f} ms "
                                f"({cold_all / warm_all:.0f}x slower)"))
        rows.append(dict(name="RIR cache, per RIR of an episode (fresh process) vs computing it", value=warm_pairs * 1e3, unit="ms",
                         detail=f"{len(visited)} receivers of one source, first read loads the file; computing per pair: "
                                f"{cold_pairs * 1e3:.1f} ms ({cold_pairs / warm_pairs:.1f}x slower)"))
        mem = RIRCache(root)
        mem.get_many(scene, src, visited, config=audio)
        t = time.perf_counter()
        for p in visited:
            mem.get(scene, src, p, config=audio)
        rows.append(dict(name="RIR cache lookup, in memory", value=(time.perf_counter() - t) / len(visited) * 1e3, unit="ms",
                         detail="key + dict lookup"))
    # per-step audio: 1 s of a source through a binaural RIR, then the spectrogram
    rir = compute_rir(scene, points[0], points[10], audio).binaural(0.0)
    sound = make_sound("telephone", audio.sample_rate, seconds=6.0)
    for backend in ("numpy", "torch"):
        try:
            hear(sound, rir, audio.step_samples, audio.step_samples, backend=backend)
        except ImportError:
            continue
        conv = _timeit(lambda: hear(sound, rir, audio.step_samples, audio.step_samples, backend=backend), 20)
        heard = hear(sound, rir, audio.step_samples, audio.step_samples, backend=backend)
        spec = _timeit(lambda: spectrogram(heard, audio, backend=backend), 20)
        rows.append(dict(name=f"convolution 1 s binaural ({backend})", value=conv * 1e3, unit="ms", detail="FFT, RIR 1 s, nothing cached"))
        rows.append(dict(name=f"spectrogram 1 s binaural ({backend})", value=spec * 1e3, unit="ms", detail="65x26x2"))
    from earshot.acoustics.features import StepConvolver

    conv = StepConvolver(audio.step_samples, audio.rir_samples)
    step = _timeit(lambda: conv.hear("telephone", sound, "rir", rir, audio.step_samples), 50)
    rows.append(dict(name="step convolution, cached FFTs (env path)", value=step * 1e3, unit="ms",
                     detail="segment and RIR spectra reused; one product + inverse FFT"))
    for r in rows:
        r.update(section="acoustics", reference="numpy reference workload", reference_value=ref, reference_unit="ms",
                 ratio=r["value"] / ref)
    if cfg.raytrace:
        rows.append(_bench_tail_vs_raytraced(list(split_seeds("test"))[:4], ref))
    return rows


def _bench_tail_vs_raytraced(seeds, ref) -> dict:
    from earshot.acoustics import tail_vs_raytraced

    t0 = time.perf_counter()
    ratios = []
    for seed in seeds:
        scene = generate_apartment(seed)
        graph = NavGraph.build(scene)
        ratios.append(tail_vs_raytraced(scene, graph.positions[len(graph) // 3] + [0, 0, 1.5],
                                        graph.positions[[3, len(graph) // 2]] + [0, 0, 1.5]))
    ratios = np.concatenate(ratios)
    return dict(section="acoustics", name="fast-tail T30 / ray-traced T60", value=float(ratios.mean()), unit="ratio",
                reference="ray-traced hybrid (same run)", reference_value=(time.perf_counter() - t0) * 1e3,
                reference_unit="ms", ratio=None,
                detail=f"{len(ratios)} receivers x 6 bands, min {ratios.min():.2f}, max {ratios.max():.2f}; target within 0.8-1.2")


def bench_env(cfg: BenchmarkConfig) -> list[dict]:
    """AudioGoal steps/s at 128², one process: cold (first visit of every state), and warm (the
    same episodes again: RIRs, binaural renders and FFTs cached), next to the raw kernels
    (render + convolution + spectrogram) timed on the same steps."""
    import gymnasium as gym

    import earshot.av_env as av_env  # noqa: F401  (registers the ids)
    from earshot.acoustics import spectrogram

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
        from earshot.scenes.lru import LRU

        kept, u._spectrograms = u._spectrograms, LRU(0)
        warm = run()
        u._spectrograms = kept
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
    return rows




def random_policy_run(steps: int, scenes: int, renderer: str = "auto", seed: int = 0, **env_kwargs) -> dict:
    """What an RL run meets: AudioGoal, a uniformly random 4-action policy (STOP included, so
    episodes last ~4 steps), ``scenes`` train scenes, nothing precomputed, every reset counted.
    Returns steps/s including construction and without it, and reset latencies (ms) within a
    scene and on a scene switch."""
    import gymnasium as gym

    import earshot.av_env  # noqa: F401

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
    from soak import rss_mb as resident_mb  # scripts/ is on sys.path

    rss_mb = resident_mb()  # resident memory at the end of the run
    out = {"steps": done_steps, "seconds": run, "construction_s": built, "steps_per_s": done_steps / run,
           "steps_per_s_with_construction": done_steps / (run + built), "episodes": len(resets_same) + len(resets_switch),
           "reset_ms_same_p50": float(np.percentile(resets_same, 50)) if resets_same else None,
           "reset_ms_same_p95": float(np.percentile(resets_same, 95)) if resets_same else None,
           "reset_ms_switch_p50": float(np.percentile(resets_switch, 50)) if resets_switch else None,
           "reset_ms_switch_p95": float(np.percentile(resets_switch, 95)) if resets_switch else None,
           "scene_switches": len(resets_switch), "rss_mb_end": rss_mb, "rir_pairs_computed": u.sim.rir_computations,
           "renderer": u._contexts[scene].renderer.backend if u._contexts[scene].renderer else None}
    env.close()
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

    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if before is not None:
        os.sched_setaffinity(0, set(sorted(_ALL_CORES or before)[:workers]))
    try:
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
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
    # SubprocVecEnv steps all workers in lockstep: each step lasts as long as the slowest
    # worker's, so a worker is busy only part of the time when step costs vary (cold RIRs,
    # first visits to scenes, resets)
    return {"steps": done, "seconds": run, "steps_per_s": done / run, "workers": workers,
            "busy_fraction": [b / run for b in busy]}


def bench_training(cfg: BenchmarkConfig) -> list[dict]:
    """The random-policy training run (one process, as pinned), the reference being the warm
    kernels of the env section's kind: this run pays for every reset, scene and RIR."""
    r = random_policy_run(cfg.training_steps, cfg.training_scenes)
    detail = (f"{r['steps']} steps, {r['episodes']} episodes over {cfg.training_scenes} train scenes, "
              f"{r['renderer']}; resets p50/p95 {r['reset_ms_same_p50']:.1f}/{r['reset_ms_same_p95']:.1f} ms in a scene, "
              f"{r['reset_ms_switch_p50'] or 0:.1f}/{r['reset_ms_switch_p95'] or 0:.1f} ms on {r['scene_switches']} scene switches; "
              f"{r['rir_pairs_computed']} RIR pairs computed; construction {r['construction_s']:.2f} s "
              f"({r['steps_per_s_with_construction']:.0f} steps/s counting it); RSS at the end {r['rss_mb_end'] or 0:.0f} MB; "
              "target >= 200 steps/s")
    rows = [dict(section="training", name="AudioGoal random policy, 50 scenes", value=r["steps_per_s"], unit="steps/s",
                 reference="34 steps/s before episode iteration and lazy RIRs", reference_value=34.0,
                 reference_unit="steps/s", ratio=r["steps_per_s"] / 34.0, detail=detail, raw=r)]
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


def _train_rate(agent: str, n_envs: int, steps: int) -> dict:
    """``scripts/train.py`` for ``steps`` (primitive) env steps on AudioGoal (20 train scenes, 64²
    depth + spectrogram, default hyper-parameters) on ``n_envs`` cores; its rate and time split."""
    import tempfile

    import train as train_script  # scripts/ is on sys.path

    from _config import parse_config

    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if before is not None:
        os.sched_setaffinity(0, set(sorted(_ALL_CORES or before)[:n_envs]))
    try:
        with tempfile.TemporaryDirectory() as run:
            config = parse_config(train_script.TrainConfig, "", [
                "--task", "earshot/AudioGoal-v0", "--agent", agent, "--n-envs", str(n_envs),
                "--total-steps", str(steps), "--scenes", "20", "--eval-every", "0",
                "--checkpoint-every", str(10 * steps), "--run-dir", run, "--no-progress",
                "--env-kwargs", '{"resolution": 64, "sensors": ["depth", "spectrogram"]}'])
            return train_script.main(config)
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)


def bench_agents(cfg: BenchmarkConfig) -> list[dict]:
    """PPO training throughput on AudioGoal (AV-Nav extractor, 64² depth + spectrogram, train
    scenes) with 1 and 2 env workers, and the share of wall time spent collecting rollouts (env
    steps and policy forward passes) rather than in PPO updates. Uses as many cores as workers."""
    rows = []
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    for agent in ("ppo", "recurrent-ppo"):
        for n_envs in (1, 2):
            r = _train_rate(agent, n_envs, cfg.agent_steps)
            rows.append(dict(section="agents", name=f"{agent} training, {n_envs} env worker{'s' if n_envs > 1 else ''}",
                             value=r["steps_per_s"], unit="steps/s", reference="(none: see the detail)",
                             reference_value=None, reference_unit="steps/s", ratio=None,
                             detail=(f"{r['steps']} steps on AudioGoal, 20 train scenes, 64² depth + spectrogram, AV-Nav "
                                     f"hyper-parameters; {r['rollout_share']:.0%} of the time collecting rollouts, "
                                     f"{1 - r['rollout_share']:.0%} in PPO updates"), raw=r | {"checkpoint": None}))
    # the shipped recipe's warm start (DAgger from the oracle), in one process on one core
    import gymnasium as gym

    import earshot.av_env  # noqa: F401
    from earshot.agents.imitation import imitate
    from earshot.agents.ppo import make_model
    from stable_baselines3.common.vec_env import DummyVecEnv

    kw = {"resolution": 64, "sensors": ["depth", "spectrogram"]}
    if before is not None:
        os.sched_setaffinity(0, set(sorted(_ALL_CORES or before)[:1]))
    try:
        venv = DummyVecEnv([lambda: gym.make("earshot/AudioGoal-v0", scenes=2, **kw)])
        model = make_model("ppo", venv, {"n_steps": 64, "batch_size": 64}, {"hidden": 128})
        env = gym.make("earshot/AudioGoal-v0", split="train", scenes=20, **kw)
        t = time.perf_counter()
        out = imitate(model, env, cfg.agent_steps, rounds=2, progress=False)
        seconds = time.perf_counter() - t
        env.close()
        venv.close()
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
    rows.append(dict(section="agents", name="imitation warm start (DAgger from the oracle), 1 process",
                     value=out["steps"] / seconds, unit="steps/s", reference="(none: see the detail)", reference_value=None,
                     reference_unit="steps/s", ratio=None,
                     detail=(f"{out['steps']} steps on AudioGoal, 20 train scenes, 64² depth + spectrogram, 2 rounds; "
                             f"{out['collect_seconds'] / seconds:.0%} of the time stepping the env (policy and oracle "
                             f"acting), {out['fit_seconds'] / seconds:.0%} fitting the policy"),
                     raw={k: v for k, v in out.items() if k != "rounds"}))
    return rows


SOUNDSPACES2_SECONDS_PER_LISTENER = 0.5  # SoundSpaces 2.0's engine, one binaural listener (the datasets issue)


def _generate_cli(args: list[str], cores: int) -> dict:
    """Run scripts/generate_dataset.py pinned to ``cores`` cores; its counts and times."""
    import re
    import subprocess

    cpus = sorted(_ALL_CORES or (os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count())))
    pin = (lambda: os.sched_setaffinity(0, set(cpus[:cores]))) if hasattr(os, "sched_setaffinity") else None
    t = time.perf_counter()
    out = subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "generate_dataset.py"), *args, "--quiet"],
                         capture_output=True, text=True, preexec_fn=pin)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"generate_dataset.py {' '.join(args)} failed: {out.stderr.strip()[-2000:]}")
    made, seconds = re.search(r"made (\d+) in ([\d.]+) s", out.stdout).groups()
    size = re.search(r"\(([\d.]+) (GB|MB)\)", out.stdout).groups()
    return {"samples": int(made), "seconds": float(seconds), "wall_s": wall, "samples_per_s": int(made) / float(seconds),
            "samples_per_s_wall": int(made) / wall, "size_mb": float(size[0]) * (1000 if size[1] == "GB" else 1),
            "stdout": out.stdout.strip()}


def bench_datasets(cfg: BenchmarkConfig) -> list[dict]:
    """Binaural dataset generation (scripts/generate_dataset.py, test split, default fields:
    RIR + audio + spectrogram), each run a fresh process: cold (no RIR cache), with a cold and
    then a warm RIR cache, and with 2 workers on 2 cores. Reference: SoundSpaces 2.0's engine at
    ~0.5 s per binaural listener."""
    import tempfile

    n = cfg.dataset_samples
    base = ["--split", "test", "--samples", str(n), "--seed", "0"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cold = _generate_cli(base + ["--out", f"{tmp}/cold"], 1)
        reading = _read_speed(f"{tmp}/cold")
        shutil_rm(f"{tmp}/cold")
        filling = _generate_cli(base + ["--out", f"{tmp}/fill", "--rir-cache", f"{tmp}/rirs"], 1)
        shutil_rm(f"{tmp}/fill")
        warm = _generate_cli(base + ["--out", f"{tmp}/warm", "--rir-cache", f"{tmp}/rirs"], 1)
        shutil_rm(f"{tmp}/warm")
        uniform = _generate_cli(base + ["--out", f"{tmp}/uniform", "--headings", "uniform"], 1)
        shutil_rm(f"{tmp}/uniform")
        two = _generate_cli(base + ["--out", f"{tmp}/two", "--workers", "2"], 2) if len(_ALL_CORES or [0, 1]) >= 2 else None
    ss = 1.0 / SOUNDSPACES2_SECONDS_PER_LISTENER
    per = f"{n} samples of the test split, {cold['size_mb'] / n * 1000:.0f} kB each"
    for name, r, extra in (("dataset samples, cold, 1 core", cold, "no RIR cache: every RIR computed (tracing included)"),
                           ("same, filling an RIR cache", filling, "RIRs computed and written to an empty cache"),
                           ("same, warm RIR cache", warm, "RIRs read from the cache the run above filled"),
                           ("same, uniform headings, cold", uniform, "any heading (the tail rendered per heading)")):
        rows.append(dict(section="datasets", name=name, value=r["samples_per_s"], unit="samples/s",
                         reference="SoundSpaces 2.0, ~0.5 s per listener", reference_value=ss, reference_unit="samples/s",
                         ratio=r["samples_per_s"] / ss,
                         detail=(f"{per}; {extra}; {r['seconds']:.1f} s generating, {r['wall_s']:.1f} s for the whole "
                                 f"command ({r['samples_per_s_wall']:.0f} samples/s counting start-up); target >= 200/s per core"),
                         raw=r))
    rows.append(dict(section="datasets", name="reading it, random access", value=reading["random_per_s"], unit="samples/s",
                     reference="streaming the shards in order", reference_value=reading["stream_per_s"],
                     reference_unit="samples/s", ratio=reading["random_per_s"] / reading["stream_per_s"],
                     detail=(f"BinauralDataset, every field, one process, the files in the page cache "
                             f"({reading['random_mb_per_s']:.0f} MB/s at random); BinauralShards in order"), raw=reading))
    if two is not None:
        ceiling = machine_scaling(2)
        rows.append(dict(section="datasets", name="same, 2 workers on 2 cores", value=two["samples_per_s"], unit="samples/s",
                         reference="1 worker, cold (above)", reference_value=cold["samples_per_s"], reference_unit="samples/s",
                         ratio=two["samples_per_s"] / cold["samples_per_s"],
                         detail=(f"{two['samples_per_s'] / 2:.0f} samples/s per core; {two['seconds']:.1f} s generating "
                                 f"(worker start-up included), {two['wall_s']:.1f} s for the whole command; the numpy "
                                 f"reference workload gains {ceiling:.2f}x from 2 processes on this machine"),
                         raw=two | {"machine_scaling_2": ceiling}))
    return rows


def _read_speed(folder: str, n: int = 1000) -> dict:
    from earshot.datasets import BinauralDataset, BinauralShards

    data = BinauralDataset(folder)
    order = np.random.default_rng(0).permutation(len(data))[: min(n, len(data))]
    t = time.perf_counter()
    nbytes = sum(sum(v.nbytes for k, v in data[int(i)].items() if k != "__key__") for i in order)
    random_s = time.perf_counter() - t
    t = time.perf_counter()
    streamed = sum(1 for _ in BinauralShards(folder))
    stream_s = time.perf_counter() - t
    return {"random_per_s": len(order) / random_s, "random_mb_per_s": nbytes / 1e6 / random_s,
            "stream_per_s": streamed / stream_s}


def _reference_loops(seconds: float) -> int:
    """How many times the numpy reference workload runs in ``seconds`` (one process, one thread)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((192, 192))
    x = rng.standard_normal(1 << 16)
    end, count = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        b = a
        for _ in range(10):
            b = (a @ b) * 1e-2
        np.fft.rfft(x)
        count += 1
    return count


def machine_scaling(processes: int = 2, seconds: float = 4.0) -> float:
    """Throughput of the numpy reference workload in ``processes`` processes at once over one
    process alone: the most any CPU-bound job can gain from that many workers on this machine."""
    import multiprocessing as mp

    single = _reference_loops(seconds)
    with mp.get_context("spawn").Pool(processes) as pool:
        together = sum(pool.map(_reference_loops, [seconds] * processes))
    return together / single


def bench_echo(cfg: BenchmarkConfig) -> list[dict]:
    """Echo-depth data on one core: EchoDepth-v0 steps/s under a random policy (each new pose
    computes its echo RIR: no cache) and echo dataset samples/s (scripts/generate_dataset.py
    --kind echo, 32 px rgb + depth, fresh process)."""
    import tempfile

    import gymnasium as gym

    import earshot.av_env  # noqa: F401

    env = gym.make("earshot/EchoDepth-v0", split="test", scenes=5, resolution=128, max_steps=100)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    steps, t = 0, time.perf_counter()
    while steps < 600:
        _, _, terminated, truncated, _ = env.step(int(rng.integers(1, 4)))
        steps += 1
        if terminated or truncated:
            env.reset()
    env_rate = steps / (time.perf_counter() - t)
    env.close()
    with tempfile.TemporaryDirectory() as tmp:
        r = _generate_cli(["--kind", "echo", "--split", "test", "--samples", "2000", "--shard-size", "100",
                           "--resolution", "32", "--renderer", "raycast", "--out", f"{tmp}/echo"], 1)
    return [dict(section="echo", name="EchoDepth-v0 random policy, 1 core", value=env_rate, unit="steps/s",
                 reference="(none: see the detail)", reference_value=None, reference_unit="steps/s", ratio=None,
                 detail="128² rgb + depth (auto renderer) + the 257x166x2 echo spectrogram, 5 test scenes, every new "
                        "pose's echo RIR computed (44.1 kHz, 0.1 s)", raw={"steps": steps, "steps_per_s": env_rate}),
            dict(section="echo", name="echo dataset samples, 1 core", value=r["samples_per_s"], unit="samples/s",
                 reference="(none: see the detail)", reference_value=None, reference_unit="samples/s", ratio=None,
                 detail=(f"2000 samples (echo waveform + 32² rgb + depth, raycast), {r['seconds']:.1f} s generating, "
                         f"{r['wall_s']:.1f} s for the whole command"), raw=r)]


def bench_waypoint(cfg: BenchmarkConfig) -> list[dict]:
    """The waypoint agent's own cost per primitive step (map update from depth, planning, masks,
    map crops), on one core, with the shortest-path waypoint oracle choosing: the wrapper's time
    besides the inner env's steps (and besides the oracle). Target <= 2 ms."""
    import gymnasium as gym

    import earshot.av_env  # noqa: F401
    from earshot.agents.waypoint import WaypointEnv

    env = WaypointEnv(gym.make("earshot/PointGoal-v0", split="test", scenes=5, resolution=64,
                               sensors=["depth", "pointgoal_with_gps_compass"]))
    inner_step, spent = env.env.step, [0.0, 0.0]

    def timed(action):
        t = time.perf_counter()
        out = inner_step(action)
        spent[0] += time.perf_counter() - t
        return out

    env.env.step = timed
    primitives, total = 0, 0.0
    for ep in range(45):
        if ep == 5:  # the first episodes warm up imports and scenes
            primitives, total, spent[:] = 0, 0.0, [0.0, 0.0]
        env.reset(options={"episode_index": ep})
        t0 = time.perf_counter()
        while True:
            t = time.perf_counter()
            action = env.oracle_action()
            spent[1] += time.perf_counter() - t
            _, _, terminated, truncated, info = env.step(action)
            primitives += info["primitive_steps"]
            if terminated or truncated:
                break
        total += time.perf_counter() - t0
    env.close()
    wrapper_ms = (total - spent[0] - spent[1]) / primitives * 1e3
    inner_ms = spent[0] / primitives * 1e3
    # training: MaskablePPO over waypoints against flat PPO, in primitive steps/s, one worker on one core
    flat = _train_rate("ppo", 1, cfg.agent_steps)
    wayp = _train_rate("waypoint", 1, cfg.agent_steps)
    train_row = dict(section="waypoint", name="waypoint agent training (MaskablePPO), 1 env worker", value=wayp["steps_per_s"],
                     unit="primitive steps/s", reference="flat PPO training, same settings", reference_value=flat["steps_per_s"],
                     reference_unit="steps/s", ratio=wayp["steps_per_s"] / flat["steps_per_s"],
                     detail=(f"{wayp['steps']} primitive steps on AudioGoal, 20 train scenes, 64² depth + spectrogram, "
                             f"default hyper-parameters (150 decisions per rollout); {wayp['rollout_share']:.0%} of the "
                             f"time collecting rollouts (flat: {flat['rollout_share']:.0%}); target ratio >= 0.5"),
                     raw={"waypoint": wayp | {"checkpoint": None}, "flat": flat | {"checkpoint": None}})
    return [train_row, dict(section="waypoint", name="waypoint maps + planning per primitive step", value=wrapper_ms, unit="ms",
                 reference="the inner env's own step (PointGoal, 64² GL depth)", reference_value=inner_ms,
                 reference_unit="ms", ratio=wrapper_ms / inner_ms,
                 detail=(f"{primitives} primitive steps of 40 test episodes, oracle waypoints; the oracle itself "
                         f"{spent[1] / primitives * 1e3:.2f} ms per primitive step; target <= 2 ms"),
                 raw={"primitive_steps": primitives, "wrapper_ms": wrapper_ms, "inner_ms": inner_ms})]


def shutil_rm(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


SECTIONS = {"scenes": bench_scenes, "render": bench_render, "acoustics": bench_acoustics, "env": bench_env,
            "training": bench_training, "agents": bench_agents, "datasets": bench_datasets,
            "echo": bench_echo, "waypoint": bench_waypoint}


def _fmt(v, unit=""):
    if v is None:
        return "n/a"
    return f"{v:,.1f} {unit}".strip() if abs(v) >= 10 else f"{v:.3f} {unit}".strip()


_ALL_CORES: set[int] = set()  # the cores this process could use before main() pinned it


def main(cfg: BenchmarkConfig) -> dict:
    if cfg.cores > 0 and hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        _ALL_CORES.update(available)
        os.sched_setaffinity(0, set(available[: cfg.cores]))
    sections = list(SECTIONS) if cfg.only == "all" else [s.strip() for s in cfg.only.split(",")]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown benchmark sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    rows = []
    for section in sections:
        rows.extend(SECTIONS[section](cfg))
    report = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus_used": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                    "processor": platform.processor()},
        "config": cfg.__dict__,
        "results": rows,
    }
    print(f"{'benchmark':<34} {'value':>18} {'reference':>18} {'ratio':>8}  reference is")
    for r in rows:
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}"
        print(f"{r['name']:<34} {_fmt(r['value'], r['unit']):>18} {_fmt(r['reference_value'], r['reference_unit']):>18} "
              f"{ratio:>8}  {r['reference']}; {r['detail']}")
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out.resolve()}")
    return report


if __name__ == "__main__":
    main(parse_config(BenchmarkConfig, __doc__))

"""Agent training throughput on the DD-PPO trainer: feed-forward and recurrent (GRU) PPO with
1 and 2 ranks (torchrun's launcher, one core per rank), the DAgger warm start with 1 and 2 ranks
labelling in parallel, and the waypoint agent (its maps and planning per primitive step, and its
masked training's primitive steps/s against flat PPO's), with the share of time collecting."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time

from .common import machine_scaling, pinned

ENV_KWARGS = '{"resolution": 64, "sensors": ["depth", "spectrogram"]}'


def _train_rate(agent: str, ranks: int, steps: int, imitation: int = 0) -> dict:
    """``scripts/train.py``'s trainer for ``steps`` (primitive) PPO env steps on AudioGoal (20
    train scenes per rank, so that every rank has the same work as one rank alone; 64² depth +
    spectrogram, 2 envs per rank, default hyper-parameters) on ``ranks`` ranks, one core each
    (``python -m torch.distributed.run`` for more than one); ``imitation``: DAgger steps first.
    Nothing precomputed and no traced tails on disk (``EARSHOT_CACHE=off``), so that every run
    starts equally cold. Its rates, per rank and in all, and the time split."""
    args = ["-m", "earshot.agents.ddppo", "--task", "earshot/AudioGoal-v0", "--agent", agent,
            "--scenes", str(20 * ranks),
            "--total-steps", str(steps), "--eval-every", "0", "--checkpoint-every", str(10 * max(steps, 1)),
            "--no-progress", "--log-every", "100000", "--device", "cpu", "--env-kwargs", ENV_KWARGS,
            *(["--imitation-steps", str(imitation), "--imitation-rounds", "2"] if imitation else [])]
    with pinned(ranks), tempfile.TemporaryDirectory() as run:
        launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks)]
                    if ranks > 1 else [sys.executable])
        t = time.perf_counter()
        out = subprocess.run([*launcher, *args, "--run-dir", run], capture_output=True, text=True, timeout=3600,
                             env={**os.environ, "OMP_NUM_THREADS": "1", "EARSHOT_CACHE": "off"})
        wall = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"training with {ranks} rank(s) failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    text = out.stdout
    row: dict = {"ranks": ranks, "wall_s": wall}
    final = re.search(r"trained: .*? steps: steps/s (.*?); all (\d+)", text)
    if final:
        per = re.findall(r"rank (\d+): (\d+) \((\d+)% collecting\)", final.group(1))
        row.update(steps=steps, steps_per_s=float(final.group(2)), rank_steps_per_s=[float(v) for _, v, _ in per],
                   collect_share=sum(float(c) for _, _, c in per) / len(per) / 100)
    dagger = re.search(r"imitation: ([\d,]+) steps .*? ([\d.]+) steps/s", text)
    if dagger:
        row.update(imitation_steps=int(dagger.group(1).replace(",", "")), imitation_steps_per_s=float(dagger.group(2)))
    return row


def _row(name: str, r: dict, one: dict | None, unit: str, detail: str, key: str = "steps_per_s") -> dict:
    ratio = r[key] / one[key] if one else None
    return dict(section="agents", name=name, value=r[key], unit=unit,
                reference="the same with 1 rank" if one else "(none: see the detail)",
                reference_value=one[key] if one else None, reference_unit=unit, ratio=ratio, detail=detail, raw=r)


def bench_agents(cfg) -> list[dict]:
    """DD-PPO training throughput on AudioGoal (AV-Nav extractor, 64² depth + spectrogram, train
    scenes) with 1 and 2 ranks on as many cores, feed-forward and GRU, with each rank's share of
    wall time spent collecting rollouts (env steps and policy forward passes) rather than in PPO
    updates; the DAgger warm start with 1 and 2 ranks. The target is >= 0.8 x N with N ranks;
    the machine's own scaling of a CPU-bound numpy job over 2 processes is reported beside it."""
    with pinned(2):
        scaling = machine_scaling(2)
    rows = []
    for agent in ("ppo", "recurrent-ppo"):
        one = None
        for ranks in (1, 2):
            r = _train_rate(agent, ranks, cfg.agent_steps * ranks)
            name = f"{agent} training (DD-PPO), {ranks} rank{'s' if ranks > 1 else ''}"
            detail = (f"{r['steps']} steps on AudioGoal, 20 train scenes per rank, 2 envs per rank, 64² depth + spectrogram, "
                      f"AV-Nav hyper-parameters; {r['collect_share']:.0%} of the time collecting rollouts; per rank "
                      + ", ".join(f"{v:.0f}" for v in r["rank_steps_per_s"]) + " steps/s"
                      + (f"; target ratio >= 1.6 (this machine's numpy scaling over 2 processes: {scaling:.2f})"
                         if one else ""))
            rows.append(_row(name, r, one, "steps/s", detail))
            one = one or r
    one = None
    for ranks in (1, 2):
        r = _train_rate("ppo", ranks, 0, imitation=cfg.agent_steps * ranks)
        rows.append(_row(f"imitation warm start (DAgger from the oracle), {ranks} rank{'s' if ranks > 1 else ''}", r,
                         one, "steps/s", f"{r['imitation_steps']} steps on AudioGoal, 20 train scenes per rank, 2 rounds, "
                                         "ranks labelling their own scenes in parallel", key="imitation_steps_per_s"))
        one = one or r
    return rows


def bench_waypoint(cfg) -> list[dict]:
    """The waypoint agent's own cost per primitive step (map update from depth, planning, masks,
    map crops), on one core, with the shortest-path waypoint oracle choosing: the wrapper's time
    besides the inner env's steps (and besides the oracle). Target <= 2 ms."""
    import gymnasium as gym

    from ... import av_env  # noqa: F401  (registers the ids)
    from ..waypoint import WaypointEnv

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
    # training: masked PPO over waypoints against flat PPO, in primitive steps/s, one rank on one core
    flat = _train_rate("ppo", 1, cfg.agent_steps)
    wayp = _train_rate("waypoint", 1, cfg.agent_steps)
    train_row = dict(section="waypoint", name="waypoint agent training (masked PPO), 1 rank", value=wayp["steps_per_s"],
                     unit="primitive steps/s", reference="flat PPO training, same settings", reference_value=flat["steps_per_s"],
                     reference_unit="steps/s", ratio=wayp["steps_per_s"] / flat["steps_per_s"],
                     detail=(f"{wayp['steps']} primitive steps on AudioGoal, 20 train scenes, 64² depth + spectrogram, "
                             f"default hyper-parameters (150 decisions per rollout); {wayp['collect_share']:.0%} of the "
                             f"time collecting rollouts (flat: {flat['collect_share']:.0%}); target ratio >= 0.5"),
                     raw={"waypoint": wayp, "flat": flat})
    return [train_row, dict(section="waypoint", name="waypoint maps + planning per primitive step", value=wrapper_ms, unit="ms",
                 reference="the inner env's own step (PointGoal, 64² GL depth)", reference_value=inner_ms,
                 reference_unit="ms", ratio=wrapper_ms / inner_ms,
                 detail=(f"{primitives} primitive steps of 40 test episodes, oracle waypoints; the oracle itself "
                         f"{spent[1] / primitives * 1e3:.2f} ms per primitive step; target <= 2 ms"),
                 raw={"primitive_steps": primitives, "wrapper_ms": wrapper_ms, "inner_ms": inner_ms})]


__all__ = ["bench_agents", "bench_waypoint"]

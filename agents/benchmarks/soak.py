"""The soak test: random actions in every task and both motion modes over many procedural scenes
(train, val and test splits), counting steps, episodes and exceptions, and watching memory.

Each scene gets a fresh environment (so construction and close are soaked too) running one
(task, motion) pair in turn; an exception is recorded with its traceback and the run goes on
with the next scene. Writes ``summary.json`` (and prints it) under ``--out``.

``scripts/soak.py`` is its CLI:

    python scripts/soak.py --steps 200000 --scenes 500 --workers 2
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from ...cli import option, save_config
from ...files import write_text_atomic
from ...jobs import progress_bar, run_tasks

TASK_IDS = ("earshot/PointGoal-v0", "earshot/AudioGoal-v0", "earshot/AudioPointGoal-v0",
            "earshot/SemanticAudioGoal-v0", "earshot/MovingSource-v0")
MOTIONS = ("grid", "continuous")


@dataclass
class SoakConfig:
    steps: int = option(200_000, "environment steps in all", low=1)
    scenes: int = option(500, "distinct procedural scenes (taken from train, val and test in turn)", low=1, high=10_200)
    workers: int = option(2, "processes", low=1, high=64)
    seed: int = option(0, "seed of the random actions", low=0)
    resolution: int = option(32, "image width and height in pixels", low=8, high=512)
    renderer: str = option("raycast", "renderer backend", choices=("auto", "raycast", "gl"))
    out: str = option("outputs/soak", "output folder", nonempty=True)
    one_env: bool = option(False, "instead: one AudioGoal env (grid) cycling over all the train scenes, as a "
                                  "training run's env does, its resident memory sampled every 1,000 steps "
                                  "(rss.csv): what the caches' budget (EARSHOT_MEMORY_MB) bounds")


def scene_plan(n_scenes: int) -> list[tuple[str, int]]:
    """(split, seed) for ``n_scenes`` scenes, taken from train, val and test in turn (val and test
    run out after 100 each; the rest are train)."""
    from ...scenes import split_seeds

    lists = {name: list(split_seeds(name)) for name in ("train", "val", "test")}
    plan, k = [], 0
    while len(plan) < n_scenes:  # round robin over the splits while each lasts
        for name in ("train", "val", "test"):
            if k < len(lists[name]) and len(plan) < n_scenes:
                plan.append((name, lists[name][k]))
        k += 1
    return plan


def rss_mb() -> float:
    """Resident set size of this process now, MB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def soak_scene(index: int, split: str, seed: int, steps: int, action_seed: int, resolution: int = 32,
               renderer: str = "raycast") -> dict:
    """``steps`` random actions in one scene with the (task, motion) pair picked by ``index``.
    Half the scenes use uniform actions (STOP a quarter of the time: short episodes, many resets),
    half rarely stop (long episodes). Never raises: exceptions are returned in the record."""
    import gymnasium as gym
    import numpy as np

    from ... import av_env  # noqa: F401  (registers the ids)

    task = TASK_IDS[index % len(TASK_IDS)]
    motion = MOTIONS[(index // len(TASK_IDS)) % len(MOTIONS)]
    p_stop = 0.25 if (index // (len(TASK_IDS) * len(MOTIONS))) % 2 == 0 else 0.03
    record = {"index": index, "split": split, "seed": seed, "task": task, "motion": motion, "steps": 0, "episodes": 0,
              "successes": 0, "error": None}
    rng = np.random.default_rng([action_seed, index])
    env = None
    try:
        env = gym.make(task, split=split, scenes=[seed], motion=motion, resolution=resolution, renderer=renderer,
                       episodes_per_scene=5)
        space = env.observation_space
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        while record["steps"] < steps:
            action = 0 if rng.random() < p_stop else int(rng.integers(1, 4))
            obs, reward, terminated, truncated, info = env.step(action)
            record["steps"] += 1
            if not np.isfinite(reward):
                raise RuntimeError(f"non-finite reward {reward}")
            if record["steps"] % 50 == 1 and not space.contains(obs):
                raise RuntimeError("observation outside the observation space")
            if terminated or truncated:
                record["episodes"] += 1
                record["successes"] += int(info["success"])
                for key in ("spl", "softspl", "sna"):
                    if not 0.0 <= info[key] <= 1.0:
                        raise RuntimeError(f"{key} = {info[key]} outside [0, 1]")
                obs, _ = env.reset()
    except Exception as exc:  # the soak reports every failure and goes on
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
    finally:
        if env is not None:
            env.close()
    record["rss_mb"] = rss_mb()
    return record


def soak_one_env(cfg: SoakConfig) -> int:
    """``cfg.steps`` uniformly random actions (STOP included) of one AudioGoal env over
    ``cfg.scenes`` train scenes, resets counted; writes ``rss.csv`` (steps, seconds, resident MB,
    scenes met) and ``summary.json`` (with the caches' nominal budget) under ``cfg.out``."""
    import gymnasium as gym
    import numpy as np

    from ... import av_env  # noqa: F401  (registers the ids)
    from ...scenes.lru import BUDGETS

    out = Path(cfg.out)
    save_config(cfg, out)
    env = gym.make("earshot/AudioGoal-v0", split="train", scenes=cfg.scenes, resolution=cfg.resolution,
                   renderer=cfg.renderer)
    rng = np.random.default_rng(cfg.seed)
    rows, errors, episodes, met = [], 0, 0, set()
    start = time.perf_counter()
    env.reset(seed=cfg.seed)
    met.add(env.unwrapped.episode.scene)
    rows.append((0, 0.0, round(rss_mb(), 1), len(met)))
    try:
        with progress_bar(cfg.steps, unit="step", desc="soak (one env)") as bar:
            for step in range(1, cfg.steps + 1):
                _, reward, terminated, truncated, _ = env.step(int(rng.integers(4)))
                if not np.isfinite(reward):
                    errors += 1
                if terminated or truncated:
                    episodes += 1
                    env.reset()
                    met.add(env.unwrapped.episode.scene)
                if step % 1000 == 0:
                    rows.append((step, round(time.perf_counter() - start, 1), round(rss_mb(), 1), len(met)))
                    bar.update(1000)
    finally:
        env.close()
    rss = [r[2] for r in rows]
    summary = {"steps": rows[-1][0], "episodes": episodes, "scenes_met": len(met), "non_finite_rewards": errors,
               "seconds": round(time.perf_counter() - start, 1), "caches_nominal_mb": round(BUDGETS.nominal_mb(), 1),
               "rss_mb_start": rss[0], "rss_mb_peak": max(rss), "rss_mb_end": rss[-1],
               "rss_mb_above_start_peak": round(max(rss) - rss[0], 1)}
    write_text_atomic(out / "rss.csv", "steps,seconds,rss_mb,scenes_met\n" + "".join(",".join(map(str, r)) + "\n"
                                                                                  for r in rows))
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 1 if errors else 0


def run_soak(cfg: SoakConfig) -> int:
    """Soak as configured; writes ``summary.json`` and ``scenes.jsonl`` under ``cfg.out``; 1 on
    any exception or an interruption, else 0."""
    if cfg.one_env:
        return soak_one_env(cfg)
    out = Path(cfg.out)
    save_config(cfg, out)
    plan = scene_plan(cfg.scenes)
    per_scene = -(-cfg.steps // len(plan))
    jobs = [(i, split, seed, per_scene, cfg.seed, cfg.resolution, cfg.renderer) for i, (split, seed) in enumerate(plan)]
    records = []
    start = time.perf_counter()
    interrupted = False
    def finished(rec: dict) -> None:
        records.append(rec)
        bar.update(rec["steps"])

    try:
        with progress_bar(per_scene * len(plan), unit="step", desc="soak") as bar:
            run_tasks(soak_scene, jobs, finished, workers=cfg.workers)
    except KeyboardInterrupt:
        interrupted = True
    seconds = time.perf_counter() - start
    errors = [r for r in records if r["error"]]
    rss = [r["rss_mb"] for r in sorted(records, key=lambda r: r["index"])]
    summary = {
        "scenes": len(records), "steps": sum(r["steps"] for r in records),
        "episodes": sum(r["episodes"] for r in records), "successes": sum(r["successes"] for r in records),
        "exceptions": len(errors), "seconds": round(seconds, 1),
        "steps_per_second": round(sum(r["steps"] for r in records) / max(seconds, 1e-9), 1),
        "workers": cfg.workers, "rss_mb_first_tenth": round(float(sum(rss[: max(1, len(rss) // 10)]) / max(1, len(rss[: max(1, len(rss) // 10)]))), 1) if rss else None,
        "rss_mb_last_tenth": round(float(sum(rss[-max(1, len(rss) // 10):]) / max(1, len(rss[-max(1, len(rss) // 10):]))), 1) if rss else None,
        "rss_mb_peak_sampled": round(max(rss), 1) if rss else None,
        "by_task_motion": {}, "interrupted": interrupted, "errors": errors[:20],
    }
    for r in records:
        key = f"{r['task']} {r['motion']}"
        entry = summary["by_task_motion"].setdefault(key, {"scenes": 0, "steps": 0, "episodes": 0, "exceptions": 0})
        entry["scenes"] += 1
        entry["steps"] += r["steps"]
        entry["episodes"] += r["episodes"]
        entry["exceptions"] += int(bool(r["error"]))
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_text_atomic(out / "scenes.jsonl", "".join(json.dumps({k: v for k, v in r.items() if k != "traceback"}) + "\n"
                                                    for r in sorted(records, key=lambda r: r["index"])))
    print(json.dumps({k: v for k, v in summary.items() if k not in ("errors", "by_task_motion")}, indent=2))
    for e in errors[:5]:
        print(f"scene {e['split']}:{e['seed']} {e['task']} {e['motion']}: {e['error']}", file=sys.stderr)
    return 1 if errors or interrupted else 0


__all__ = ["MOTIONS", "TASK_IDS", "SoakConfig", "rss_mb", "run_soak", "scene_plan", "soak_one_env", "soak_scene"]

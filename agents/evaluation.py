"""Evaluation on fixed held-out episodes: the same episodes for every agent and baseline,
per-episode metrics and a summary with 95% confidence intervals (SoundSpaces' metrics)."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np

METRICS = ("success", "spl", "softspl", "sna", "distance_to_goal")
BASELINES = ("random", "forward", "oracle")


def eval_env(task: str, split: str, episodes: int, env_kwargs: dict | None = None, *, sounds: str = "heard",
             episodes_per_scene: int = 1, waypoint: bool = False):
    """The env whose fixed episodes every agent is evaluated on: ``episodes`` episodes over
    ceil(episodes / episodes_per_scene) scenes of ``split`` (at most the split's), each scene
    generating at least one episode per distance bin, so that ``episode_order`` can spread the
    bins. ``env_kwargs`` are the training env's (its ``sounds`` replaced by ``sounds``);
    ``waypoint`` wraps it for the waypoint agent (``earshot.agents.waypoint.WaypointEnv``: the same
    episodes, primitive steps counted in every metric)."""
    import gymnasium as gym

    import earshot.av_env  # noqa: F401  (registers the ids in this process)
    from earshot.av_env.episodes import DISTANCE_BINS
    from earshot.scenes import split_seeds

    kwargs = {k: v for k, v in (env_kwargs or {}).items() if k != "sounds"}
    n_scenes = min(len(split_seeds(split)), -(-episodes // episodes_per_scene))
    per_scene = max(len(DISTANCE_BINS), -(-episodes // n_scenes))
    env = gym.make(task, split=split, scenes=n_scenes, episodes_per_scene=per_scene, sounds=sounds, **kwargs)
    if waypoint:
        from .waypoint import WaypointEnv

        env = WaypointEnv(env)
    return env


def episode_order(env, episodes: int) -> list[int]:
    """Indices of ``episodes`` episodes of ``env``'s fixed list, taken round robin over its scenes
    (one episode of each scene, then a second, ...): the same list for every agent. Scene k
    contributes its episodes from the k-th on, so consecutive scenes give episodes of
    consecutive geodesic-distance bins (the generator cycles through 1–3, 3–6, 6–10 and > 10 m)
    rather than every scene its easiest one."""
    u = env.unwrapped
    eps = u.episodes
    if hasattr(eps, "scene_refs"):
        groups = [list(eps.indices_of_scene(k)) for k in range(len(eps.scene_refs))]
    else:
        by_scene: dict = {}
        for i, e in enumerate(eps):
            by_scene.setdefault(e.scene, []).append(i)
        groups = list(by_scene.values())
    order = []
    depth = 0
    while len(order) < episodes and any(depth < len(g) for g in groups):
        order += [g[(k + depth) % len(g)] for k, g in enumerate(groups) if depth < len(g)]
        depth += 1
    if len(order) < episodes:
        raise ValueError(f"the env has {len(order)} episodes, fewer than the {episodes} asked for; "
                         "raise episodes_per_scene or scenes")
    return order[:episodes]


def baseline_actor(name: str, env, seed: int = 0):
    """``act(obs) -> action`` of a named baseline: ``random`` (uniform over the 4 actions, STOP
    included), ``forward`` (always forward: the agent never stops), ``oracle`` (shortest path,
    then STOP)."""
    from earshot.scenes import Action

    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; baselines are: {', '.join(BASELINES)}")
    u = env.unwrapped
    rng = np.random.default_rng(seed)

    def act(_obs):
        if name == "random":
            return int(rng.integers(env.action_space.n))
        if name == "forward":
            return int(Action.MOVE_FORWARD)
        return int(u.oracle_action())

    act.reset = lambda: None
    return act


def run_episodes(env, actor, indices: list[int], *, videos: int = 0, video_dir: Path | None = None,
                 progress: bool = False) -> list[dict]:
    """Run ``actor`` on the env's episodes ``indices``; a dict of metrics per episode. The first
    ``videos`` episodes are recorded as MP4 (with audio) under ``video_dir``."""
    from earshot.av_env.visualize import record_episode

    rows = []
    iterator = indices
    if progress:
        from tqdm import tqdm

        iterator = tqdm(indices, desc="episodes", unit="ep")
    for n, index in enumerate(iterator):
        actor.reset()
        if n < videos and video_dir is not None:
            # record_episode resets and steps itself; the actor reads the env's latest observation
            # (the waypoint wrapper's own, with its maps)
            info = record_episode(env, lambda e: actor(e.last_observation if hasattr(e, "action_masks")
                                                       else e.unwrapped.last_observation),
                                  Path(video_dir) / f"episode_{index:05d}.mp4", options={"episode_index": index})
        else:
            obs, _ = env.reset(options={"episode_index": index})
            while True:
                obs, _, terminated, truncated, info = env.step(actor(obs))
                if terminated or truncated:
                    break
        rows.append({"episode": index, "scene": env.unwrapped.episode.scene,
                     "geodesic_distance": round(float(env.unwrapped.episode.geodesic_distance), 3),
                     **{k: float(info[k]) for k in METRICS}, "num_steps": int(info["num_steps"])})
    return rows


def summarize(rows: list[dict]) -> dict:
    """Per metric: mean and the half-width of a normal 95% confidence interval (1.96 s / √n)."""
    out = {"episodes": len(rows)}
    for k in METRICS:
        v = np.array([r[k] for r in rows], np.float64)
        ci = 1.96 * float(v.std(ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
        out[k] = {"mean": float(v.mean()), "ci95": ci}
    return out


def write_results(out: Path, rows: list[dict], summary: dict) -> None:
    """``episodes.csv`` and ``summary.json`` in ``out``, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".episodes.csv.{os.getpid()}.tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out / "episodes.csv")
    tmp = out / f".summary.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True))
    os.replace(tmp, out / "summary.json")


def format_table(results: dict[str, dict]) -> str:
    """A table a person can read: one row per agent, mean ± 95% CI per metric."""
    width = max(len("agent"), *(len(n) for n in results)) + 2
    head = f"{'agent':<{width}}" + "".join(f"{k:>18}" for k in METRICS)
    lines = [head, "-" * len(head)]
    for name, s in results.items():
        cells = "".join(f"{s[k]['mean']:>10.3f} ± {s[k]['ci95']:<5.3f}" for k in METRICS)
        lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)

"""Evaluate a trained agent or a baseline on fixed held-out episodes.

    python scripts/evaluate.py --checkpoint runs/audiogoal/checkpoints/latest --task earshot/AudioGoal-v0 --split test --episodes 50 --out outputs/eval
    python scripts/evaluate.py --baseline oracle --task earshot/AudioGoal-v0 --split test --episodes 50 --out outputs/eval_oracle

Writes ``OUT/episodes.csv`` (one row per episode) and ``OUT/summary.json`` (``success``,
``spl``, ``softspl``, ``sna``, ``distance_to_goal``, each with ``mean`` and ``ci95``), records
the first ``--videos`` episodes as MP4 with a top-down map and binaural audio, and prints a table.
The episodes are the first of each test scene, round robin over the scenes: every agent and
baseline meets the same ones. ``--compare`` adds the random and oracle baselines to the table.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _config import option, run_script  # noqa: E402

from train import TASKS  # noqa: E402


@dataclass
class EvalConfig:
    checkpoint: str = option("", "checkpoint folder written by train.py, or a shipped agent's name (audiogoal); "
                                 "or use --baseline")
    baseline: str = option("", "a baseline instead of a checkpoint", choices=("", "random", "forward", "oracle"))
    task: str = option("earshot/AudioGoal-v0", "Gymnasium id of the task", choices=TASKS)
    split: str = option("test", "split of the episodes (test: held-out scenes)", choices=("train", "val", "test"))
    episodes: int = option(50, "episodes to run", low=1)
    episodes_per_scene: int = option(1, "episodes per scene (more scenes first: one episode each)", low=1)
    sounds: str = option("heard", "sounds of the episodes: heard (training sounds) or unheard (held out)",
                         choices=("heard", "unheard"))
    out: str = option("outputs/eval", "output folder", nonempty=True)
    videos: int = option(0, "record this many episodes as MP4", low=0)
    deterministic: bool = False  # argmax actions instead of sampling
    temperature: float = option(1.0, "sampled actions of a feed-forward policy: softmax(logits / T); 1 = the policy's "
                                     "own distribution", low=0.01, high=100.0)
    compare: bool = False  # also run the random and oracle baselines on the same episodes
    seed: int = option(0, "seed of sampled actions and of the random baseline", low=0)
    device: str = option("cpu", "torch device for the policy", choices=("cpu", "cuda", "auto"))
    progress: bool = True  # a progress bar per agent

    def check(self) -> None:
        if bool(self.checkpoint) == bool(self.baseline):
            raise ValueError("give exactly one of --checkpoint PATH or --baseline random|forward|oracle")


def run(config: EvalConfig, name: str, actor_for, env_kwargs: dict, out: Path, videos: int, waypoint: bool = False) -> dict:
    from earshot.agents.evaluation import episode_order, eval_env, run_episodes, summarize, write_results

    env = eval_env(config.task, config.split, config.episodes, env_kwargs, sounds=config.sounds,
                   episodes_per_scene=config.episodes_per_scene, waypoint=waypoint)
    try:
        actor = actor_for(env)
        rows = run_episodes(env, actor, episode_order(env, config.episodes), videos=videos, video_dir=out / "videos",
                            progress=config.progress)
    finally:
        env.close()
    summary = {**summarize(rows), "agent": name, "task": config.task, "split": config.split, "sounds": config.sounds,
               "deterministic": config.deterministic, "temperature": config.temperature}
    write_results(out, rows, summary)
    return summary


def main(config: EvalConfig) -> dict:
    from earshot.agents.evaluation import baseline_actor, format_table

    out = Path(config.out)
    results = {}
    if config.checkpoint:
        import torch

        from earshot.agents.ppo import PolicyActor, load_policy, read_meta

        torch.set_num_threads(1)
        torch.manual_seed(config.seed)
        meta = read_meta(config.checkpoint)
        if meta["task"] != config.task:
            raise ValueError(f"the checkpoint was trained on {meta['task']}, not {config.task}; pass --task {meta['task']}")
        env_kwargs = meta.get("env_kwargs", {})
        device = "cuda" if config.device == "auto" and torch.cuda.is_available() else (
            "cpu" if config.device == "auto" else config.device)

        waypoint = meta["agent"] == "waypoint"  # a waypoint checkpoint is recognised by itself

        def actor_for(env):
            policy, _ = load_policy(config.checkpoint, env.observation_space, env.action_space, device=device)
            return PolicyActor(policy, deterministic=config.deterministic, temperature=config.temperature,
                               masks=env.action_masks if waypoint else None)

        ppo_steps = meta.get("primitive_steps", meta["num_timesteps"])  # the waypoint agent's in primitive actions
        steps = f"{ppo_steps:,} steps"
        if meta.get("imitation"):
            steps = f"{meta['imitation']['steps']:,} imitation + {ppo_steps:,} PPO steps"
        mode = "argmax" if config.deterministic else ("sampled" if config.temperature == 1.0 else f"sampled, T={config.temperature:g}")
        name = f"{meta['agent']} @ {steps} ({mode})"
        results[name] = run(config, name, actor_for, env_kwargs, out, config.videos, waypoint)
    else:
        env_kwargs = {}
        results[config.baseline] = run(config, config.baseline, lambda env: baseline_actor(config.baseline, env, config.seed),
                                       env_kwargs, out, config.videos)
    if config.compare:
        for b in ("random", "oracle"):
            if b != config.baseline:
                results[b] = run(config, b, lambda env, b=b: baseline_actor(b, env, config.seed), env_kwargs,
                                 out / "baselines" / b, 0)
    print(f"\n{config.task}, {config.split} split, {config.sounds} sounds, {config.episodes} episodes "
          "(mean ± 95% CI):")
    print(format_table(results))
    print(f"\nwrote {out / 'episodes.csv'} and {out / 'summary.json'}"
          + (f", videos in {out / 'videos'}" if config.videos else ""))
    return results


if __name__ == "__main__":
    run_script(main, EvalConfig, __doc__.split("\n\n")[0])

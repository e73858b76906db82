"""The val evaluation of a policy during training (rank 0 of ``earshot.agents.ddppo.trainer``,
after the warm start and every ``eval_every`` steps) and its record in ``RUN/eval.csv``."""

from __future__ import annotations

from pathlib import Path

from .evaluation import episode_order, eval_env, run_episodes, summarize


def evaluate_on(config, policy, split: str = "val") -> dict:
    """SR/SPL/... of ``policy`` (an ``ActorCritic``, sampled actions) on the first
    ``config.eval_episodes`` fixed episodes of ``split``; ``config`` is the run's ``TrainConfig``."""
    n = config.eval_episodes
    env = eval_env(config.task, split, n, config.kwargs, agent=config.agent)
    was_training = policy.training
    policy.eval()
    try:
        rows = run_episodes(env, config.kind.actor(policy, env, deterministic=False), episode_order(env, n),
                            agent=config.agent)
    finally:
        env.close()
        policy.train(was_training)
    return summarize(rows)


def record_eval(run: Path, step: int, summary: dict) -> None:
    """Append one evaluation's means to ``run/eval.csv`` (the header first)."""
    line = {"step": step, **{k: summary[k]["mean"] for k in ("success", "spl", "softspl", "sna")}}
    with open(Path(run) / "eval.csv", "a") as f:
        if f.tell() == 0:
            f.write(",".join(line) + "\n")
        f.write(",".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in line.values()) + "\n")


__all__ = ["evaluate_on", "record_eval"]

"""What happens during training besides PPO: checkpoints, val evaluations and a progress bar,
by primitive env steps (``PeriodicCallback``, an SB3 callback), and the val evaluation itself."""

from __future__ import annotations

import json
import time
from pathlib import Path

from stable_baselines3.common.callbacks import BaseCallback

from .. import jobs
from .evaluation import METRICS, episode_order, eval_env, run_episodes, summarize
from .ppo import primitive_steps, save_checkpoint


def evaluate_on(config, policy, split: str = "val") -> dict:
    """SR/SPL/... of ``policy`` (sampled actions) on the first ``config.eval_episodes`` fixed
    episodes of ``split``; ``config`` is the run's ``TrainConfig``."""
    n = config.eval_episodes
    # made here, in the main process, where (with SubprocVecEnv) no train env registered the ids
    env = eval_env(config.task, split, n, json.loads(config.env_kwargs), agent=config.agent)
    was_training = policy.training
    try:
        rows = run_episodes(env, config.kind.actor(policy, env, deterministic=False), episode_order(env, n),
                            agent=config.agent)
    finally:
        env.close()
        policy.set_training_mode(was_training)
    return summarize(rows)


def record_eval(run: Path, step: int, summary: dict) -> None:
    """Append one evaluation's means to ``run/eval.csv`` (the header first)."""
    line = {"step": step, **{k: summary[k]["mean"] for k in ("success", "spl", "softspl", "sna")}}
    with open(run / "eval.csv", "a") as f:
        if f.tell() == 0:
            f.write(",".join(line) + "\n")
        f.write(",".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in line.values()) + "\n")


class PeriodicCallback(BaseCallback):
    """Checkpoints, val evaluations, a progress bar and the end of training, by primitive env
    steps (``AgentKind.primitive_steps``: a macro action counts the primitive steps it took).

    ``spent`` is set once the primitive budget was spent in the rollout just trained on: SB3
    counts decisions, so an agent of macro actions stops there (SB3 has taken one more decision
    per worker by the first ``on_step``; it is neither trained on nor counted)."""

    def __init__(self, config, run: Path, meta: dict):
        super().__init__()
        self.config, self.run, self.meta, self.kind = config, run, meta, config.kind
        self.bar = None

    def _on_rollout_start(self) -> None:
        self._rollout_t = time.perf_counter()
        self.spent = self.model.primitive_steps >= self.config.total_steps

    def _on_rollout_end(self) -> None:
        self.rollout_seconds += time.perf_counter() - self._rollout_t
        if self.kind.macro_actions:  # SB3's own x axis is decisions
            self.logger.record("time/primitive_steps", self.model.primitive_steps)

    def _on_training_start(self) -> None:
        config = self.config
        self.rollout_seconds, self.started, self.spent = 0.0, time.perf_counter(), False
        self.model.primitive_steps = primitive_steps(self.model)
        done = self.model.primitive_steps
        self.next_ckpt = (done // config.checkpoint_every + 1) * config.checkpoint_every
        self.next_eval = (done // config.eval_every + 1) * config.eval_every if config.eval_every else None
        if config.progress:
            self.bar = jobs.progress_bar(config.total_steps, initial=done, unit="step", dynamic_ncols=True,
                                         desc="train", mininterval=2.0)

    def _on_step(self) -> bool:
        if self.spent:
            return False
        self.model.primitive_steps += self.kind.primitive_steps(self.locals["infos"])
        done = self.model.primitive_steps
        if self.bar is not None:
            self.bar.update(min(done, self.config.total_steps) - self.bar.n)
        if done >= self.next_ckpt:
            self.save()
            self.next_ckpt += self.config.checkpoint_every
        if self.next_eval is not None and done >= self.next_eval:
            self.evaluate()
            self.next_eval += self.config.eval_every
        return True

    def save(self) -> None:
        step_dir = self.run / "checkpoints" / f"step_{self.model.primitive_steps:09d}"
        save_checkpoint(self.model, step_dir, self.meta)
        save_checkpoint(self.model, self.run / "checkpoints" / "latest", self.meta)

    def evaluate(self) -> None:
        summary = evaluate_on(self.config, self.model.policy)
        for k in METRICS:
            self.logger.record(f"eval/{k}", summary[k]["mean"])
        self.logger.dump(self.num_timesteps)
        record_eval(self.run, self.model.primitive_steps, summary)

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()
        total = time.perf_counter() - self.started
        self.time_split = {"seconds": total, "rollouts": self.rollout_seconds / max(total, 1e-9)}


__all__ = ["PeriodicCallback", "evaluate_on", "record_eval"]

"""The DD-PPO trainer's options (``python -m earshot.agents.ddppo --help`` lists them)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ...cli import option


@dataclass
class DDPPOConfig:
    task: str = option("earshot/PointGoal-v0", "Gymnasium id of the task", nonempty=True)
    run_dir: str = option("runs/ddppo", "run folder: checkpoints/ (an existing run is resumed)", nonempty=True)
    total_steps: int = option(100_000, "env steps to train for, over all ranks", low=1)
    n_envs: int = option(1, "envs per rank, stepped in turn in the rank's process", low=1, high=256)
    scenes: int = option(100, "train scenes, sharded over the ranks (and their envs when there are enough)", low=1)
    env_kwargs: str = option("{}", "JSON object of extra env kwargs, e.g. '{\"resolution\": 64}'")
    seed: int = option(0, "seed: rank r seeds its envs and its sampling with seed + r", low=0)
    device: str = option("auto", "torch device: auto (cuda:LOCAL_RANK when CUDA is there, NCCL), cpu (gloo), cuda",
                         choices=("auto", "cpu", "cuda"))
    policy: str = option("gru", "gru (AV-Nav's recurrent state) or ff (feed-forward)", choices=("gru", "ff"))
    hidden: int = option(128, "features per visual/audio encoder (AV-Nav: 512)", low=8)
    gru_hidden: int = option(256, "GRU state size (AV-Nav: 512)", low=8)
    learning_rate: float = option(2.5e-4, "Adam learning rate", low=0.0)
    n_steps: int = option(150, "rollout length per env (AV-Nav: 150; fewer when a straggler is preempted)", low=2)
    n_epochs: int = option(4, "PPO epochs per rollout", low=1)
    minibatches: int = option(1, "minibatches per epoch (gru: at most --n-envs, whole env sequences each)", low=1)
    gamma: float = option(0.99, "discount", low=0.0, high=1.0)
    gae_lambda: float = option(0.95, "GAE lambda", low=0.0, high=1.0)
    clip_range: float = option(0.1, "PPO clip (AV-Nav: 0.1)", low=0.0)
    ent_coef: float = option(0.2, "entropy bonus (AV-Nav: 0.2, as scripts/train.py)", low=0.0)
    vf_coef: float = option(0.5, "value loss weight", low=0.0)
    max_grad_norm: float = option(0.5, "gradient clipping (of the averaged gradient)", low=0.0)
    preempt: bool = option(True, "straggler preemption (off: every rank collects exactly --n-steps)")
    sync_fraction: float = option(0.6, "preemption: stop collecting once this fraction of the ranks has finished",
                                  low=0.0, high=1.0)
    min_rollout_share: float = option(0.25, "preemption: but not before this share of the rank's own --n-steps",
                                      low=0.0, high=1.0)
    checkpoint_every: int = option(10_000, "write a checkpoint every this many env steps (and at the end)", low=1)
    keep_checkpoints: int = option(2, "checkpoints kept (the newest)", low=1)
    log_every: int = option(10, "print rates every this many updates", low=1)
    torch_threads: int = option(1, "torch threads per rank", low=1)

    def check(self) -> None:
        kwargs = self.kwargs
        for reserved in ("split", "scenes", "scene_shard"):
            if reserved in kwargs:
                raise ValueError(f"argument --env-kwargs: {reserved!r} is set by the trainer (use --scenes)")
        if self.policy == "gru" and self.minibatches > self.n_envs:
            raise ValueError(f"argument --minibatches: a gru policy's minibatches are whole env sequences: at most "
                             f"--n-envs ({self.n_envs}), got {self.minibatches}")

    @property
    def kwargs(self) -> dict:
        try:
            kwargs = json.loads(self.env_kwargs)
        except json.JSONDecodeError as exc:
            raise ValueError(f"argument --env-kwargs: not JSON ({exc}): {self.env_kwargs!r}") from None
        if not isinstance(kwargs, dict):
            raise ValueError(f"argument --env-kwargs: must be a JSON object, got {self.env_kwargs!r}")
        return kwargs


__all__ = ["DDPPOConfig"]

"""PPO's anchor (``--anchor-coef``): the frozen policy PPO started from, and the KL term that
keeps the trained policy near it. Plain PPO after a DAgger warm start undid the warm start on
AudioGoal (docs/agents.md, issue 28); ``anchor_coef`` × KL(anchor ‖ policy) at the rollout's
states lets PPO improve on it without forgetting it. The anchor acts beside the policy while
collecting, with its own GRU state, and its log-probabilities are stored in the rollout."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from .. import checkpoints
from .distributed import World, broadcast_module
from .policy import ActorCritic


def load_anchor(policy: ActorCritic, run_dir: Path, init: str, world: World) -> tuple[ActorCritic, Path | str]:
    """(the frozen anchor, where its weights came from): the run's warm start (``imitation/``),
    else ``init``'s weights; read by rank 0 and sent to every rank (also on resuming)."""
    source: Path | str = Path(run_dir) / "checkpoints" / "imitation"
    if not (source / "policy.pt").is_file():
        if not init:
            raise ValueError("--anchor-coef keeps PPO close to the policy it starts from, and this run has none: "
                             "give a warm start (--imitation-steps N) or --init CHECKPOINT, or --anchor-coef 0")
        source = init
    anchor = copy.deepcopy(policy)
    if world.rank == 0:
        checkpoints.load_init_weights(anchor, source, checkpoints.read_meta(source))
    broadcast_module(anchor, world)
    anchor.eval()
    for p in anchor.parameters():
        p.requires_grad_(False)
    return anchor, source


def anchor_kl(anchor_logp: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """Mean KL(anchor || policy) from both log-probabilities ``[..., A]`` (an action the anchor
    never takes, e.g. a masked one, adds nothing)."""
    p = anchor_logp.exp()
    return torch.where(p > 0, p * (anchor_logp - logp), torch.zeros_like(p)).sum(-1).mean()


__all__ = ["anchor_kl", "load_anchor"]

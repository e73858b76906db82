"""The actor: ``act(obs) -> action`` of a trained ``ActorCritic`` in one env, for every agent
kind: a recurrent policy's state carried across the steps of an episode (zeroed by ``reset``),
actions taken under the env's action masks when the kind has them (the waypoint agent's
``WaypointEnv.action_masks``), sampled (optionally tempered) or the argmax."""

from __future__ import annotations

import numpy as np


class PolicyActor:
    """Acts with ``policy`` in one env.

    ``temperature`` (sampled actions): sample from softmax(logits / T); 1 is the policy's own
    distribution, towards 0 its argmax. ``masks() -> (n,) bool``: the actions allowed now (None:
    every action). Samples come from torch's global generator (seeded by the caller)."""

    def __init__(self, policy, deterministic: bool, temperature: float = 1.0, masks=None):
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        self.policy, self.deterministic, self.temperature, self.masks = policy, deterministic, float(temperature), masks
        self.device = next(policy.parameters()).device
        self.reset()

    def reset(self) -> None:
        """Start of an episode: the recurrent state is zeroed before the next step."""
        self.hidden = self.policy.initial_state(1, self.device)
        self.start = True

    def __call__(self, obs: dict) -> int:
        import torch

        batched = {k: torch.as_tensor(np.asarray(v)[None], device=self.device) for k, v in obs.items()}
        masks = None
        if self.masks is not None:
            masks = torch.as_tensor(np.asarray(self.masks(), dtype=bool)[None], device=self.device)
        starts = torch.tensor([self.start], device=self.device)
        action, _, _, self.hidden = self.policy.act(batched, starts, self.hidden, masks,
                                                    deterministic=self.deterministic, temperature=self.temperature)
        self.start = False
        return int(action[0])


__all__ = ["PolicyActor"]

"""Actors: ``act(obs) -> action`` of a trained SB3 policy in one env, one class per way of
acting (an agent kind picks its own through ``AgentKind.actor``)."""

from __future__ import annotations

import numpy as np


class PolicyActor:
    """A feed-forward policy over primitive actions.

    ``temperature`` (sampled actions): sample from softmax(logits / T); 1 is the policy's own
    distribution, towards 0 its argmax."""

    tempered = True  # whether this way of acting can temper its sampling

    def __init__(self, policy, deterministic: bool, temperature: float = 1.0):
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        if temperature != 1.0 and not self.tempered:
            raise ValueError("temperature applies to feed-forward primitive-action policies (--agent ppo)")
        self.policy, self.deterministic, self.temperature = policy, deterministic, float(temperature)
        self.reset()

    def reset(self) -> None:
        """Start of an episode."""

    def __call__(self, obs: dict) -> int:
        batched = {k: np.asarray(v)[None] for k, v in obs.items()}
        return int(np.asarray(self._predict(batched)).reshape(-1)[0])

    def _predict(self, batched: dict):
        if self.temperature != 1.0 and not self.deterministic:
            import torch

            with torch.no_grad():
                obs, _ = self.policy.obs_to_tensor(batched)
                logits = self.policy.get_distribution(obs).distribution.logits / self.temperature
                return torch.distributions.Categorical(logits=logits).sample().cpu().numpy()
        return self.policy.predict(batched, deterministic=self.deterministic)[0]


class RecurrentActor(PolicyActor):
    """A recurrent policy: its LSTM state carried across the steps of an episode."""

    tempered = False

    def reset(self) -> None:
        self.state = None
        self.start = np.ones((1,), bool)

    def _predict(self, batched: dict):
        action, self.state = self.policy.predict(batched, state=self.state, episode_start=self.start,
                                                 deterministic=self.deterministic)
        self.start = np.zeros((1,), bool)
        return action


class MaskedActor(PolicyActor):
    """A policy acting under the env's action masks (``masks() -> (n,) bool``, the waypoint
    agent's ``WaypointEnv.action_masks``)."""

    tempered = False

    def __init__(self, policy, deterministic: bool, temperature: float = 1.0, *, masks):
        self.masks = masks
        super().__init__(policy, deterministic, temperature)

    def _predict(self, batched: dict):
        return self.policy.predict(batched, deterministic=self.deterministic,
                                   action_masks=np.asarray(self.masks())[None])[0]


__all__ = ["MaskedActor", "PolicyActor", "RecurrentActor"]

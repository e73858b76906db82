"""One rank's rollout: ``n_steps`` (or fewer, when preempted) steps of its ``N`` envs, time-major,
with GAE returns and the minibatches of the PPO update.

Step ``t`` holds the observation the policy acted on, whether it was the first of an episode
(``starts``: the GRU's state is zeroed before it), the action, its log-probability, the value,
the reward (a truncated episode's reward already carries ``gamma * V(final observation)``, as
SB3 bootstraps time limits) and whether the episode ended after it (``dones``). Slot ``T`` holds
the observation after the last step, for bootstrapping. ``hidden`` is the GRU state before step
0, so minibatches of whole per-env sequences can be replayed through time (BPTT). With an
anchor (PPO's KL term), ``anchor`` holds the anchor policy's log-probabilities of every action
at each step.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch


class Rollout:
    """Storage of one rollout of ``n_envs`` envs, up to ``n_steps`` steps."""

    def __init__(self, obs_space, n_steps: int, n_envs: int, n_actions: int, hidden: torch.Tensor,
                 masked: bool = False, device="cpu", anchored: bool = False):
        self.n_steps, self.n_envs, self.device = n_steps, n_envs, device
        self.obs = {k: torch.zeros((n_steps + 1, n_envs, *s.shape), dtype=_dtype(s), device=device)
                    for k, s in obs_space.spaces.items()}
        self.starts = torch.zeros(n_steps + 1, n_envs, dtype=torch.bool, device=device)
        self.actions = torch.zeros(n_steps, n_envs, dtype=torch.long, device=device)
        self.log_probs = torch.zeros(n_steps, n_envs, device=device)
        self.values = torch.zeros(n_steps + 1, n_envs, device=device)
        self.rewards = torch.zeros(n_steps, n_envs, device=device)
        self.dones = torch.zeros(n_steps, n_envs, dtype=torch.bool, device=device)
        self.masks = torch.ones(n_steps, n_envs, n_actions, dtype=torch.bool, device=device) if masked else None
        self.anchor = torch.zeros(n_steps, n_envs, n_actions, device=device) if anchored else None
        self.hidden = hidden.detach().clone()  # the GRU state before step 0
        self.steps = 0  # steps stored
        self.returns = self.advantages = None

    def set_obs(self, t: int, obs: dict, starts) -> None:
        """The observation of step ``t`` (``t == steps``: the one after the last step)."""
        for k, v in obs.items():
            self.obs[k][t] = torch.as_tensor(v, device=self.device)
        self.starts[t] = torch.as_tensor(starts, device=self.device)

    def add(self, action, log_prob, value, reward, done, masks=None, anchor=None) -> None:
        """Step ``steps``'s action, log-probability, value, reward and end of episode (and the
        anchor's log-probabilities)."""
        t = self.steps
        self.actions[t], self.log_probs[t], self.values[t] = action, log_prob, value
        self.rewards[t] = torch.as_tensor(reward, dtype=torch.float32, device=self.device)
        self.dones[t] = torch.as_tensor(done, device=self.device)
        if self.masks is not None:
            self.masks[t] = torch.as_tensor(masks, device=self.device)
        if self.anchor is not None:
            self.anchor[t] = anchor
        self.steps += 1

    def obs_at(self, t: int) -> dict:
        return {k: v[t] for k, v in self.obs.items()}

    def compute_returns(self, last_value: torch.Tensor, gamma: float, gae_lambda: float) -> None:
        """GAE(λ) advantages and returns of the ``steps`` stored, bootstrapped with ``last_value``
        (the value of the observation after the last step), by TorchRL's estimator (an episode's
        end stops both the bootstrap and the propagation: a time limit's bootstrap is already
        in its reward)."""
        from torchrl.objectives.value.functional import generalized_advantage_estimate

        t_max = self.steps
        self.values[t_max] = last_value
        ended = self.dones[:t_max, :, None]
        adv, returns = generalized_advantage_estimate(
            gamma, gae_lambda, self.values[:t_max, :, None], self.values[1:t_max + 1, :, None],
            self.rewards[:t_max, :, None], done=ended, terminated=ended, time_dim=0)
        self.advantages, self.returns = adv[..., 0], returns[..., 0]

    def minibatches(self, n: int, recurrent: bool, generator: torch.Generator) -> Iterator[dict]:
        """``n`` minibatches covering the rollout once, each time-major: whole per-env sequences
        from step 0 (``recurrent``: ``n`` must not exceed the envs) or shuffled single steps
        (``[1, B]``), with advantages normalised over the whole rollout."""
        t_max = self.steps
        adv = self.advantages
        adv = (adv - adv.mean()) / (adv.std() + 1e-8) if adv.numel() > 1 else adv - adv.mean()
        fields = {"actions": self.actions[:t_max], "log_probs": self.log_probs[:t_max], "values": self.values[:t_max],
                  "returns": self.returns, "advantages": adv, "starts": self.starts[:t_max]}
        if self.masks is not None:
            fields["masks"] = self.masks[:t_max]
        if self.anchor is not None:
            fields["anchor"] = self.anchor[:t_max]
        obs = {k: v[:t_max] for k, v in self.obs.items()}
        if recurrent:
            if n > self.n_envs:
                raise ValueError(f"a recurrent policy's minibatches are whole env sequences: {n} minibatches need at "
                                 f"least {n} envs per rank, got {self.n_envs}")
            for envs in torch.randperm(self.n_envs, generator=generator).chunk(n):
                envs = envs.to(self.device)
                batch = {k: v[:, envs] for k, v in fields.items()}
                batch["obs"] = {k: v[:, envs] for k, v in obs.items()}
                batch["hidden"] = self.hidden[:, envs]
                yield batch
            return
        flat = {k: v.reshape(1, t_max * self.n_envs, *v.shape[2:]) for k, v in fields.items()}
        flat_obs = {k: v.reshape(1, t_max * self.n_envs, *v.shape[2:]) for k, v in obs.items()}
        for idx in _chunks(torch.randperm(t_max * self.n_envs, generator=generator), n):
            idx = idx.to(self.device)
            batch = {k: v[:, idx] for k, v in flat.items()}
            batch["obs"] = {k: v[:, idx] for k, v in flat_obs.items()}
            batch["hidden"] = self.hidden.new_zeros(1, len(idx), self.hidden.shape[-1])  # feed-forward: unused
            yield batch


def _chunks(perm: torch.Tensor, n: int) -> list[torch.Tensor]:
    """``n`` nearly equal parts of ``perm`` (empty ones when it has fewer than ``n`` items: every
    rank must take part in ``n`` gradient all-reduces, however short its preempted rollout)."""
    return list(perm.tensor_split(n))


def _dtype(space) -> torch.dtype:
    dtype = np.dtype(space.dtype) if space.dtype is not None else np.dtype(np.float32)
    if dtype == np.uint8:
        return torch.uint8
    if np.issubdtype(dtype, np.integer):
        return torch.long
    return torch.float32


__all__ = ["Rollout"]

"""The actor: ``act(obs) -> action`` of a trained ``ActorCritic`` in one env, for every agent
kind: a recurrent policy's state carried across the steps of an episode (zeroed by ``reset``),
actions taken under the env's action masks when the kind has them (the waypoint agent's
``WaypointEnv.action_masks``), sampled (optionally tempered) or the argmax, optionally with an
escape from loops (``loop_escape``) for flat and waypoint agents alike."""

from __future__ import annotations

import numpy as np

from ..scenes import Action


class PolicyActor:
    """Acts with ``policy`` in one env.

    ``temperature`` (sampled actions): sample from softmax(logits / T); 1 is the policy's own
    distribution, towards 0 its argmax. ``masks() -> (n,) bool``: the actions allowed now (None:
    every action). Samples come from torch's global generator (seeded by the caller).

    ``loop_escape`` K > 0 (argmax only; ``pose() -> hashable``, the agent's place and heading, as
    ``AVNavEnv.pose_key``): a deterministic policy that comes back to a pose it has already
    acted in repeats itself, so the argmax can cycle until the step limit. Counting the visits
    of each pose in the episode, the actor takes the argmax on the first K visits, samples from
    the policy on visits K+1 … 2K+1, and from then on takes a uniformly random move (forward,
    left, right; never a forward step already found blocked there). With ``masks`` (the waypoint
    agent: macro-actions, pose = where it decides) the random choice is among the allowed actions
    other than ``stop``, and nothing needs remembering as blocked (the masks do that). STOP
    comes only from the policy (its argmax or a sample of it), never from a random choice. Same
    seed, same actions.

    ``passed() -> list of observations`` (a recurrent waypoint agent: ``WaypointEnv.passed``): the
    states walked through since the last decision, which the GRU steps through before it acts
    (None: it steps on decisions only)."""

    MOVES = (Action.MOVE_FORWARD, Action.TURN_LEFT, Action.TURN_RIGHT)

    def __init__(self, policy, deterministic: bool, temperature: float = 1.0, masks=None,
                 loop_escape: int = 0, pose=None, stop: int = int(Action.STOP)):
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        if not (isinstance(loop_escape, int) and loop_escape >= 0):
            raise ValueError(f"loop_escape must be an integer >= 0 (0: off), got {loop_escape!r}")
        if loop_escape and not deterministic:
            raise ValueError("loop_escape applies to argmax actions: pass deterministic=True (--deterministic), "
                             "or loop_escape=0 with sampled actions")
        if loop_escape and pose is None:
            raise ValueError("loop_escape (--loop-escape) needs the agent's pose: pass pose=env.unwrapped.pose_key "
                             "(AgentKind.actor does)")
        self.policy, self.deterministic, self.temperature, self.masks = policy, deterministic, float(temperature), masks
        self.loop_escape, self.pose, self.stop = loop_escape, pose, int(stop)
        self.passed = None
        self.device = next(policy.parameters()).device
        self.reset()

    def reset(self) -> None:
        """Start of an episode: the recurrent state is zeroed before the next step."""
        self.hidden = self.policy.initial_state(1, self.device)
        self.start = True
        self.visits, self.blocked, self.last = {}, set(), None  # loop_escape's counts, this episode

    def _moves(self, pose, allowed) -> list[int]:
        """The escape's random choices at ``pose``: the allowed actions but STOP (masked agents),
        else forward, left and right, forward only where it has not been found blocked."""
        if allowed is not None:
            moves = [a for a in np.flatnonzero(allowed) if a != self.stop]
            return moves or [self.stop]
        return [m for m in self.MOVES if not (m == Action.MOVE_FORWARD and pose in self.blocked)]

    def _escape(self, log_probs, action: int, allowed=None) -> int:
        """``action`` (the argmax), or the escape's choice at a pose visited more than K times
        (``allowed``: the action masks now, None without)."""
        import torch

        pose = self.pose()
        if allowed is None and self.last == (pose, Action.MOVE_FORWARD):
            self.blocked.add(pose)  # a forward step from here did not move the agent (masked agents: the masks)
        n = self.visits[pose] = self.visits.get(pose, 0) + 1
        k = self.loop_escape
        if n > 2 * k + 1:
            moves = self._moves(pose, allowed)
            action = int(moves[int(torch.randint(len(moves), (1,)))])
        elif n > k:
            action = int(torch.multinomial(log_probs.exp(), 1))
        self.last = (pose, action)
        return action

    def __call__(self, obs: dict) -> int:
        import torch

        from .ddppo.policy import batch_of_one

        if self.passed is not None and not self.start:  # the states walked through since the last decision
            for o in self.passed():
                self.hidden = self.policy.advance(o, self.hidden)
        batched = batch_of_one(obs, self.device)
        masks = allowed = None
        if self.masks is not None:
            allowed = np.asarray(self.masks(), dtype=bool)
            masks = torch.as_tensor(allowed[None], device=self.device)
        starts = torch.tensor([self.start], device=self.device)
        if self.loop_escape:  # the argmax, unless this pose has been visited too often
            log_probs, self.hidden = self.policy.log_policy(batched, starts, self.hidden, masks)
            self.start = False
            return self._escape(log_probs[0], int(log_probs[0].argmax()), allowed)
        action, _, _, self.hidden = self.policy.act(batched, starts, self.hidden, masks,
                                                    deterministic=self.deterministic, temperature=self.temperature)
        self.start = False
        return int(action[0])


__all__ = ["PolicyActor"]

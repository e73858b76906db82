"""Agent kinds: what differs between the agents, in one place, behind one interface.

Training (``agents.training`` on the DD-PPO trainer, ``agents.ddppo``), imitation
(``agents.imitation``), evaluation and videos (``agents.evaluation``) and checkpoints
(``agents.checkpoints``) ask an ``AgentKind`` for

- its **policy**: whether the ``ActorCritic`` carries a GRU state (``recurrent``) and how a STOP
  prior is set (``set_stop_prior``);
- its **env wrapper** (``wrap``: the identity, or ``WaypointEnv``), its action masks
  (``action_masks``) and its checks of the env kwargs and options it is trained with
  (``check_options``);
- its **oracle labels** (``oracle_label``: the env's shortest-path oracle for flat agents, the
  waypoint oracle with its near-ties for the waypoint agent) and the states it passes between
  its decisions (``between_decisions``, ``labelling_between_decisions``);
- its **actor** (``actor``: acting from an observation, under action masks, carrying a
  recurrent state), what it observes (``observation``) and how its episodes are filmed
  (``video_options``);
- how it **counts env steps** (``primitive_steps``: primitive actions, whatever a decision is).

Kinds are registered by name in ``AGENT_KINDS``; a new agent is a new subclass added there, and
nothing that trains or evaluates changes.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, NamedTuple

import numpy as np

from ..scenes import Action


class Label(NamedTuple):
    """An oracle's label of one state: the action, the allowed actions ((n,) bool, None when
    every action is allowed), the oracle's near-ties as a distribution ((n,) float32, None
    when only ``action`` is right) and where the goal is seen from the agent ((2,) float32, the
    env's ``goal_vector``; None where the kind gives none)."""

    action: int
    mask: np.ndarray | None = None
    targets: np.ndarray | None = None
    goal: np.ndarray | None = None


class AgentKind:
    """A feed-forward policy over the env's primitive actions (the base of every kind)."""

    name = "ppo"
    recurrent = False  # the policy carries a GRU state through each episode (AV-Nav)
    skip = False  # its heads read the step's features beside the GRU's output (ActorCritic's skip)
    masked = False  # some actions are not allowed in some states (``action_masks``)
    # an action takes several primitive env steps (the trainer then counts decisions and steps)
    macro_actions = False
    decisions = "decisions"  # what its decisions are called in messages
    stop_action = int(Action.STOP)  # the action that ends an episode

    # ------------------------------------------------------------------ policy
    def set_stop_prior(self, policy, stop_prior: float) -> None:
        """Start ``policy`` with probability ``stop_prior`` of STOP (primitive action 0)."""
        policy.set_stop_prior(stop_prior)

    # ------------------------------------------------------------------ env
    def wrap(self, env):
        """The env this kind acts in, made from a navigation env (here: the env itself)."""
        return env

    def action_masks(self, env):
        """The actions allowed in ``env`` now ((n,) bool), or None: every action (here)."""
        return None

    def check_options(self, env_kwargs: dict, stop_prior: float) -> None:
        """Raise ValueError (naming the command-line option) when the training options do not
        suit this kind."""

    # ------------------------------------------------------------------ oracle and acting
    def oracle_label(self, env, goal: bool = False) -> Label:
        """The oracle's label of ``env``'s state now: the env's shortest-path oracle, and with
        ``goal`` where the goal is (the env's ``goal_vector``, for DAgger's goal-location loss)."""
        oracle = getattr(env.unwrapped, "oracle_action", None)
        if oracle is None:
            raise ValueError(f"the env {env.unwrapped!r} has no shortest-path oracle to imitate")
        if not goal:
            return Label(int(oracle()))
        where = getattr(env.unwrapped, "goal_vector", None)
        if where is None:
            raise ValueError(f"the env {env.unwrapped!r} has no goal_vector to label the goal-location loss with")
        return Label(int(oracle()), goal=where())

    @contextlib.contextmanager
    def between_decisions(self, env, callback: Callable[[], None]) -> Iterator[None]:
        """While inside, ``callback()`` is called after every primitive step the agent takes
        between two of its decisions (never: a flat agent decides every step)."""
        yield

    def labelling_between_decisions(self, env, collect: Callable[[dict, Label], None]):
        """A context in which ``collect(observation, label)`` receives every state the agent
        passes through between its decisions, with the oracle's label there (DAgger labels them)."""
        return self.between_decisions(env, lambda: collect(self.observation(env), self.oracle_label(env)))

    def observation(self, env) -> dict:
        """What the agent observes in ``env`` now (the outermost observation kept: a wrapper's own)."""
        return env.get_wrapper_attr("last_observation")

    def video_options(self, env) -> dict:
        """Keyword arguments of ``earshot.av_env.visualize.record_episode`` for this kind
        (``panels``, ``between_steps``): none here (one frame per env step, the env's panels)."""
        return {}

    def actor(self, policy, env, deterministic: bool, temperature: float = 1.0, loop_escape: int = 0):
        """``act(obs) -> action`` of ``policy`` (an ``ActorCritic``) in ``env``, with ``reset()``
        between episodes (a recurrent state zeroed), under the kind's action masks; ``loop_escape``:
        ``PolicyActor``'s escape from argmax loops (at the pose where the agent decides)."""
        from .actors import PolicyActor

        masks = (lambda: self.action_masks(env)) if self.masked else None
        pose = (lambda: env.unwrapped.pose_key()) if loop_escape else None
        return PolicyActor(policy, deterministic, temperature, masks=masks, loop_escape=loop_escape, pose=pose,
                           stop=self.stop_action)

    def primitive_steps(self, infos) -> int:
        """Primitive env steps taken by one (vectorized) step whose infos are ``infos``."""
        return len(infos)


class FeedForward(AgentKind):
    """The AV-Nav extractor and linear actor and critic heads, acting on primitive actions."""


class Recurrent(AgentKind):
    """AV-Nav's recipe: the extractor, then a GRU whose state is carried through each episode
    (zeroed at its start); trained with whole env sequences (backpropagation through time)."""

    name = "recurrent-ppo"
    recurrent = True


class Waypoint(AgentKind):
    """AV-WaN-style: a policy over a 9 x 9 grid of waypoints on the agent's own map, a planner
    walking there (``earshot.agents.waypoint``); invalid waypoints masked."""

    name = "waypoint"
    masked = True
    macro_actions = True
    decisions = "waypoint decisions"

    @property
    def stop_action(self) -> int:
        from ..av_env.oracles import STOP

        return STOP  # after the 9 x 9 waypoints

    def set_stop_prior(self, policy, stop_prior: float) -> None:
        raise ValueError("stop_prior applies to primitive actions (STOP is action 0); the waypoint agent's STOP is "
                         "its last action")

    def wrap(self, env):
        from .waypoint import WaypointEnv

        return WaypointEnv(env)

    def action_masks(self, env):
        return np.asarray(env.action_masks(), dtype=bool)

    def check_options(self, env_kwargs: dict, stop_prior: float) -> None:
        if stop_prior:
            raise ValueError("argument --stop-prior: applies to primitive actions, not to --agent waypoint")
        if "sensors" in env_kwargs and "depth" not in env_kwargs["sensors"]:
            raise ValueError("argument --env-kwargs: the waypoint agent maps from depth: include 'depth' in sensors")
        if env_kwargs.get("motion", "grid") != "grid":
            raise ValueError("argument --env-kwargs: the waypoint agent needs motion 'grid'")

    def oracle_label(self, env, goal: bool = False) -> Label:
        """The waypoint oracle's choice, the allowed waypoints and the near-ties (``env`` is a
        ``WaypointEnv``; no goal label: the goal-location loss is for flat agents)."""
        mask = np.asarray(env.action_masks())
        action, near_ties = env.oracle_label(allowed=mask)
        return Label(action, mask, near_ties)

    @contextlib.contextmanager
    def between_decisions(self, env, callback: Callable[[], None]) -> Iterator[None]:
        # a waypoint walk takes up to 10 primitive steps; each state walked through is one the
        # agent could have decided in (its maps are updated every primitive step)
        env.primitive_hook = callback
        try:
            yield
        finally:
            env.primitive_hook = None

    def observation(self, env) -> dict:
        return env.observation()  # also between decisions, with the maps as they are now

    def video_options(self, env) -> dict:
        """The agent's own map (waypoints and plan) as a panel, and a frame per primitive step."""
        return {"panels": (env.map_image,), "between_steps": lambda capture: self.between_decisions(env, capture)}

    def primitive_steps(self, infos) -> int:
        return sum(int(i.get("primitive_steps", 1)) for i in infos)


class RecurrentWaypoint(Waypoint):
    """The waypoint agent with AV-Nav's GRU state: the GRU steps through every primitive state
    the agent passes (its decisions' and those walked through between them, as its maps are
    updated), so it integrates what it hears at every step as the flat GRU agent does; the
    waypoint head is read only where the agent decides, from the GRU's output and the step's own
    features (``skip``). Trained by DAgger over the primitive stream (backpropagation through
    time); PPO over its decisions is not offered."""

    name = "recurrent-waypoint"
    recurrent = True
    skip = True  # through the GRU alone, its waypoint choice fitted far slower (docs/agents.md)

    def actor(self, policy, env, deterministic: bool, temperature: float = 1.0, loop_escape: int = 0):
        """``Waypoint.actor``, and the GRU fed the states walked through since the last decision
        (``WaypointEnv.passed``, kept from now on)."""
        act = super().actor(policy, env, deterministic, temperature, loop_escape)
        env.keep_passed = True
        act.passed = lambda: env.passed
        return act


AGENT_KINDS: dict[str, AgentKind] = {kind.name: kind
                                     for kind in (FeedForward(), Recurrent(), Waypoint(), RecurrentWaypoint())}
DEFAULT_AGENT = "recurrent-ppo"  # AV-Nav's recipe: a GRU state


def agent_kind(name: str) -> AgentKind:
    """The registered kind called ``name``; one clear error for an unknown one."""
    if name not in AGENT_KINDS:
        raise ValueError(f"unknown agent {name!r}; agents are: {', '.join(AGENT_KINDS)}")
    return AGENT_KINDS[name]


__all__ = ["AGENT_KINDS", "DEFAULT_AGENT", "AgentKind", "FeedForward", "Label", "Recurrent", "RecurrentWaypoint", "Waypoint",
           "agent_kind"]

"""Agent kinds: what differs between the agents, in one place, behind one interface.

Training (``agents.training``), imitation (``agents.imitation``), evaluation and videos
(``agents.evaluation``) and checkpoints (``agents.ppo``) ask an ``AgentKind`` for

- its **policy**: the SB3 algorithm, its policy class and policy kwargs (``algorithm``,
  ``policy_kwargs``, ``extractor_settings``) and how a STOP prior is set (``set_stop_prior``);
- its **env wrapper** (``wrap``: the identity, or ``WaypointEnv``) and its checks of the env
  kwargs and options it is trained with (``check_options``);
- its **oracle labels** (``oracle_label``: the env's shortest-path oracle for flat agents, the
  waypoint oracle with its near-ties for the waypoint agent) and the states it passes between
  its decisions (``between_decisions``, ``labelling_between_decisions``);
- its **actor** (``actor``: how it acts from an observation, under action masks, carrying a
  recurrent state), what it observes (``observation``), how it samples while imitating
  (``imitation_action``) and how its episodes are filmed (``video_options``);
- how it **counts env steps** (``primitive_steps``: primitive actions, whatever a decision is);
- what it **supports** (``imitation``: a DAgger warm start; its actor's ``tempered``: tempered
  sampling).

Kinds are registered by name in ``AGENT_KINDS``; a new agent (a GRU policy, a distributed
trainer's policy) is a new subclass added there, and nothing that trains or evaluates changes.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, NamedTuple

import numpy as np


class Label(NamedTuple):
    """An oracle's label of one state: the action, the allowed actions ((n,) bool, None when
    every action is allowed) and the oracle's near-ties as a distribution ((n,) float32, None
    when only ``action`` is right)."""

    action: int
    mask: np.ndarray | None = None
    targets: np.ndarray | None = None


class AgentKind:
    """A feed-forward policy over the env's primitive actions (the base of every kind)."""

    name = "ppo"
    module, algorithm_name, policy_alias = "stable_baselines3", "PPO", "MultiInputPolicy"
    # supports a DAgger warm start (not a recurrent policy: it would need whole sequences); what
    # else a kind supports is its actor's (``actors.PolicyActor.tempered``: tempered sampling)
    imitation = True
    imitation_refusal = ""  # why not, when ``imitation`` is False
    # an action takes several primitive env steps (SB3's ``num_timesteps`` then counts decisions)
    macro_actions = False
    decisions = "decisions"  # what its decisions are called in messages

    # ------------------------------------------------------------------ policy
    def algorithm(self):
        """(SB3 algorithm class, policy alias) of this kind; one clear error without its package."""
        try:
            mod = __import__(self.module, fromlist=[self.algorithm_name])
        except ImportError as exc:
            raise ImportError(f"the {self.name} agent needs {self.module.replace('_', '-')}: "
                              "pip install 'earshot[agents]'") from exc
        return getattr(mod, self.algorithm_name), self.policy_alias

    def extractor_settings(self, hidden: int, lstm_hidden: int) -> dict:
        """The ``extractor`` entry of a checkpoint's meta: the settings its policy is built from."""
        return {"hidden": hidden}

    def policy_kwargs(self, extractor: dict) -> dict:
        """SB3 policy kwargs: the AV-Nav extractor, Adam with eps 1e-5, no hidden layers after it."""
        import torch

        from .extractor import AVNavExtractor

        extractor = dict(extractor)
        extractor.pop("lstm_hidden", None)  # the recurrent kind's, not the extractor's
        return dict(features_extractor_class=AVNavExtractor, features_extractor_kwargs=extractor,
                    optimizer_class=torch.optim.Adam, optimizer_kwargs={"eps": 1e-5}, net_arch=dict(pi=[], vf=[]))

    def set_stop_prior(self, model, stop_prior: float) -> None:
        """Set the initial probability of STOP (primitive action 0), the other actions equally
        likely, through the bias of the action head (SB3 initialises its weights near zero)."""
        import torch

        n = int(model.action_space.n)
        if not 0.0 < stop_prior < 1.0:
            raise ValueError(f"stop_prior must be a probability in (0, 1), got {stop_prior!r}")
        with torch.no_grad():
            model.policy.action_net.bias.zero_()
            model.policy.action_net.bias[0] = float(np.log(stop_prior * (n - 1) / (1.0 - stop_prior)))

    # ------------------------------------------------------------------ env
    def wrap(self, env):
        """The env this kind acts in, made from a navigation env (here: the env itself)."""
        return env

    def check_options(self, env_kwargs: dict, stop_prior: float) -> None:
        """Raise ValueError (naming the command-line option) when the training options do not
        suit this kind."""

    # ------------------------------------------------------------------ oracle and acting
    def oracle_label(self, env) -> Label:
        """The oracle's label of ``env``'s state now: the env's shortest-path oracle."""
        oracle = getattr(env.unwrapped, "oracle_action", None)
        if oracle is None:
            raise ValueError(f"the env {env.unwrapped!r} has no shortest-path oracle to imitate")
        return Label(int(oracle()))

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

    def imitation_action(self, policy, batched: dict, label: Label) -> int:
        """The policy's sampled action on a batch of one observation, while imitating."""
        return int(policy.predict(batched, deterministic=False)[0][0])

    def actor(self, policy, env, deterministic: bool, temperature: float = 1.0):
        """``act(obs) -> action`` of ``policy`` in ``env`` (with ``reset()`` between episodes)."""
        from .actors import PolicyActor

        return PolicyActor(policy, deterministic, temperature)

    def primitive_steps(self, infos) -> int:
        """Primitive env steps taken by one (vectorized) step whose infos are ``infos``."""
        return len(infos)

    def check_imitation(self, prefix: str = "") -> None:
        """Raise ValueError (``prefix``: the option it concerns) when this kind has no DAgger warm
        start, naming the kinds that have one."""
        if not self.imitation:
            able = " or ".join(name for name, kind in AGENT_KINDS.items() if kind.imitation)
            raise ValueError(f"{prefix}the warm start works for --agent {able} ({self.imitation_refusal})")


class FeedForward(AgentKind):
    """PPO (stable-baselines3) with the AV-Nav extractor, acting on primitive actions."""


class Recurrent(AgentKind):
    """RecurrentPPO (sb3-contrib): the LSTM analogue of AV-Nav's GRU, a state carried per episode."""

    name = "recurrent-ppo"
    module, algorithm_name, policy_alias = "sb3_contrib", "RecurrentPPO", "MultiInputLstmPolicy"
    imitation = False
    imitation_refusal = "a recurrent policy would need whole sequences"

    def extractor_settings(self, hidden: int, lstm_hidden: int) -> dict:
        return {"hidden": hidden, "lstm_hidden": lstm_hidden}

    def policy_kwargs(self, extractor: dict) -> dict:
        lstm = int(dict(extractor).get("lstm_hidden", 256))
        return {**super().policy_kwargs(extractor), "lstm_hidden_size": lstm, "n_lstm_layers": 1,
                "shared_lstm": True, "enable_critic_lstm": False}

    def actor(self, policy, env, deterministic: bool, temperature: float = 1.0):
        from .actors import RecurrentActor

        return RecurrentActor(policy, deterministic, temperature)


class Waypoint(AgentKind):
    """AV-WaN-style: MaskablePPO (sb3-contrib) over a 9 x 9 grid of waypoints on the agent's own
    map, a planner walking there (``earshot.agents.waypoint``); invalid waypoints masked."""

    name = "waypoint"
    module, algorithm_name, policy_alias = "sb3_contrib", "MaskablePPO", "MultiInputPolicy"
    macro_actions = True
    decisions = "waypoint decisions"

    def set_stop_prior(self, model, stop_prior: float) -> None:
        raise ValueError("stop_prior applies to primitive actions (STOP is action 0); the waypoint agent's STOP is "
                         "its last action")

    def wrap(self, env):
        from .waypoint import WaypointEnv

        return WaypointEnv(env)

    def check_options(self, env_kwargs: dict, stop_prior: float) -> None:
        if stop_prior:
            raise ValueError("argument --stop-prior: applies to primitive actions, not to --agent waypoint")
        if "sensors" in env_kwargs and "depth" not in env_kwargs["sensors"]:
            raise ValueError("argument --env-kwargs: the waypoint agent maps from depth: include 'depth' in sensors")
        if env_kwargs.get("motion", "grid") != "grid":
            raise ValueError("argument --env-kwargs: the waypoint agent needs motion 'grid'")

    def oracle_label(self, env) -> Label:
        """The waypoint oracle's choice, the allowed waypoints and the near-ties (``env`` is a
        ``WaypointEnv``)."""
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

    def imitation_action(self, policy, batched: dict, label: Label) -> int:
        return int(policy.predict(batched, deterministic=False, action_masks=label.mask[None])[0][0])

    def actor(self, policy, env, deterministic: bool, temperature: float = 1.0):
        from .actors import MaskedActor

        return MaskedActor(policy, deterministic, temperature, masks=env.action_masks)

    def primitive_steps(self, infos) -> int:
        return sum(int(i.get("primitive_steps", 1)) for i in infos)


AGENT_KINDS: dict[str, AgentKind] = {kind.name: kind for kind in (FeedForward(), Recurrent(), Waypoint())}
DEFAULT_AGENT = "recurrent-ppo"  # AV-Nav's recipe


def agent_kind(name: str) -> AgentKind:
    """The registered kind called ``name``; one clear error for an unknown one."""
    if name not in AGENT_KINDS:
        raise ValueError(f"unknown agent {name!r}; agents are: {', '.join(AGENT_KINDS)}")
    return AGENT_KINDS[name]


__all__ = ["AGENT_KINDS", "DEFAULT_AGENT", "AgentKind", "FeedForward", "Label", "Recurrent", "Waypoint", "agent_kind"]

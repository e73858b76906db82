"""The DD-PPO actor-critic: earshot's AV-Nav extractor (``earshot.agents.extractor``), an
optional GRU (AV-Nav's recurrent state, reset at episode starts) and linear actor and critic
heads, with optional action masks.

Every forward takes time-major batches: observations ``[T, B, ...]``, episode starts ``[T, B]``
(True where the observation is the first of an episode: the hidden state is zeroed before it)
and the hidden state ``[1, B, H]`` before the first step. A feed-forward policy ignores starts
and hidden state (it returns an empty ``[1, B, 0]`` state).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

MASKED_LOGIT = -1e8  # a masked action's logit: exp() is exactly 0 in float32, never sampled


def _image(space) -> bool:
    """A channels-last uint8 image (``rgb``): SB3's policies see it channels-first in [0, 1]."""
    return isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3 \
        and space.shape[-1] in (1, 3, 4)


def policy_space(space: gym.spaces.Dict) -> gym.spaces.Dict:
    """The observation space as the extractor sees it: uint8 images channels-first, Discrete
    keys one-hot (what SB3's preprocessing gives its policies)."""
    out = {}
    for key, sub in space.spaces.items():
        if _image(sub):
            h, w, c = sub.shape
            sub = gym.spaces.Box(0, 255, (c, h, w), np.uint8)
        out[key] = sub
    return gym.spaces.Dict(out)


def batch_of_one(obs: dict, device=None) -> dict:
    """One env's observation (arrays without a batch axis) as tensors of a batch of one ``[1, ...]``."""
    return {k: torch.as_tensor(np.asarray(v)[None], device=device) for k, v in obs.items()}


def preprocess(space: gym.spaces.Dict, obs: dict) -> dict:
    """Tensors of ``obs`` (``[N, ...]``, as the env gives them) in the extractor's layout. A key
    the env does not have is one derived already (``ActorCritic.derive``: the segmenter's labels,
    in the extractor's layout): it passes as float, and the keys it was derived from may be absent."""
    derived = {key: x.float() for key, x in obs.items() if key not in space.spaces}
    out = dict(derived)
    for key, sub in space.spaces.items():
        if key not in obs and derived:  # replaced by what was derived from it
            continue
        x = obs[key]
        if isinstance(sub, gym.spaces.Discrete):
            x = torch.nn.functional.one_hot(x.long().reshape(-1), int(sub.n)).float()
        elif _image(sub):
            x = x.permute(0, 3, 1, 2).float() / 255.0
        else:
            x = x.float()
        out[key] = x
    return out


def _init(layer: nn.Linear, gain: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class ActorCritic(nn.Module):
    """AV-Nav extractor → (GRU) → action logits and value.

    Args:
        observation_space: the env's Dict observation space (as the env gives it).
        n_actions: size of the Discrete action space.
        hidden: features per visual/audio encoder of the extractor.
        gru_hidden: GRU state size; 0 for a feed-forward policy.
        goal_head: also a linear head predicting where the goal is from the agent (``goal``:
            (ahead, left) / 10 m, the env's ``goal_vector``), trained by DAgger's goal-location
            loss as an auxiliary task (SAVi's goal descriptor); acting never reads it.
        segmenter: width of a learned semantic sensor in the extractor (``earshot.agents.segmenter``,
            frozen; its weights come from a segmenter folder or the checkpoint), 0: none.
        skip: with a GRU, the heads read the extractor's features of the step beside the GRU's
            output (the recurrent waypoint agent: through the GRU alone its 82-way choice on the
            map fitted far slower, docs/agents.md).
    """

    def __init__(self, observation_space: gym.spaces.Dict, n_actions: int, hidden: int = 128, gru_hidden: int = 0,
                 goal_head: bool = False, skip: bool = False, segmenter: int = 0):
        super().__init__()
        from ..extractor import AVNavExtractor

        self.env_space = observation_space
        self.hidden = int(hidden)
        self.extractor = AVNavExtractor(policy_space(observation_space), hidden=hidden, segmenter=int(segmenter))
        for layer in self.extractor.modules():  # orthogonal, gain sqrt(2), as SB3 and OpenAI baselines start
            if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                nn.init.orthogonal_(layer.weight, np.sqrt(2))
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
        features = self.extractor.features_dim
        self.gru_hidden = int(gru_hidden)
        self.gru = nn.GRU(features, self.gru_hidden) if self.gru_hidden else None
        if skip and not self.gru_hidden:
            raise ValueError("skip passes the features beside a GRU's output: give gru_hidden > 0, or skip=False")
        self.skip = bool(skip)
        out = self.gru_hidden + features if self.skip else (self.gru_hidden or features)
        self.action_head = _init(nn.Linear(out, n_actions), 0.01)
        self.value_head = _init(nn.Linear(out, 1), 1.0)
        self.goal_head = _init(nn.Linear(out, 2), 1.0) if goal_head else None
        self.n_actions = int(n_actions)

    @property
    def segmenter_width(self) -> int:
        """The width of the extractor's segmenter (0: none)."""
        return self.extractor.segmenter.width if self.extractor.segmenter is not None else 0

    def trainable(self) -> list:
        """The parameters training moves (not a frozen segmenter's)."""
        return [p for p in self.parameters() if p.requires_grad]

    @property
    def derived_from(self) -> tuple[str, ...]:
        """The observation keys ``derive`` replaces: ``rgb`` (and reads ``depth``) with a
        segmenter; none without one."""
        return ("rgb",) if self.extractor.segmenter is not None else ()

    @torch.no_grad()
    def derive(self, obs: dict) -> dict:
        """What the frozen parts of the policy make of stored observations (``[N, ...]`` arrays,
        as the env gives them), to be fed back in place of ``derived_from`` by a fit that goes
        over them epoch after epoch: ``{"semantic": uint8 [N, 1, H, W]}``, the segmenter's labels,
        which the extractor then reads as it reads its own (the same numbers, bit for bit); {}
        without a segmenter."""
        from ..extractor import SEMANTIC_KEY

        if self.extractor.segmenter is None:
            return {}
        device = next(self.parameters()).device
        keys = ("rgb", "depth")
        x = preprocess(gym.spaces.Dict({k: self.env_space[k] for k in keys}),
                       {k: torch.as_tensor(np.asarray(obs[k]), device=device) for k in keys})
        return {SEMANTIC_KEY: self.extractor.segment(x).to(torch.uint8).cpu().numpy()}

    @property
    def recurrent(self) -> bool:
        return self.gru is not None

    def initial_state(self, n: int, device=None) -> torch.Tensor:
        """The hidden state of ``n`` envs before their first step: zeros ``[1, n, H]``."""
        return torch.zeros(1, n, self.gru_hidden, device=device)

    def _core(self, obs: dict, starts: torch.Tensor, hidden: torch.Tensor):
        """(features ``[T, B, F]``, last hidden state) of time-major observations."""
        t, b = starts.shape
        flat = {k: v.reshape(t * b, *v.shape[2:]) for k, v in obs.items()}
        x = self.extractor(preprocess(self.env_space, flat)).reshape(t, b, -1)
        if self.gru is None:
            return x, hidden
        y, hidden = gru_sequence(self.gru, x, starts, hidden)
        return (torch.cat([y, x], dim=-1) if self.skip else y), hidden

    def _heads(self, x: torch.Tensor, masks: torch.Tensor | None):
        logits = self.action_head(x)
        if masks is not None:
            logits = logits.masked_fill(~masks.bool(), MASKED_LOGIT)
        return torch.distributions.Categorical(logits=logits), self.value_head(x).squeeze(-1)

    def set_stop_prior(self, stop_prior: float) -> None:
        """Start with probability ``stop_prior`` of STOP (action 0), the other actions equally
        likely, through the bias of the action head (its weights start near zero). A uniform
        policy stops after 4 steps on average, too soon to learn from the progress reward; 0.02
        makes the first episodes ~50 steps long."""
        if not 0.0 < stop_prior < 1.0:
            raise ValueError(f"stop_prior must be a probability in (0, 1), got {stop_prior!r}")
        with torch.no_grad():
            self.action_head.bias.zero_()
            self.action_head.bias[0] = float(np.log(stop_prior * (self.n_actions - 1) / (1.0 - stop_prior)))

    def _step(self, obs: dict, starts: torch.Tensor, hidden: torch.Tensor, masks: torch.Tensor | None = None):
        """(action distribution, values ``[B]``, next hidden state) of one step of ``B`` envs."""
        x, hidden = self._core({k: v[None] for k, v in obs.items()}, starts[None], hidden)
        dist, value = self._heads(x[0], masks)
        return dist, value, hidden

    @torch.no_grad()
    def act(self, obs: dict, starts: torch.Tensor, hidden: torch.Tensor, masks: torch.Tensor | None = None,
            generator: torch.Generator | None = None, deterministic: bool = False, temperature: float = 1.0):
        """One step of ``B`` envs (``obs`` ``[B, ...]``, ``starts`` ``[B]``): (actions, log-probs,
        values, next hidden state); actions sampled with ``generator`` (None: torch's global
        generator) from softmax(logits / ``temperature``), or the argmax when ``deterministic``."""
        dist, value, hidden = self._step(obs, starts, hidden, masks)
        if deterministic:
            action = dist.probs.argmax(-1)
        else:
            probs = dist.probs if temperature == 1.0 else torch.softmax(dist.logits / temperature, -1)
            action = torch.multinomial(probs, 1, True, generator=generator).squeeze(-1)
        return action, dist.log_prob(action), value, hidden

    @torch.no_grad()
    def log_policy(self, obs: dict, starts: torch.Tensor, hidden: torch.Tensor, masks: torch.Tensor | None = None):
        """(log-probabilities ``[B, A]`` of every action, next hidden state) of one step of ``B``
        envs (the anchor's distribution that PPO's KL term compares with)."""
        dist, _, hidden = self._step(obs, starts, hidden, masks)
        return dist.logits, hidden  # Categorical keeps its logits normalised: log-probabilities

    @torch.no_grad()
    def advance(self, obs: dict, hidden: torch.Tensor) -> torch.Tensor:
        """The state ``[1, 1, H]`` after one more step of one env (not an episode's start) on
        ``obs`` (its observation, without a batch axis), no action taken: the states a recurrent
        waypoint agent walks through between its decisions."""
        starts = torch.zeros(1, dtype=torch.bool, device=hidden.device)
        return self.log_policy(batch_of_one(obs, hidden.device), starts, hidden)[1]

    @torch.no_grad()
    def value(self, obs: dict, starts: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """Values ``[B]`` of one step of observations (``starts`` ``[B]``)."""
        return self._step(obs, starts, hidden)[1]

    def sequence(self, obs: dict, starts: torch.Tensor, hidden: torch.Tensor, masks: torch.Tensor | None = None,
                 goal: bool = False):
        """(action distribution, values ``[T, B]``) along the sequences ``obs`` ``[T, B, ...]``
        from ``hidden`` (gradients flow; the imitation loss and the PPO loss both use it); with
        ``goal``, also the goal head's predictions ``[T, B, 2]``."""
        x, _ = self._core(obs, starts, hidden)
        if not goal:
            return self._heads(x, masks)
        if self.goal_head is None:
            raise ValueError("this policy has no goal head: build it with goal_head=True")
        return (*self._heads(x, masks), self.goal_head(x))


def gru_sequence(gru: nn.GRU, x: torch.Tensor, starts: torch.Tensor, hidden: torch.Tensor):
    """``gru`` over ``x`` ``[T, B, F]`` from ``hidden`` ``[1, B, H]``, the state of env ``b``
    zeroed before step ``t`` where ``starts[t, b]``: one cuDNN/MKL call per run of steps
    between two steps at which any env starts an episode (as habitat-baselines does)."""
    t = x.shape[0]
    keep = (~starts.bool()).to(x.dtype)  # [T, B]
    cuts = [0] + [int(i) for i in torch.nonzero(starts[1:].bool().any(dim=1)).flatten() + 1] + [t]
    outputs = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        hidden = hidden * keep[a].view(1, -1, 1)
        out, hidden = gru(x[a:b], hidden)
        outputs.append(out)
    return torch.cat(outputs, dim=0), hidden


__all__ = ["MASKED_LOGIT", "ActorCritic", "batch_of_one", "gru_sequence", "policy_space", "preprocess"]

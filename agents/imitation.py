"""A warm start for PPO: DAgger (Ross et al., AISTATS 2011) from the shortest-path oracle.

PPO from scratch on AudioGoal did not learn to follow the sound on this project's CPU: in six
runs of 18k–70k steps (and 130k in an earlier trial), with and without a STOP prior, an entropy
bonus or a failed-STOP penalty, it stayed uniform, pressed STOP within a few steps, or never
stopped (docs/agents.md). The oracle knows the way;
DAgger teaches the policy to act like it from the policy's own observations:

- round 0: the oracle acts and labels every step;
- round r > 0: each step the oracle acts with probability beta^r, otherwise the policy (sampled);
  the oracle labels every visited state with the action it would take there, so the data cover
  the states the policy itself reaches (unlike cloning the oracle's paths only);
- after each round the policy is fitted on all data so far: cross-entropy towards the oracle's
  actions, and the value head towards the discounted returns of the visited trajectories (so
  PPO starts with a critic, not a random one that would undo the actor).

Only the policy's observations go into the network; the oracle's knowledge is used for labels
only. The agent kind (``earshot.agents.kinds``) gives the labels, the sampled actions and the
step count: it works for the feed-forward PPO policy (a recurrent policy would need whole
sequences) and for the waypoint agent (MaskablePPO over ``agents.waypoint.WaypointEnv``, whose
oracle picks the waypoint nearest the goal): ``steps`` then counts primitive steps, the policy
acts under the env's action mask, and it is fitted on the masked distribution against the
oracle's near-ties (every waypoint within 0.25 m of the best one's distance to the goal, equally).

The waypoint agent decides once per ~5.5 primitive steps, so at an equal budget of primitive
steps it would see ~5.5x fewer labelled states than the flat agent. With ``every_primitive``
(the default) the states it passes through while walking to a waypoint are labelled too: each
is a state the agent could have decided in (its maps are updated every primitive step), and the
oracle labels it with the waypoint it would pick there. The value target of such a state is the
return of the decision it belongs to.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import numpy as np

from .. import jobs
from .kinds import AgentKind, Label


@dataclass(frozen=True)
class ImitationConfig:
    """DAgger's settings: ``steps`` primitive env steps in ``rounds`` rounds, the oracle acting
    with probability ``beta`` ** round; after each round ``epochs`` passes over all data so far
    in minibatches of ``batch_size`` (Adam at ``learning_rate``, the value loss weighted
    ``vf_coef``). ``every_primitive``: also label the states an agent passes through between
    its decisions (the waypoint agent's walks)."""

    steps: int
    rounds: int = 6
    beta: float = 0.5
    epochs: int = 3
    batch_size: int = 256
    learning_rate: float = 3e-4
    vf_coef: float = 0.1
    seed: int = 0
    every_primitive: bool = True


def _store_dtype(x: np.ndarray):
    return np.uint8 if x.dtype == np.uint8 else np.float16  # float maps are in [0, 1] or small vectors


class _Dataset:
    """Every labelled state so far: observations (stored compactly), labels, and the decision
    each belongs to (a state between decisions: the one it follows)."""

    def __init__(self):
        self.obs: dict[str, list] = {}
        self.labels: list[int] = []
        self.masks: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []  # the oracle's near-ties, as a distribution
        self.owner: list[int] = []
        self.returns: list[float] = []  # per decision

    def record(self, o: dict, label: Label, decision: int) -> None:
        for k, v in o.items():
            self.obs.setdefault(k, []).append(np.asarray(v, dtype=_store_dtype(np.asarray(v))))
        self.labels.append(label.action)
        self.owner.append(decision)
        if label.mask is not None:
            self.masks.append(label.mask)
            self.targets.append(label.targets)


def imitate(kind: AgentKind, model, env, config: ImitationConfig, *, logger=None, progress: bool = True) -> dict:
    """Fit ``model.policy`` (an SB3 policy of agent kind ``kind``) to the oracle of ``env`` (one
    env of the training scenes, wrapped by ``kind.wrap``) with ``config.steps`` primitive env
    steps of DAgger; returns per-round stats (``rounds``) and totals."""
    import torch

    if config.steps <= 0:
        raise ValueError(f"imitation steps must be positive, got {config.steps}")
    kind.check_imitation()
    policy = model.policy
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate)
    data = _Dataset()
    between: list[tuple] = []  # the states between decisions of the current step, labelled
    with contextlib.ExitStack() as stack:
        if config.every_primitive:
            stack.enter_context(kind.labelling_between_decisions(env, lambda o, label: between.append((o, label))))
        per_round = math.ceil(config.steps / config.rounds)
        stats = []
        bar = jobs.progress_bar(per_round * config.rounds, unit="step", desc="imitation", dynamic_ncols=True,
                                mininterval=2.0) if progress else None
        obs, _ = env.reset(seed=config.seed)
        totals = {"steps": 0, "collect": 0.0, "fit": 0.0}
        for r in range(config.rounds):
            t0 = time.perf_counter()
            obs, row = _collect(kind, policy, env, obs, data, between, r, min(config.steps, (r + 1) * per_round),
                                totals, float(model.gamma), config, rng, bar)
            t1 = time.perf_counter()
            loss, accuracy = _fit(policy, optimizer, data.obs, np.asarray(data.labels),
                                  np.asarray(data.returns, np.float32)[data.owner], config.epochs, config.batch_size,
                                  config.vf_coef, rng, np.asarray(data.masks) if data.masks else None,
                                  np.asarray(data.targets) if data.targets else None)
            totals["collect"] += t1 - t0
            totals["fit"] += time.perf_counter() - t1
            row = {"round": r, "oracle_share": row["oracle_share"], "samples": len(data.labels),
                   "episodes": row["episodes"], "success": row["success"], "loss": loss, "accuracy": accuracy}
            stats.append(row)
            if logger is not None:
                for k in ("success", "loss", "accuracy", "oracle_share"):
                    logger.record(f"imitation/{k}", row[k])
                logger.dump(len(data.labels))
            if bar is not None:
                bar.set_postfix(round=r, success=f"{row['success']:.2f}", acc=f"{accuracy:.2f}")
        if bar is not None:
            bar.close()
        policy.set_training_mode(False)
    return {"steps": totals["steps"], "decisions": len(data.returns), "samples": len(data.labels), "rounds": stats,
            "collect_seconds": totals["collect"], "fit_seconds": totals["fit"]}


def _collect(kind: AgentKind, policy, env, obs, data: _Dataset, between: list, r: int, round_end: int, totals: dict,
             gamma: float, config: ImitationConfig, rng: np.random.Generator, bar):
    """One DAgger round's env steps, up to ``round_end`` primitive steps in all: each decision's
    state labelled by the oracle, the oracle acting with probability beta^r, else the policy
    (sampled); the states between decisions labelled as they are passed. Returns the next
    observation (after a reset) and the round's row of stats."""
    import torch

    p_oracle = config.beta ** r
    rewards: list[float] = []
    firsts = ep_start = len(data.returns)
    successes, episodes = 0, 0
    carried = None  # the label of the state the last walk ended in (collected between decisions): the next decision's
    policy.set_training_mode(False)
    while totals["steps"] < round_end:
        label = carried if carried is not None else kind.oracle_label(env)
        decision = firsts + len(rewards)  # this step's index among all decisions
        data.record(obs, label, decision)
        if rng.random() < p_oracle:
            action = label.action
        else:
            with torch.no_grad():
                action = kind.imitation_action(policy, {k: np.asarray(v)[None] for k, v in obs.items()}, label)
        between.clear()
        obs, reward, terminated, truncated, info = env.step(action)
        # the last state passed is the next decision's (or the episode's end): not twice
        for o, between_label in between[:-1]:
            data.record(o, between_label, decision)
        carried = between[-1][1] if between and not (terminated or truncated) else None
        rewards.append(float(reward))
        primitive = kind.primitive_steps([info])
        totals["steps"] += primitive
        if terminated or truncated:
            data.returns += _discounted(rewards[ep_start - firsts:], gamma)
            ep_start = len(data.returns)
            successes += bool(info.get("success", 0.0))
            episodes += 1
            obs, _ = env.reset()
        if bar is not None:
            bar.update(primitive)
    # the round's unfinished episode: returns so far (no bootstrap)
    data.returns += _discounted(rewards[ep_start - firsts:], gamma)
    obs, _ = env.reset()
    return obs, {"round": r, "oracle_share": p_oracle, "episodes": episodes, "success": successes / max(episodes, 1)}


def _discounted(rewards: list[float], gamma: float) -> list[float]:
    out, g = [0.0] * len(rewards), 0.0
    for i in range(len(rewards) - 1, -1, -1):
        g = rewards[i] + gamma * g
        out[i] = g
    return out


def _fit(policy, optimizer, data: dict, labels: np.ndarray, returns: np.ndarray, epochs: int, batch_size: int,
         vf_coef: float, rng: np.random.Generator, masks: np.ndarray | None = None,
         targets: np.ndarray | None = None) -> tuple[float, float]:
    """Epochs of minibatch cross-entropy (+ value regression) over all data; (last epoch's mean
    loss, its accuracy of the argmax action)."""
    import torch

    policy.set_training_mode(True)
    arrays = {k: np.stack(v) for k, v in data.items()}
    n = len(labels)
    for _ in range(epochs):
        order = rng.permutation(n)
        total, correct = 0.0, 0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            obs, _ = policy.obs_to_tensor({k: a[idx].astype(np.float32) if a.dtype == np.float16 else a[idx]
                                           for k, a in arrays.items()})
            actions = torch.as_tensor(labels[idx], device=policy.device)
            # what ActorCriticPolicy.evaluate_actions does, keeping the distribution for the accuracy
            latent_pi, latent_vf = policy.mlp_extractor(policy.extract_features(obs))
            dist = policy._get_action_dist_from_latent(latent_pi)
            if masks is not None:
                dist.apply_masking(masks[idx])
            values = policy.value_net(latent_vf).flatten()
            target = torch.as_tensor(returns[idx], device=policy.device)
            if targets is not None:  # cross-entropy against the oracle's near-ties
                soft = torch.as_tensor(targets[idx], device=policy.device)
                logp = torch.log_softmax(dist.distribution.logits, dim=1).clamp_min(-1e4)
                actor_loss = -(soft * logp).sum(dim=1).mean()
            else:
                actor_loss = -dist.log_prob(actions).mean()
            loss = actor_loss + vf_coef * torch.nn.functional.mse_loss(values, target)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            if targets is not None:  # the argmax is one of the near-ties
                pick = dist.distribution.logits.argmax(1).cpu().numpy()
                correct += int((targets[idx][np.arange(len(idx)), pick] > 0).sum())
            else:
                correct += int((dist.distribution.logits.argmax(1) == actions).sum())
    policy.set_training_mode(False)
    return total / n, correct / n

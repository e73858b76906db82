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
only. Works for the feed-forward PPO policy (a recurrent policy would need whole sequences) and
for the waypoint agent (MaskablePPO over ``agents.waypoint.WaypointEnv``, whose oracle picks the
waypoint nearest the goal): ``steps`` then counts primitive steps, the policy acts under the
env's action mask, and it is fitted on the masked distribution against the oracle's near-ties
(every waypoint within 0.25 m of the best one's distance to the goal, equally).

The waypoint agent decides once per ~5.5 primitive steps, so at an equal budget of primitive
steps it would see ~5.5x fewer labelled states than the flat agent. With ``every_primitive``
(the default) the states it passes through while walking to a waypoint are labelled too: each
is a state the agent could have decided in (its maps are updated every primitive step), and the
oracle labels it with the waypoint it would pick there. The value target of such a state is the
return of the decision it belongs to.
"""

from __future__ import annotations

import math
import time

import numpy as np


def _store_dtype(x: np.ndarray):
    return np.uint8 if x.dtype == np.uint8 else np.float16  # float maps are in [0, 1] or small vectors


def imitate(model, env, steps: int, *, rounds: int = 6, beta: float = 0.5, epochs: int = 3, batch_size: int = 256,
            learning_rate: float = 3e-4, vf_coef: float = 0.1, seed: int = 0, logger=None, progress: bool = True,
            every_primitive: bool = True) -> dict:
    """Fit ``model.policy`` (SB3 PPO) to the oracle of ``env`` (one earshot env of the training
    scenes) with ``steps`` env steps of DAgger in ``rounds`` rounds; returns per-round stats.
    ``every_primitive`` (the waypoint agent): also label the states between its decisions."""
    import torch

    if steps <= 0:
        raise ValueError(f"imitation steps must be positive, got {steps}")
    if hasattr(model.policy, "lstm_actor"):
        raise ValueError("imitation warm start works for the feed-forward policy (--agent ppo); a recurrent policy "
                         "would need whole sequences")
    u = env.unwrapped
    masked = hasattr(env, "action_masks")  # the waypoint agent: its oracle and masks are the wrapper's
    oracle = env.oracle_action if masked else getattr(u, "oracle_action", None)
    if oracle is None:
        raise ValueError(f"the env {u!r} has no shortest-path oracle to imitate")
    policy = model.policy
    gamma = float(model.gamma)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    data: dict[str, list] = {}
    masks: list[np.ndarray] = []
    targets: list[np.ndarray] = []  # the waypoint oracle's near-ties, as a distribution
    labels: list[int] = []
    owner: list[int] = []  # each sample's decision (a primitive state between decisions: the one it follows)
    returns: list[float] = []  # per decision
    between: list[tuple] = []  # the waypoint agent's states between its decisions, of the current step

    def label_here() -> tuple:
        """The oracle's label of the env's state now: (action, mask, near-ties); the last two for
        the waypoint agent only."""
        if not masked:
            return int(oracle()), None, None
        expert, near_ties = env.oracle_label()
        return expert, np.asarray(env.action_masks()), near_ties

    def record(o: dict, label: tuple, decision: int) -> None:
        for k, v in o.items():
            data.setdefault(k, []).append(np.asarray(v, dtype=_store_dtype(np.asarray(v))))
        labels.append(label[0])
        owner.append(decision)
        if masked:
            masks.append(label[1])
            targets.append(label[2])

    hook = masked and every_primitive
    if hook:  # after each primitive step of a waypoint: the state and the oracle's label there
        env.primitive_hook = lambda: between.append((env.observation(), label_here()))
    try:
        per_round = math.ceil(steps / rounds)
        stats = []
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=per_round * rounds, unit="step", desc="imitation", dynamic_ncols=True, mininterval=2.0)
        obs, _ = env.reset(seed=seed)
        collect_s = fit_s = 0.0
        done_steps = 0
        for r in range(rounds):
            t0 = time.perf_counter()
            p_oracle = beta ** r
            rewards: list[float] = []
            firsts = len(returns)
            ep_start = len(returns)
            successes, episodes = 0, 0
            carried = None  # the hook's label of the state the last waypoint walk ended in: the next decision's
            policy.set_training_mode(False)
            round_end = min(steps, (r + 1) * per_round)
            while done_steps < round_end:
                label = carried if carried is not None else label_here()
                expert, mask = label[0], label[1]
                decision = firsts + len(rewards)  # this step's index among all decisions
                record(obs, label, decision)
                if rng.random() < p_oracle:
                    action = expert
                else:
                    batched = {k: np.asarray(v)[None] for k, v in obs.items()}
                    with torch.no_grad():
                        if masked:
                            action = int(policy.predict(batched, deterministic=False, action_masks=mask[None])[0][0])
                        else:
                            action = int(policy.predict(batched, deterministic=False)[0][0])
                between.clear()
                obs, reward, terminated, truncated, info = env.step(action)
                # the last primitive state is the next decision's (or the episode's end): not twice
                for o, between_label in between[:-1]:
                    record(o, between_label, decision)
                carried = between[-1][1] if between and not (terminated or truncated) else None
                rewards.append(float(reward))
                primitive = int(info.get("primitive_steps", 1))
                done_steps += primitive
                if terminated or truncated:
                    returns += _discounted(rewards[ep_start - firsts:], gamma)
                    ep_start = len(returns)
                    successes += bool(info.get("success", 0.0))
                    episodes += 1
                    obs, _ = env.reset()
                if bar is not None:
                    bar.update(primitive)
            # the round's unfinished episode: returns so far (no bootstrap)
            returns += _discounted(rewards[ep_start - firsts:], gamma)
            obs, _ = env.reset()
            t1 = time.perf_counter()
            loss, accuracy = _fit(policy, optimizer, data, np.asarray(labels), np.asarray(returns, np.float32)[owner], epochs,
                                  batch_size, vf_coef, rng, np.asarray(masks) if masked else None,
                                  np.asarray(targets) if masked else None)
            collect_s += t1 - t0
            fit_s += time.perf_counter() - t1
            row = {"round": r, "oracle_share": p_oracle, "samples": len(labels), "episodes": episodes,
                   "success": successes / max(episodes, 1), "loss": loss, "accuracy": accuracy}
            stats.append(row)
            if logger is not None:
                for k in ("success", "loss", "accuracy", "oracle_share"):
                    logger.record(f"imitation/{k}", row[k])
                logger.dump(len(labels))
            if bar is not None:
                bar.set_postfix(round=r, success=f"{row['success']:.2f}", acc=f"{accuracy:.2f}")
        if bar is not None:
            bar.close()
        policy.set_training_mode(False)
        return {"steps": done_steps, "decisions": len(returns), "samples": len(labels), "rounds": stats,
                "collect_seconds": collect_s, "fit_seconds": fit_s}
    finally:
        if hook:
            env.primitive_hook = None


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

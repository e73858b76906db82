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
only. The agent kind (``earshot.agents.kinds``) gives the labels and the step count; the policy
is the trainer's ``ActorCritic``:

- a feed-forward policy is fitted on shuffled single states;
- a recurrent (GRU) policy acts with its state carried through each episode, and is fitted on
  the recorded stream cut into sequences of ``sequence_length`` consecutive states (the state
  zeroed at each episode's start, and at each sequence's start either zeroed or, with
  ``stored_state``, the state the policy acted with there), by backpropagation through time;
- the waypoint agent (``agents.waypoint.WaypointEnv``, whose oracle picks the waypoint nearest
  the goal) acts under the env's action mask and is fitted on the masked distribution against
  the oracle's near-ties (every waypoint within 0.25 m of the best one's distance to the goal,
  equally); ``steps`` counts primitive steps. Its recurrent kind's GRU steps through every
  state recorded (the decisions' and those walked through between them), in the order
  visited, so it is fitted on the same stream, as the flat GRU agent is.

On many ranks (``world``) each rank labels ``steps / world size`` steps of its own envs (its
shard of the train scenes) in parallel, and the fits average their gradients over the ranks
(every rank takes as many minibatches as the rank with the most), so the ranks stay identical.

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
from ..av_env.observations import POSE_SCALE
from .kinds import AgentKind, Label


@dataclass(frozen=True)
class ImitationConfig:
    """DAgger's settings: ``steps`` primitive env steps (over all ranks) in ``rounds`` rounds,
    the oracle acting with probability ``beta`` ** round; after each round ``epochs`` passes
    over all data so far in minibatches of ``batch_size`` states (Adam at ``learning_rate``,
    the value loss weighted ``vf_coef``, returns discounted by ``gamma``); a recurrent policy
    is fitted on sequences of ``sequence_length`` states. ``every_primitive``: also label the
    states an agent passes through between its decisions (the waypoint agent's walks).
    ``greedy``: the share of episodes in which the policy, where it acts, takes its argmax
    action rather than a sampled one, so that the states an argmax policy runs into (a blocked
    step repeated, a turn in place) are labelled too and it learns to leave them.
    ``stop_penalty``: weight of a second actor loss, -log(1 - p(STOP)) on every state the oracle
    does not stop in (``false_stop_loss``): a STOP away from the goal ends the episode as a
    failure, which costs far more than any other wrong action, so the STOP probability there is
    pushed down harder than cross-entropy alone does (primitive actions only).
    ``goal_coef``: weight of a goal-location loss (SAVi's goal descriptor as an auxiliary task):
    the policy's goal head (``ActorCritic(goal_head=True)``) is fitted, by a smooth L1 loss, to
    where the goal is seen from the agent in every labelled state (the env's ``goal_vector``,
    metres / 10), so that the recurrent state is taught to keep where the sound came from after
    it stops (primitive actions only; 0: none).
    ``stored_state`` (recurrent policies): each training sequence starts from the GRU state the
    policy carried into its first state while acting (kept at collection, as PPO's rollouts keep
    theirs) instead of from zeros, so a state deep in a long episode (a search, a loop) is fitted
    with the memory it was acted on with rather than with at most ``sequence_length`` steps of
    it. The stored state is the one the weights of its round computed (R2D2's "stored state").
    ``decision_weight`` (macro-action agents, with ``every_primitive``): the actor loss's weight
    of a state where the agent decides, against 1 for a state it walks through. The waypoint head
    acts only at decisions, yet about four of every five labelled states are walked through; the
    round's ``decision_accuracy`` reports the fit at the decisions alone."""

    steps: int
    rounds: int = 6
    beta: float = 0.5
    epochs: int = 3
    batch_size: int = 256
    learning_rate: float = 3e-4
    vf_coef: float = 0.1
    seed: int = 0
    every_primitive: bool = True
    gamma: float = 0.99
    sequence_length: int = 64
    greedy: float = 0.0
    stop_penalty: float = 0.0
    goal_coef: float = 0.0
    stored_state: bool = False
    decision_weight: float = 1.0


def _store_dtype(x: np.ndarray):
    return np.uint8 if x.dtype == np.uint8 else np.float16  # float maps are in [0, 1] or small vectors


class _Buffer:
    """A growable array of rows of one shape and dtype (allocated for ``capacity`` rows, grown
    by half when full): the observations of one key, without a list of small arrays to stack
    into a second copy before every fit."""

    def __init__(self, row: np.ndarray, capacity: int):
        self.array = np.empty((max(1, capacity), *row.shape), row.dtype)
        self.size = 0

    def append(self, row: np.ndarray) -> None:
        if self.size == len(self.array):
            grown = np.empty((len(self.array) + len(self.array) // 2 + 1, *self.array.shape[1:]), self.array.dtype)
            grown[:self.size] = self.array
            self.array = grown
        self.array[self.size] = row
        self.size += 1

    def view(self) -> np.ndarray:
        return self.array[:self.size]

    def extend(self, rows: np.ndarray) -> None:
        for row in rows:
            self.append(row)


class _Dataset:
    """Every labelled state so far, in the order visited: observations (stored compactly, in
    arrays allocated for ``capacity`` states), labels, whether each began an episode, and the
    decision each belongs to (a state between decisions: the one it follows)."""

    def __init__(self, capacity: int = 1024):
        self.capacity = capacity
        self.obs: dict[str, _Buffer] = {}
        self.labels: list[int] = []
        self.masks: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []  # the oracle's near-ties, as a distribution
        self.goals: list[np.ndarray] = []  # where the goal is, seen from the agent (with the goal-location loss)
        self.starts: list[bool] = []
        self.hidden: _Buffer | None = None  # the GRU state each state was acted on with (stored_state)
        self.owner: list[int] = []
        self.at_decision: list[bool] = []  # a decision's state (False: one walked through between decisions)
        self.returns: list[float] = []  # per decision
        # what the policy's frozen parts made of the states so far (ActorCritic.derive: a
        # segmenter's labels), once per state rather than once per state and epoch
        self.derived: dict[str, _Buffer] = {}
        self.derived_size = 0

    def derive(self, policy, chunk: int = 256) -> None:
        """Extend ``derived`` over the states recorded since the last call."""
        n = len(self.labels)
        if not getattr(policy, "derived_from", ()):
            self.derived_size = n
            return
        for i in range(self.derived_size, n, chunk):
            made = policy.derive({k: b.view()[i:i + chunk] for k, b in self.obs.items()})
            for k, rows in made.items():
                if k not in self.derived:
                    self.derived[k] = _Buffer(rows[0], self.capacity)
                self.derived[k].extend(rows)
        self.derived_size = n

    def record(self, o: dict, label: Label, decision: int, start: bool = False, hidden: np.ndarray | None = None,
               at_decision: bool = True) -> None:
        if hidden is not None:
            if self.hidden is None:
                self.hidden = _Buffer(hidden, self.capacity)
            self.hidden.append(hidden)
        for k, v in o.items():
            v = np.asarray(v)
            v = v.astype(_store_dtype(v), copy=False)
            if k not in self.obs:
                self.obs[k] = _Buffer(v, self.capacity)
            self.obs[k].append(v)
        self.labels.append(label.action)
        self.owner.append(decision)
        self.at_decision.append(bool(at_decision))
        self.starts.append(bool(start))
        if label.mask is not None:
            self.masks.append(label.mask)
            self.targets.append(label.targets)
        if label.goal is not None:
            self.goals.append(label.goal)


def imitate(kind: AgentKind, policy, env, config: ImitationConfig, *, world=None, logger=None,
            progress: bool = True) -> dict:
    """Fit ``policy`` (the trainer's ``ActorCritic``) to the oracle of ``env`` (this rank's env of
    the training scenes, wrapped by ``kind.wrap``) with ``config.steps`` primitive env steps of
    DAgger over all ranks of ``world`` (None: this process alone); returns per-round stats
    (``rounds``, averaged over the ranks) and totals (this rank's)."""
    import torch

    from .ddppo.distributed import World, all_sum

    if config.steps <= 0:
        raise ValueError(f"imitation steps must be positive, got {config.steps}")
    world = world or World()
    if policy.recurrent and kind.macro_actions and not config.every_primitive:
        raise ValueError(f"the {kind.name} agent's GRU steps through every state it walks through: its imitation "
                         "labels them all (every_primitive=True; --imitation-every-primitive)")
    device = next(policy.parameters()).device
    rng = np.random.default_rng([config.seed, world.rank])
    sampling = torch.Generator(device=device).manual_seed(config.seed * 1000 + world.rank)
    optimizer = torch.optim.Adam(policy.trainable(), lr=config.learning_rate)
    if not 0.0 <= config.greedy <= 1.0:
        raise ValueError(f"imitation greedy share must be in [0, 1], got {config.greedy}")
    if not (config.stop_penalty >= 0.0 and math.isfinite(config.stop_penalty)):
        raise ValueError(f"imitation stop penalty must be a finite number >= 0, got {config.stop_penalty}")
    if config.stop_penalty and kind.macro_actions:
        raise ValueError(f"the imitation stop penalty applies to primitive actions (STOP is action 0), not to the "
                         f"{kind.name} agent")
    if not (config.goal_coef >= 0.0 and math.isfinite(config.goal_coef)):
        raise ValueError(f"imitation goal coefficient must be a finite number >= 0, got {config.goal_coef}")
    if config.goal_coef and (kind.macro_actions or getattr(policy, "goal_head", None) is None):
        raise ValueError("the imitation goal-location loss needs a flat agent's policy with a goal head "
                         f"(ActorCritic(goal_head=True)); the {kind.name} agent's policy has none")
    if not (config.decision_weight > 0.0 and math.isfinite(config.decision_weight)):
        raise ValueError(f"imitation decision weight must be a finite number > 0, got {config.decision_weight}")
    if config.decision_weight != 1.0 and not (kind.macro_actions and config.every_primitive):
        raise ValueError("imitation decision_weight weighs a macro-action agent's decisions against the states it "
                         f"walks through (every_primitive=True); the {kind.name} agent has no such states")
    if config.stored_state and not policy.recurrent:
        raise ValueError("imitation stored_state keeps a GRU state per recorded state: the policy has none "
                         "(build it with gru_hidden > 0), or leave stored_state out")
    steps = -(-config.steps // world.size)  # this rank's share
    data = _Dataset(capacity=steps + 64)  # one state per primitive step (grows for the states between decisions)
    between: list[tuple] = []  # the states between decisions of the current step, labelled
    with contextlib.ExitStack() as stack:
        if config.every_primitive:
            stack.enter_context(kind.labelling_between_decisions(env, lambda o, label: between.append((o, label))))
        per_round = math.ceil(steps / config.rounds)
        stats = []
        bar = jobs.progress_bar(per_round * config.rounds * world.size, unit="step", desc="imitation",
                                dynamic_ncols=True, mininterval=2.0) if progress and world.rank == 0 else None
        obs, _ = env.reset(seed=int(np.random.SeedSequence([config.seed, world.rank]).generate_state(1)[0]))
        totals = {"steps": 0, "collect": 0.0, "fit": 0.0}
        for r in range(config.rounds):
            t0 = time.perf_counter()
            obs, row = _collect(kind, policy, env, obs, data, between, r, min(steps, (r + 1) * per_round), totals,
                                config, rng, sampling, device, bar, world.size)
            t1 = time.perf_counter()
            loss, accuracy, goal_error, decision_accuracy = _fit(policy, optimizer, data, config, rng, device, world)
            totals["collect"] += t1 - t0
            totals["fit"] += time.perf_counter() - t1
            summed = all_sum([row["episodes"], row["successes"], len(data.labels)], world)
            row = {"round": r, "oracle_share": row["oracle_share"], "samples": int(summed[2]),
                   "episodes": int(summed[0]), "success": summed[1] / max(summed[0], 1), "loss": loss,
                   "accuracy": accuracy}
            if config.goal_coef:
                row["goal_error_m"] = goal_error
            if kind.macro_actions and config.every_primitive:
                row["decision_accuracy"] = decision_accuracy
            stats.append(row)
            if logger is not None:
                for k in ("success", "loss", "accuracy", "oracle_share", "goal_error_m", "decision_accuracy"):
                    if k in row:
                        logger(f"imitation/{k}", row[k], row["samples"])
            if bar is not None:
                bar.set_postfix(round=r, success=f"{row['success']:.2f}", acc=f"{accuracy:.2f}")
        if bar is not None:
            bar.close()
    policy.eval()
    total_steps, decisions, samples = all_sum([totals["steps"], len(data.returns), len(data.labels)], world)
    return {"steps": int(total_steps), "decisions": int(decisions), "samples": int(samples), "rounds": stats,
            "collect_seconds": totals["collect"], "fit_seconds": totals["fit"]}


def _collect(kind: AgentKind, policy, env, obs, data: _Dataset, between: list, r: int, round_end: int, totals: dict,
             config: ImitationConfig, rng: np.random.Generator, sampling, device, bar, ranks: int):
    """One DAgger round's env steps, up to ``round_end`` primitive steps in all: each decision's
    state labelled by the oracle, the oracle acting with probability beta^r, else the policy
    (sampled, or its argmax in a ``greedy`` share of the episodes; its recurrent state carried);
    the states between decisions labelled as they are passed. Returns the next observation
    (after a reset) and the round's row of stats."""
    import torch

    from .ddppo.policy import batch_of_one

    p_oracle = config.beta ** r
    rewards: list[float] = []
    firsts = ep_start = len(data.returns)
    successes, episodes = 0, 0
    carried = None  # the label of the state the last walk ended in (collected between decisions): the next decision's
    policy.eval()
    hidden, start = policy.initial_state(1, device), True
    greedy = _greedy_episode(config, rng)
    while totals["steps"] < round_end:
        label = carried if carried is not None else kind.oracle_label(env, goal=config.goal_coef > 0)
        decision = firsts + len(rewards)  # this step's index among all decisions
        kept = None
        if config.stored_state:  # the state this one is acted on with (zeros at a start; imitate: recurrent only)
            kept = np.zeros(policy.gru_hidden, np.float32) if start else hidden[0, 0].float().cpu().numpy()
        data.record(obs, label, decision, start, kept)
        oracle_acts = rng.random() < p_oracle
        if policy.recurrent or not oracle_acts:  # a recurrent policy steps every state, to keep its state
            masks = None if label.mask is None else torch.as_tensor(np.asarray(label.mask, bool)[None], device=device)
            action, _, _, hidden = policy.act(batch_of_one(obs, device), torch.tensor([start], device=device), hidden,
                                              masks, sampling, deterministic=greedy)
        action = label.action if oracle_acts else int(action[0])
        start = False
        between.clear()
        obs, reward, terminated, truncated, info = env.step(action)
        # the last state passed is the next decision's (or the episode's end): not twice
        for o, between_label in between[:-1]:
            kept = hidden[0, 0].float().cpu().numpy() if config.stored_state else None  # the state it is acted on with
            data.record(o, between_label, decision, False, kept, at_decision=False)
            if policy.recurrent:  # the GRU steps through the states walked through, as it does when acting
                hidden = policy.advance(o, hidden)
        carried = between[-1][1] if between and not (terminated or truncated) else None
        rewards.append(float(reward))
        primitive = kind.primitive_steps([info])
        totals["steps"] += primitive
        if terminated or truncated:
            data.returns += _discounted(rewards[ep_start - firsts:], config.gamma)
            ep_start = len(data.returns)
            successes += bool(info.get("success", 0.0))
            episodes += 1
            obs, _ = env.reset()
            start = True
            greedy = _greedy_episode(config, rng)
        if bar is not None:
            bar.update(primitive * ranks)
    # the round's unfinished episode: returns so far (no bootstrap)
    data.returns += _discounted(rewards[ep_start - firsts:], config.gamma)
    obs, _ = env.reset()
    return obs, {"round": r, "oracle_share": p_oracle, "episodes": episodes, "successes": successes}


def _greedy_episode(config: ImitationConfig, rng: np.random.Generator) -> bool:
    """Whether the policy acts by argmax in the episode now starting (no draw when it never does,
    so runs without it keep their random stream)."""
    return config.greedy > 0 and bool(rng.random() < config.greedy)


def _discounted(rewards: list[float], gamma: float) -> list[float]:
    out, g = [0.0] * len(rewards), 0.0
    for i in range(len(rewards) - 1, -1, -1):
        g = rewards[i] + gamma * g
        out[i] = g
    return out


def _batches(data: _Dataset, config: ImitationConfig, recurrent: bool, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's minibatches, as arrays of state indices: ``[B]`` shuffled single states, or
    (recurrent) ``[L, S]`` sequences of consecutive states (``batch_size // L`` of them)."""
    n = len(data.labels)
    if not recurrent:
        order = rng.permutation(n)
        return [order[i:i + config.batch_size] for i in range(0, n, config.batch_size)]
    length = config.sequence_length
    full = n // length
    seqs = rng.permutation(full)
    per = max(1, config.batch_size // length)
    out = [np.arange(length)[:, None] + length * seqs[i:i + per][None, :] for i in range(0, full, per)]
    if n % length:
        out.append(np.arange(full * length, n)[:, None])  # the stream's tail: a shorter sequence of its own
    return out


def false_stop_loss(logits, labels):
    """Per state, -log(1 - p(STOP)) where the oracle's action ``labels`` is not STOP (action 0),
    else 0: the log-loss of a STOP pressed away from the goal, from the policy's ``logits``
    (..., n_actions), computed stably as logsumexp(all) - logsumexp(all but STOP)."""
    import torch

    moving = torch.logsumexp(logits[..., 1:], dim=-1)
    return (torch.logsumexp(logits, dim=-1) - moving) * (labels != 0)


def _fit(policy, optimizer, data: _Dataset, config: ImitationConfig, rng: np.random.Generator, device,
         world) -> tuple[float, float, float, float]:
    """Epochs of minibatch cross-entropy (+ value regression, + the goal-location loss) over all
    data so far; (last epoch's mean loss, its accuracy of the argmax action, its mean error of
    the goal head's prediction in metres, NaN without the loss, its accuracy at the decisions'
    states alone), over all ranks."""
    import torch

    from .ddppo.distributed import all_gather_floats, all_sum, average_gradients

    data.derive(policy)  # a frozen segmenter labels each state once, not in every epoch
    replaced = set(policy.derived_from) if data.derived else set()
    arrays = {k: v.view() for k, v in data.obs.items() if k not in replaced}
    arrays.update({k: v.view() for k, v in data.derived.items()})
    labels = np.asarray(data.labels)
    returns = np.asarray(data.returns, np.float32)[data.owner]
    starts = np.asarray(data.starts, bool)
    masks = np.asarray(data.masks) if data.masks else None
    targets = np.asarray(data.targets) if data.targets else None
    goals = np.asarray(data.goals, np.float32) if config.goal_coef else None  # one per label (oracle_label)
    stored = data.hidden.view() if config.stored_state else None
    at_decision = np.asarray(data.at_decision, bool)
    weights = np.where(at_decision, np.float32(config.decision_weight), np.float32(1.0))
    policy.train()
    for _ in range(config.epochs):
        batches = _batches(data, config, policy.recurrent, rng)
        rounds = int(max(v[0] for v in all_gather_floats([len(batches)], world)))  # the most of any rank
        total, correct, seen, goal_error, decided, decisions = 0.0, 0, 0, 0.0, 0, 0
        for i in range(rounds):
            optimizer.zero_grad()
            if i < len(batches):
                idx = batches[i] if policy.recurrent else batches[i][None, :]  # [T, B]
                first = np.zeros(idx.shape, bool)
                if stored is None:
                    first[0] = True  # a sequence starts from a zero state
                    h0 = policy.initial_state(idx.shape[1], device)
                else:  # ... or from the state its first state was acted on with
                    h0 = torch.as_tensor(stored[idx[0]], device=device)[None]
                obs = {k: torch.as_tensor(a[idx].astype(np.float32) if a.dtype == np.float16 else a[idx], device=device)
                       for k, a in arrays.items()}
                start_t = torch.as_tensor(starts[idx] | first, device=device)
                m = None if masks is None else torch.as_tensor(masks[idx], device=device)
                out = policy.sequence(obs, start_t, h0, m, goal=goals is not None)
                dist, values = out[0], out[1]
                actions = torch.as_tensor(labels[idx], device=device)
                if targets is not None:  # cross-entropy against the oracle's near-ties
                    soft = torch.as_tensor(targets[idx], device=device)
                    logp = torch.log_softmax(dist.logits, dim=-1).clamp_min(-1e4)
                    per_state = -(soft * logp).sum(dim=-1)
                    if config.decision_weight != 1.0:  # the decisions' states weigh more (or less)
                        w = torch.as_tensor(weights[idx], device=device)
                        actor_loss = (w * per_state).sum() / w.sum()
                    else:
                        actor_loss = per_state.mean()
                else:
                    actor_loss = -dist.log_prob(actions).mean()
                    if config.stop_penalty:
                        actor_loss = actor_loss + config.stop_penalty * false_stop_loss(dist.logits, actions).mean()
                value_loss = torch.nn.functional.mse_loss(values, torch.as_tensor(returns[idx], device=device))
                loss = actor_loss + config.vf_coef * value_loss
                if goals is not None:
                    target = torch.as_tensor(goals[idx], device=device)
                    loss = loss + config.goal_coef * torch.nn.functional.smooth_l1_loss(out[2], target)
                    goal_error += float(torch.linalg.vector_norm(out[2].detach() - target, dim=-1).sum()) * POSE_SCALE
                loss.backward()
                total += float(loss.detach()) * idx.size
                seen += idx.size
                pick = dist.logits.argmax(-1).cpu().numpy()
                if targets is not None:  # the argmax is one of the near-ties
                    hit = np.take_along_axis(targets[idx], pick[..., None], -1)[..., 0] > 0
                else:
                    hit = pick == labels[idx]
                correct += int(hit.sum())
                decided += int((hit & at_decision[idx]).sum())
                decisions += int(at_decision[idx].sum())
            average_gradients(policy.trainable(), world)
            torch.nn.utils.clip_grad_norm_(policy.trainable(), 0.5)
            optimizer.step()
    total, correct, seen, goal_error, decided, decisions = all_sum([total, correct, seen, goal_error, decided,
                                                                    decisions], world)
    policy.eval()
    return (total / max(seen, 1), correct / max(seen, 1), (goal_error / max(seen, 1) if goals is not None else math.nan),
            decided / max(decisions, 1))


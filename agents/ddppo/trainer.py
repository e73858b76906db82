"""The DD-PPO loop of one rank (Wijmans et al., ICLR 2020): collect a rollout of its own envs
with its own forward passes (stopping early when preempted as a straggler), compute GAE and the
clipped PPO loss on its own data, average the gradients over the ranks, step the (identical)
optimizers; rank 0 writes the checkpoints, TensorBoard and the val evaluations. In a world of 1
this is plain PPO: ``earshot.agents.training.train`` (``scripts/train.py``) runs every scale on it.

Before PPO, a fresh run can start from another checkpoint's weights (``init``) and a DAgger warm
start (``earshot.agents.imitation``) with every rank labelling its own scenes in parallel.
Every random draw of update ``u`` on rank ``r`` comes from generators seeded with (seed, r, u),
so the same seed and world size give the same run, and a resumed run draws what it would have.
"""

from __future__ import annotations

import collections
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ...cli import save_config
from .. import checkpoints
from .anchor import anchor_kl, load_anchor
from .distributed import (Preemption, World, all_sum, average_gradients, broadcast_module,
                          broadcast_object, close_world, init_world, parameter_hash)
from .policy import ActorCritic
from .reporting import Reporting
from .rollout import Rollout


class _EnvState:
    """What carries over between rollouts: the next observation, episode starts, GRU state."""

    def __init__(self, obs: dict, starts: np.ndarray, hidden: torch.Tensor):
        self.obs, self.starts, self.hidden = obs, starts, hidden
        self.returns = np.zeros(len(starts))
        self.lengths = np.zeros(len(starts), dtype=int)
        self.episodes = collections.deque(maxlen=100)  # (return, length, success, spl) of finished episodes
        self.anchor_hidden = hidden  # the anchor policy's GRU state (PPO's KL term)
        self.primitive = 0  # primitive env steps taken (a macro action takes several)
        self.finished = 0  # episodes finished by this rank's envs in this launch


def _stack(observations: list[dict]) -> dict:
    return {k: np.stack([np.asarray(o[k]) for o in observations]) for k in observations[0]}


class DDPPOTrainer(Reporting):
    """DD-PPO on this rank.

    Args:
        config: the run's ``earshot.agents.training.TrainConfig``.
        make_env: ``make_env(scene_shard) -> env`` (default: ``gym.make(config.task,
            split="train", scenes=config.scenes, scene_shard=..., **env_kwargs)`` wrapped as the
            agent kind acts in it).
        world: the world (default: from torchrun's environment; a world of 1 without it).
        kind: the agent kind (default: ``config.kind``; another is for kinds not registered).
    """

    def __init__(self, config, make_env=None, world: World | None = None, kind=None):
        config.check()
        self.config = config
        self.kind = kind or config.kind
        self.make_env = make_env or self._make_env
        self.world = world
        self.run_dir = Path(config.run_dir)
        self.writer = None
        self.meta: dict = {}
        self.last_val = None  # (SR, SPL) of rank 0's last val evaluation, for the progress bar
        self.imitation_rate = None  # the warm start's env steps/s over all ranks, when it ran

    # ------------------------------------------------------------------ setup
    def _make_env(self, shard):
        import gymnasium as gym

        import earshot.av_env  # noqa: F401  (registers the ids)

        c = self.config
        return self.kind.wrap(gym.make(c.task, split="train", scenes=c.scenes, scene_shard=shard, **c.kwargs))

    def _shards(self) -> list:
        """Each env's scene shard: its own where there are scenes enough, else its rank's."""
        c, w = self.config, self.world
        if w.size > c.scenes:
            raise ValueError(f"{w.size} ranks need at least as many --scenes, got {c.scenes}")
        parts = w.size * c.n_envs
        if parts > 1 and c.scenes >= parts:
            return [(w.rank * c.n_envs + k, parts) for k in range(c.n_envs)]
        return [(w.rank, w.size) if w.size > 1 else None] * c.n_envs

    def _env_seed(self, k: int, updates: int) -> int:
        return int(np.random.SeedSequence([self.config.seed + self.world.rank, k, updates]).generate_state(1)[0])

    def _generator(self, purpose: int, updates: int) -> torch.Generator:
        """The generator of one purpose (0: sampling actions, 1: shuffling minibatches) in update
        ``updates`` on this rank: reseeded every update, so a resumed run needs no saved state."""
        seed = int(np.random.SeedSequence([self.config.seed, self.world.rank, updates, purpose]).generate_state(1)[0])
        device = self.world.device if purpose == 0 else "cpu"
        return torch.Generator(device=device).manual_seed(seed)

    def _start(self, policy: ActorCritic, optimizer, envs, segmenter=None) -> tuple[int, int]:
        """(env steps, updates) so far: rank 0's newest checkpoint (weights and optimizer state
        sent to every rank), or a fresh start (rank 0's initial weights, ``init``'s weights, the
        warm start)."""
        found = checkpoints.load_latest(self.run_dir) if self.world.rank == 0 else None
        meta, opt_state = broadcast_object((found[0], found[2]) if found else (None, None), self.world)
        if meta is not None:
            self._check_resumable(meta, policy)
            if self.world.rank == 0:
                policy.load_state_dict(found[1])
            broadcast_module(policy, self.world)
            optimizer.load_state_dict(opt_state)
            self.meta.update({k: meta[k] for k in ("init", "imitation", "segmenter") if k in meta})  # how it started
            if self.world.rank == 0:
                print(f"resuming {self.run_dir} at step {meta['steps']:,} (update {meta['updates']:,}, written by "
                      f"{meta['world_size']} rank(s), now {self.world.size})", flush=True)
            return int(meta["steps"]), int(meta["updates"])
        c = self.config
        if c.stop_prior:
            self.kind.set_stop_prior(policy, c.stop_prior)
        if c.init:
            self._init_from(policy)
        if segmenter is not None:  # this run's perception, whatever --init's was (a resumed run's is its checkpoint's)
            policy.extractor.segmenter.load_state_dict(segmenter.state_dict())
        broadcast_module(policy, self.world)
        if c.imitation_steps:
            # DAgger labels all of the rank's scenes (its envs' shards split them further)
            w = self.world
            env = envs[0] if len(envs) == 1 else self.make_env((w.rank, w.size) if w.size > 1 else None)
            try:
                self._warm_start(policy, optimizer, env)
            finally:
                if env is not envs[0]:
                    env.close()
        return 0, 0

    def _segmenter(self):
        """The network of ``--segmenter``, or None; its folder and val score go into the
        checkpoints' meta."""
        if not self.config.segmenter:
            return None
        from ..segmenter import load_segmenter

        net, meta = load_segmenter(self.config.segmenter)
        self.meta["segmenter"] = {"folder": meta["folder"], "width": meta["width"], "resolution": meta["resolution"],
                                  "val_miou": meta.get("val", {}).get("miou")}
        return net

    def _init_from(self, policy) -> None:
        """Start from another checkpoint's policy weights (same agent, observations and policy)."""
        c = self.config
        src = checkpoints.read_meta(c.init)
        mine = {"hidden": policy.hidden, "gru_hidden": policy.gru_hidden, "skip": policy.skip}
        theirs = {k: src["policy"].get(k, 0) for k in mine}  # a goal head may differ (load_init_weights)
        if src["agent"] != c.agent or theirs != mine:
            raise ValueError(f"argument --init: {c.init!r} is a {src['agent']!r} agent with policy {src['policy']}, "
                             f"this run a {c.agent!r} one with {mine}")
        added = checkpoints.load_init_weights(policy, c.init, src)
        init = self.meta["init"] = {"checkpoint": str(c.init), "steps": src["steps"],
                                    "imitation_steps": checkpoints.imitation_steps_of(src),
                                    "ppo_steps": checkpoints.ppo_steps_of(src),
                                    "training_command": src.get("training_command"), "added_observations": added}
        # the source's own warm start and PPO are counted once, in init.imitation_steps and
        # init.ppo_steps; "imitation" and "steps" are this run's own
        if self.world.rank == 0:
            encoded = [k for k in added if k in policy.extractor.feature_sizes]  # rgb may feed a segmenter only
            print(f"initialised from {c.init} ({init['imitation_steps']:,} imitation + {init['ppo_steps']:,} PPO steps "
                  "behind it)" + (f"; new observations {encoded} start with zero weight" if encoded else "")
                  + ("; its semantic encoder reads the segmenter's labels" if policy.segmenter_width else ""), flush=True)

    def _warm_start(self, policy, optimizer, env) -> None:
        """DAgger from the kind's oracle, every rank on its own env; then the warm-started
        checkpoint (``imitation/``, and ``step_0`` from which a killed run resumes)."""
        from ..imitation import ImitationConfig, imitate

        c = self.config
        settings = ImitationConfig(c.imitation_steps, rounds=c.imitation_rounds, epochs=c.imitation_epochs,
                                   beta=c.imitation_beta, greedy=c.imitation_greedy, seed=c.seed,
                                   stop_penalty=c.imitation_stop_penalty, goal_coef=c.imitation_goal_coef,
                                   every_primitive=c.imitation_every_primitive, gamma=c.gamma,
                                   stored_state=c.imitation_stored_state,
                                   decision_weight=c.imitation_decision_weight)
        t = time.perf_counter()
        out = imitate(self.kind, policy, env, settings, world=self.world, logger=self._log, progress=c.progress)
        seconds = time.perf_counter() - t
        last = out["rounds"][-1]
        self.meta["imitation"] = {k: out[k] for k in ("steps", "decisions", "samples", "rounds")}
        self.imitation_rate = out["steps"] / max(seconds, 1e-9)
        if self.world.rank == 0:
            print(f"imitation: {out['steps']:,} steps ({out['decisions']:,} decisions, {out['samples']:,} labelled "
                  f"states) in {len(out['rounds'])} rounds on {self.world.size} rank(s), {self.imitation_rate:.0f} "
                  f"steps/s; last round: success {last['success']:.2f} with the oracle acting "
                  f"{last['oracle_share']:.0%} of the steps, action accuracy {last['accuracy']:.2f}", flush=True)
            checkpoints.save_checkpoint(self.run_dir / "checkpoints" / "imitation", policy, None, self._meta(0, 0))
        self._checkpoint(policy, optimizer, 0, 0)
        if c.eval_every:
            self._evaluate(policy, 0, 0)

    def _check_resumable(self, meta: dict, policy) -> None:
        saved = meta.get("config", {})
        keys = ("task", "agent", "env_kwargs", "hidden") + (("gru_hidden",) if policy.recurrent else ())
        for key in keys:
            if key in saved and saved[key] != getattr(self.config, key):
                raise ValueError(f"{self.run_dir} was trained with --{key.replace('_', '-')} {saved[key]!r}, not "
                                 f"{getattr(self.config, key)!r}; resume with the same options or use another "
                                 "--run-dir")
        checkpoints.check_compatible(meta, policy.env_space, policy.n_actions)
        if checkpoints.has_goal_head(meta) != (policy.goal_head is not None):
            raise ValueError(f"{self.run_dir} was trained {'with' if policy.goal_head is None else 'without'} a goal "
                             "head (--imitation-goal-coef); resume with the same options or use another --run-dir")

    def _reset(self, envs, updates: int, hidden: torch.Tensor) -> _EnvState:
        obs = [env.reset(seed=self._env_seed(k, updates))[0] for k, env in enumerate(envs)]
        return _EnvState(_stack(obs), np.ones(len(envs), dtype=bool), hidden)

    # ------------------------------------------------------------------ rollout
    def _masks(self, envs):
        if not self.kind.masked:
            return None
        return torch.as_tensor(np.stack([self.kind.action_masks(env) for env in envs]), device=self.world.device)

    def _step_envs(self, envs, actions: np.ndarray, state: _EnvState):
        """Step every env; (next observations, rewards, dones, truncated envs' final observations)."""
        out, rewards, dones, finals = [], np.zeros(len(envs), np.float32), np.zeros(len(envs), bool), {}
        for k, env in enumerate(envs):
            obs, reward, terminated, truncated, info = env.step(int(actions[k]))
            rewards[k] = reward
            state.returns[k] += reward
            primitive = self.kind.primitive_steps([info])
            state.lengths[k] += primitive
            state.primitive += primitive
            if terminated or truncated:
                state.episodes.append((state.returns[k], state.lengths[k], float(info.get("success", 0.0)),
                                       float(info.get("spl", 0.0))))
                state.finished += 1
                state.returns[k], state.lengths[k] = 0.0, 0
                if truncated and not terminated:
                    finals[k] = obs
                obs, _ = env.reset()
                dones[k] = True
            out.append(obs)
        return _stack(out), rewards, dones, finals

    def _bootstrap(self, policy, finals: dict, hidden: torch.Tensor, rewards: np.ndarray) -> None:
        """A time limit is not a terminal state: add gamma * V(final observation) to the reward."""
        if not finals:
            return
        idx = sorted(finals)
        obs = {k: torch.as_tensor(v, device=self.world.device) for k, v in _stack([finals[i] for i in idx]).items()}
        starts = torch.zeros(len(idx), dtype=torch.bool, device=self.world.device)
        values = policy.value(obs, starts, hidden[:, idx]).cpu().numpy()
        rewards[idx] += self.config.gamma * values

    def collect(self, policy, envs, state: _EnvState, preemption: Preemption, update: int, generator,
                anchor: ActorCritic | None = None) -> Rollout:
        """This rank's rollout of update ``update`` (``n_steps`` steps, fewer when preempted); with
        an ``anchor`` policy, its log-probabilities at every step too."""
        c, dev = self.config, self.world.device
        rollout = Rollout(envs[0].observation_space, c.n_steps, len(envs), policy.n_actions, state.hidden,
                          masked=self.kind.masked, device=dev, anchored=anchor is not None)
        rollout.set_obs(0, state.obs, state.starts)
        t = 0
        while not preemption.should_stop(update, t):
            masks = self._masks(envs)
            action, log_prob, value, hidden = policy.act(rollout.obs_at(t), rollout.starts[t], state.hidden, masks,
                                                         generator)
            anchor_logp = None
            if anchor is not None:
                anchor_logp, state.anchor_hidden = anchor.log_policy(rollout.obs_at(t), rollout.starts[t],
                                                                     state.anchor_hidden, masks)
            obs, rewards, dones, finals = self._step_envs(envs, action.cpu().numpy(), state)
            self._bootstrap(policy, finals, hidden, rewards)
            rollout.add(action, log_prob, value, rewards, dones, masks, anchor_logp)
            state.obs, state.starts, state.hidden = obs, dones, hidden
            t += 1
            rollout.set_obs(t, obs, dones)
        preemption.finished(update)
        last = policy.value(rollout.obs_at(t), rollout.starts[t], state.hidden)
        rollout.compute_returns(last, c.gamma, c.gae_lambda)
        return rollout

    # ------------------------------------------------------------------ update
    def update(self, policy, optimizer, rollout: Rollout, generator: torch.Generator) -> dict:
        """PPO epochs over ``rollout``, each minibatch's gradient averaged over the ranks; with an
        anchor, plus ``anchor_coef`` × KL(anchor || policy) at the rollout's states."""
        c = self.config
        totals = collections.Counter()
        for _ in range(c.n_epochs):
            for batch in rollout.minibatches(c.minibatches, policy.recurrent, generator):
                optimizer.zero_grad()
                if batch["actions"].numel():
                    dist, value = policy.sequence(batch["obs"], batch["starts"], batch["hidden"], batch.get("masks"))
                    ratio = torch.exp(dist.log_prob(batch["actions"]) - batch["log_probs"])
                    adv = batch["advantages"]
                    pg = -torch.min(ratio * adv, ratio.clamp(1 - c.clip_range, 1 + c.clip_range) * adv).mean()
                    vf = torch.nn.functional.mse_loss(value, batch["returns"])
                    ent = dist.entropy().mean()
                    loss = pg + c.vf_coef * vf - c.ent_coef * ent
                    if "anchor" in batch:
                        loss = loss + c.anchor_coef * (kl := anchor_kl(batch["anchor"], dist.logits))
                        totals.update(anchor_kl=kl.item())
                    loss.backward()
                    totals.update(policy_loss=pg.item(), value_loss=vf.item(), entropy=ent.item(), n=1)
                average_gradients(policy.trainable(), self.world)
                if c.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(policy.trainable(), c.max_grad_norm)
                optimizer.step()
        n = max(totals.pop("n", 0), 1)
        return {k: v / n for k, v in totals.items()}

    # ------------------------------------------------------------------ the run
    def _meta(self, steps: int, updates: int) -> dict:
        c = self.config
        return {**self.meta, "agent": c.agent, "task": c.task, "env_kwargs": c.kwargs, "seed": c.seed,
                "simulator": self.simulator,
                "training_command": c.command_line(), "config": asdict(c), "world_size": self.world.size,
                "steps": steps, "updates": updates}

    def _checkpoint(self, policy, optimizer, steps: int, updates: int) -> Path | None:
        if self.world.rank != 0:
            return None
        return checkpoints.save_run_checkpoint(self.run_dir, policy, optimizer, self._meta(steps, updates),
                                               keep=self.config.keep_checkpoints)

    def train(self) -> dict:
        """Train (or resume) up to ``total_steps`` env steps over all ranks; returns the step
        count, the rates (all ranks and per rank), the newest checkpoint and the parameters' hash."""
        c = self.config
        torch.set_num_threads(c.torch_threads)
        own_world = self.world is None
        self.world = self.world or init_world(c.device)
        try:
            return self._train()
        finally:
            if self.writer is not None:
                self.writer.close()
            if own_world:
                close_world(self.world)

    def _train(self) -> dict:
        c, w = self.config, self.world
        self.time_split = collections.Counter()  # seconds collecting rollouts and updating, this rank
        torch.manual_seed(c.seed)  # the same initial weights on every rank (and rank 0's are broadcast)
        envs = [self.make_env(shard) for shard in self._shards()]
        try:
            self.simulator = checkpoints.simulator_record(envs[0])
            segmenter = self._segmenter()
            policy = ActorCritic(envs[0].observation_space, int(envs[0].action_space.n), c.hidden,
                                 c.gru_hidden if self.kind.recurrent else 0, goal_head=c.imitation_goal_coef > 0,
                                 skip=self.kind.skip, segmenter=segmenter.width if segmenter else 0).to(w.device)
            optimizer = torch.optim.Adam(policy.trainable(), lr=c.learning_rate, eps=1e-5)
            if w.rank == 0:
                save_config(c, self.run_dir)
            steps, updates = self._start(policy, optimizer, envs, segmenter)
            print(f"rank {w.rank} starts from parameters sha256 {parameter_hash(policy)}", flush=True)
            anchor = None
            if c.anchor_coef > 0 and steps < c.total_steps:
                anchor, source = load_anchor(policy, self.run_dir, c.init, w)
                if w.rank == 0:
                    print(f"PPO anchored to {source} (KL weight {c.anchor_coef:g})", flush=True)
            state = self._reset(envs, updates, policy.initial_state(len(envs), w.device))
            # counters of this launch only (a torchrun restart reuses its store and the update numbers)
            launch = broadcast_object(os.urandom(8).hex(), w)
            preemption = Preemption(w, c.n_steps, c.sync_fraction, c.min_rollout_share, c.preempt, prefix=launch)
            start, local, stats, path, started = time.perf_counter(), 0, {}, None, steps
            bar = None
            if c.progress and w.rank == 0 and steps < c.total_steps:
                from ... import jobs

                bar = jobs.progress_bar(c.total_steps, initial=steps, unit="step", dynamic_ncols=True, desc="train",
                                        mininterval=2.0)
            while steps < c.total_steps:
                t0 = time.perf_counter()
                before_primitive = state.primitive
                policy.eval()
                rollout = self.collect(policy, envs, state, preemption, updates, self._generator(0, updates), anchor)
                t1 = time.perf_counter()
                policy.train()
                stats = self.update(policy, optimizer, rollout, self._generator(1, updates))
                policy.eval()
                self.time_split["collect"] += t1 - t0
                self.time_split["update"] += time.perf_counter() - t1
                n_local = state.primitive - before_primitive
                local += n_local
                before, steps, updates = steps, steps + int(all_sum([n_local], w)[0]), updates + 1
                if bar is not None:
                    bar.update(min(steps, c.total_steps) - bar.n)
                    eps = list(state.episodes)
                    bar.set_postfix_str(", ".join(
                        [f"{(steps - before) / max(time.perf_counter() - t0, 1e-9):.0f} steps/s"]
                        + [f"{state.finished:,} episodes" + (" (rank 0)" if w.size > 1 else "")]
                        + ([f"train SR {np.mean([e[2] for e in eps]):.2f}"] if eps else [])
                        + ([f"val SR {self.last_val[0]:.2f} SPL {self.last_val[1]:.3f}"] if self.last_val else [])),
                        refresh=False)
                if steps // c.checkpoint_every > before // c.checkpoint_every and steps < c.total_steps:
                    path = self._checkpoint(policy, optimizer, steps, updates)
                if c.eval_every and steps // c.eval_every > before // c.eval_every and steps < c.total_steps:
                    self._evaluate(policy, steps, updates)
                if updates % c.log_every == 0:
                    self._report(steps, local, time.perf_counter() - start, updates, state, stats)
            if bar is not None:
                bar.close()
            rates = self._report(steps, local, time.perf_counter() - start, updates, state, stats,
                                 final=steps > started)
            if steps > started or not checkpoints.step_dirs(self.run_dir):
                path = self._checkpoint(policy, optimizer, steps, updates)
                if c.eval_every and steps > started:
                    self._evaluate(policy, steps, updates)
            elif w.rank == 0:  # nothing left to train: the checkpoint resumed from
                path = self.run_dir / "checkpoints" / "latest"
            digest = parameter_hash(policy)
            print(f"rank {w.rank} parameters sha256 {digest}", flush=True)
            if w.rank == 0:
                print(f"checkpoint: {path}", flush=True)
            return {"steps": steps, "updates": updates, "trained": steps - started, "checkpoint": path,
                    "parameter_hash": digest, "imitation_steps_per_s": self.imitation_rate,
                    **rates}
        finally:
            for env in envs:
                env.close()


def train(config, **kwargs) -> dict:
    """``DDPPOTrainer(config, **kwargs).train()``."""
    return DDPPOTrainer(config, **kwargs).train()


__all__ = ["DDPPOTrainer", "train"]

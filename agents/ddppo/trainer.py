"""The DD-PPO loop of one rank (Wijmans et al., ICLR 2020): collect a rollout of its own envs
with its own forward passes (stopping early when preempted as a straggler), compute GAE and the
clipped PPO loss on its own data, average the gradients over the ranks, step the (identical)
optimizers; rank 0 writes the checkpoints. In a world of 1 this is plain PPO.
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
from . import checkpoint
from .config import DDPPOConfig
from .distributed import (Preemption, World, all_gather_floats, all_sum, average_gradients, broadcast_module,
                          broadcast_object, close_world, init_world, parameter_hash)
from .policy import ActorCritic
from .rollout import Rollout


class _EnvState:
    """What carries over between rollouts: the next observation, episode starts, GRU state."""

    def __init__(self, obs: dict, starts: np.ndarray, hidden: torch.Tensor):
        self.obs, self.starts, self.hidden = obs, starts, hidden
        self.returns = np.zeros(len(starts))
        self.lengths = np.zeros(len(starts), dtype=int)
        self.episodes = collections.deque(maxlen=100)  # (return, length, success) of finished episodes


def _stack(observations: list[dict]) -> dict:
    return {k: np.stack([np.asarray(o[k]) for o in observations]) for k in observations[0]}


class DDPPOTrainer:
    """DD-PPO on this rank.

    Args:
        config: the options.
        make_env: ``make_env(scene_shard) -> env`` (default: ``gym.make(config.task,
            split="train", scenes=config.scenes, scene_shard=..., **env_kwargs)``).
        action_masks: ``action_masks(env) -> (n_actions,) bool`` for envs whose actions are masked
            (the agent kind decides; None: every action allowed).
        world: the world (default: from torchrun's environment; a world of 1 without it).
    """

    def __init__(self, config: DDPPOConfig, make_env=None, action_masks=None, world: World | None = None):
        config.check()
        self.config = config
        self.action_masks = action_masks
        self.make_env = make_env or self._make_env
        self.world = world
        self.run_dir = Path(config.run_dir)

    # ------------------------------------------------------------------ setup
    def _make_env(self, shard):
        import gymnasium as gym

        import earshot.av_env  # noqa: F401  (registers the ids)

        c = self.config
        return gym.make(c.task, split="train", scenes=c.scenes, scene_shard=shard, **c.kwargs)

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

    def _start(self, policy: ActorCritic, optimizer) -> tuple[int, int]:
        """(env steps, updates) so far: rank 0's newest checkpoint (weights and optimizer state
        sent to every rank) or a fresh start from rank 0's initial weights."""
        found = checkpoint.load_latest(self.run_dir) if self.world.rank == 0 else None
        meta, opt_state = broadcast_object((found[0], found[2]) if found else (None, None), self.world)
        if meta is not None:
            self._check_resumable(meta, policy)
            if self.world.rank == 0:
                policy.load_state_dict(found[1])
        broadcast_module(policy, self.world)
        if meta is None:
            return 0, 0
        optimizer.load_state_dict(opt_state)
        if self.world.rank == 0:
            print(f"resuming {self.run_dir} at step {meta['steps']:,} (update {meta['updates']:,}, written by "
                  f"{meta['world_size']} rank(s), now {self.world.size})", flush=True)
        return int(meta["steps"]), int(meta["updates"])

    def _check_resumable(self, meta: dict, policy) -> None:
        saved = DDPPOConfig(**meta["config"])
        for key in ("task", "kwargs", "policy", "hidden") + (("gru_hidden",) if saved.policy == "gru" else ()):
            if getattr(saved, key) != getattr(self.config, key):
                flag = "env-kwargs" if key == "kwargs" else key.replace("_", "-")
                raise ValueError(f"{self.run_dir} was trained with --{flag} {getattr(saved, key)!r}, not "
                                 f"{getattr(self.config, key)!r}; resume with the same options or use another "
                                 "--run-dir")
        checkpoint.check_compatible(meta, policy)

    def _reset(self, envs, updates: int, hidden: torch.Tensor) -> _EnvState:
        obs = [env.reset(seed=self._env_seed(k, updates))[0] for k, env in enumerate(envs)]
        return _EnvState(_stack(obs), np.ones(len(envs), dtype=bool), hidden)

    # ------------------------------------------------------------------ rollout
    def _masks(self, envs):
        if self.action_masks is None:
            return None
        return torch.as_tensor(np.stack([np.asarray(self.action_masks(env), dtype=bool) for env in envs]),
                               device=self.world.device)

    def _step_envs(self, envs, actions: np.ndarray, state: _EnvState):
        """Step every env; (next observations, rewards, dones, truncated envs' final observations)."""
        out, rewards, dones, finals = [], np.zeros(len(envs), np.float32), np.zeros(len(envs), bool), {}
        for k, env in enumerate(envs):
            obs, reward, terminated, truncated, info = env.step(int(actions[k]))
            rewards[k] = reward
            state.returns[k] += reward
            state.lengths[k] += 1
            if terminated or truncated:
                state.episodes.append((state.returns[k], state.lengths[k], float(info.get("success", 0.0))))
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

    def collect(self, policy, envs, state: _EnvState, preemption: Preemption, update: int, generator) -> Rollout:
        """This rank's rollout of update ``update`` (``n_steps`` steps, fewer when preempted)."""
        c, dev = self.config, self.world.device
        rollout = Rollout(envs[0].observation_space, c.n_steps, len(envs), policy.n_actions, state.hidden,
                          masked=self.action_masks is not None, device=dev)
        rollout.set_obs(0, state.obs, state.starts)
        t = 0
        while not preemption.should_stop(update, t):
            masks = self._masks(envs)
            action, log_prob, value, hidden = policy.act(rollout.obs_at(t), rollout.starts[t], state.hidden, masks,
                                                         generator)
            obs, rewards, dones, finals = self._step_envs(envs, action.cpu().numpy(), state)
            self._bootstrap(policy, finals, hidden, rewards)
            rollout.add(action, log_prob, value, rewards, dones, masks)
            state.obs, state.starts, state.hidden = obs, dones, hidden
            t += 1
            rollout.set_obs(t, obs, dones)
        preemption.finished(update)
        last = policy.value(rollout.obs_at(t), rollout.starts[t], state.hidden)
        rollout.compute_returns(last, c.gamma, c.gae_lambda)
        return rollout

    # ------------------------------------------------------------------ update
    def update(self, policy, optimizer, rollout: Rollout, generator: torch.Generator) -> dict:
        """PPO epochs over ``rollout``, each minibatch's gradient averaged over the ranks."""
        c = self.config
        totals = collections.Counter()
        for _ in range(c.n_epochs):
            for batch in rollout.minibatches(c.minibatches, policy.recurrent, generator):
                optimizer.zero_grad()
                if batch["actions"].numel():
                    log_prob, entropy, value = policy.evaluate(batch["obs"], batch["starts"], batch["hidden"],
                                                               batch["actions"], batch.get("masks"))
                    ratio = torch.exp(log_prob - batch["log_probs"])
                    adv = batch["advantages"]
                    pg = -torch.min(ratio * adv, ratio.clamp(1 - c.clip_range, 1 + c.clip_range) * adv).mean()
                    vf = torch.nn.functional.mse_loss(value, batch["returns"])
                    ent = entropy.mean()
                    (pg + c.vf_coef * vf - c.ent_coef * ent).backward()
                    totals.update(policy_loss=pg.item(), value_loss=vf.item(), entropy=ent.item(), n=1)
                average_gradients(policy.parameters(), self.world)
                if c.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(policy.parameters(), c.max_grad_norm)
                optimizer.step()
        n = max(totals.pop("n", 0), 1)
        return {k: v / n for k, v in totals.items()}

    # ------------------------------------------------------------------ the run
    def _checkpoint(self, policy, optimizer, steps: int, updates: int) -> Path | None:
        if self.world.rank != 0:
            return None
        meta = {"config": asdict(self.config), "world_size": self.world.size, "steps": steps, "updates": updates}
        return checkpoint.save(self.run_dir, policy, optimizer, meta, keep=self.config.keep_checkpoints)

    def _report(self, steps: int, local_steps: int, elapsed: float, updates: int, state: _EnvState, stats: dict,
                final: bool = False) -> dict:
        split = self.time_split
        gathered = all_gather_floats([local_steps / max(elapsed, 1e-9),
                                      split["collect"] / max(split["collect"] + split["update"], 1e-9)], self.world)
        rates, shares = [g[0] for g in gathered], [g[1] for g in gathered]
        total = sum(rates)
        if self.world.rank == 0:
            per_rank = ", ".join(f"rank {r}: {v:.0f} ({share:.0%} collecting)"
                                 for r, (v, share) in enumerate(zip(rates, shares)))
            eps = list(state.episodes)
            episodes = (f"; rank 0's last {len(eps)} episodes: return {np.mean([e[0] for e in eps]):.2f}, "
                        f"length {np.mean([e[1] for e in eps]):.0f}, success {np.mean([e[2] for e in eps]):.2f}"
                        if eps else "")
            losses = ", ".join(f"{k} {v:.3f}" for k, v in stats.items())
            head = f"trained: {updates:,} updates" if final else f"update {updates:,}"
            print(f"{head}, {steps:,} steps: steps/s {per_rank}; all {total:.0f}{episodes}"
                  + (f"; {losses}" if losses else ""), flush=True)
        return {"steps_per_s": total, "rank_steps_per_s": rates, "rank_collect_share": shares}

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
            if own_world:
                close_world(self.world)

    def _train(self) -> dict:
        c, w = self.config, self.world
        self.time_split = collections.Counter()  # seconds collecting rollouts and updating, this rank
        torch.manual_seed(c.seed)  # the same initial weights on every rank (and rank 0's are broadcast)
        envs = [self.make_env(shard) for shard in self._shards()]
        try:
            policy = ActorCritic(envs[0].observation_space, int(envs[0].action_space.n), c.hidden,
                                 c.gru_hidden if c.policy == "gru" else 0).to(w.device)
            optimizer = torch.optim.Adam(policy.parameters(), lr=c.learning_rate, eps=1e-5)
            steps, updates = self._start(policy, optimizer)
            print(f"rank {w.rank} starts from parameters sha256 {parameter_hash(policy)}", flush=True)
            if w.rank == 0:
                save_config(c, self.run_dir)
            sampling = torch.Generator(device=w.device).manual_seed(c.seed + w.rank)
            shuffling = torch.Generator().manual_seed(c.seed + w.rank)
            state = self._reset(envs, updates, policy.initial_state(len(envs), w.device))
            # counters of this launch only (a torchrun restart reuses its store and the update numbers)
            launch = broadcast_object(os.urandom(8).hex(), w)
            preemption = Preemption(w, c.n_steps, c.sync_fraction, c.min_rollout_share, c.preempt, prefix=launch)
            start, local, stats, path, started = time.perf_counter(), 0, {}, None, steps
            while steps < c.total_steps:
                t0 = time.perf_counter()
                rollout = self.collect(policy, envs, state, preemption, updates, sampling)
                t1 = time.perf_counter()
                stats = self.update(policy, optimizer, rollout, shuffling)
                self.time_split["collect"] += t1 - t0
                self.time_split["update"] += time.perf_counter() - t1
                n_local = rollout.steps * len(envs)
                local += n_local
                before, steps, updates = steps, steps + int(all_sum([n_local], w)[0]), updates + 1
                if steps // c.checkpoint_every > before // c.checkpoint_every and steps < c.total_steps:
                    path = self._checkpoint(policy, optimizer, steps, updates)
                if updates % c.log_every == 0:
                    self._report(steps, local, time.perf_counter() - start, updates, state, stats)
            rates = self._report(steps, local, time.perf_counter() - start, updates, state, stats, final=True)
            if steps > started:
                path = self._checkpoint(policy, optimizer, steps, updates)
            elif w.rank == 0:  # nothing left to train: the checkpoint resumed from
                path = checkpoint.checkpoint_dirs(self.run_dir)[-1]
            digest = parameter_hash(policy)
            print(f"rank {w.rank} parameters sha256 {digest}", flush=True)
            return {"steps": steps, "updates": updates, "trained": steps - started, "checkpoint": path,
                    "parameter_hash": digest, **rates}
        finally:
            for env in envs:
                env.close()


def train(config: DDPPOConfig, **kwargs) -> dict:
    """``DDPPOTrainer(config, **kwargs).train()``."""
    return DDPPOTrainer(config, **kwargs).train()


__all__ = ["DDPPOTrainer", "train"]

"""DD-PPO (earshot.agents.ddppo, the trainer behind scripts/train.py): the GRU's state across episode starts, action masks, same seed
same run, gradient all-reduce keeping ranks identical (one machine and two "nodes" through
torchrun's c10d rendezvous, all on 127.0.0.1) and resume after a kill."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from earshot.agents.checkpoints import load_tensors, read_meta, step_dirs  # noqa: E402
from earshot.agents.ddppo import DDPPOTrainer  # noqa: E402
from earshot.agents.ddppo.distributed import Preemption, World  # noqa: E402
from earshot.agents.ddppo.policy import ActorCritic, gru_sequence  # noqa: E402
from earshot.agents.ddppo.rollout import Rollout  # noqa: E402
from earshot.agents.kinds import Waypoint  # noqa: E402
from earshot.agents.training import TrainConfig  # noqa: E402

ENV_KWARGS = json.dumps({"resolution": 36, "sensors": ["depth", "pointgoal_with_gps_compass"], "max_steps": 40})
TINY = ["--task", "earshot/PointGoal-v0", "--scenes", "2", "--env-kwargs", ENV_KWARGS, "--n-envs", "1",
        "--n-steps", "32", "--hidden", "16", "--gru-hidden", "16", "--device", "cpu", "--log-every", "1000",
        "--eval-every", "0", "--no-progress"]
AGENT = {"gru": "recurrent-ppo", "ff": "ppo"}


def load(path: Path):
    """(meta, policy state, optimizer state) of a checkpoint folder."""
    return read_meta(path), load_tensors(path / "policy.pt"), load_tensors(path / "optimizer.pt")


class RecurrentMasked(Waypoint):
    """A kind with masked actions and a GRU state (no registered kind has both)."""

    recurrent = True

    def wrap(self, env):
        return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **{k: str(v) for k, v in extra.items()}}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        if key not in extra:
            env.pop(key, None)
    return env


def _ranks(args: list[str], world: int, cwd: Path) -> list[subprocess.Popen]:
    """``world`` ranks of ``python -m earshot.agents.ddppo args`` on 127.0.0.1 (torchrun's variables set by hand)."""
    port = _free_port()
    return [subprocess.Popen([sys.executable, "-m", "earshot.agents.ddppo", *args], cwd=cwd, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=_env(RANK=r, WORLD_SIZE=world, LOCAL_RANK=r, MASTER_ADDR="127.0.0.1",
                                      MASTER_PORT=port)) for r in range(world)]


def _outputs(procs, timeout=240) -> list[str]:
    outs = []
    for p in procs:
        out, _ = p.communicate(timeout=timeout)
        assert p.returncode == 0, out
        outs.append(out)
    return outs


def _launch(args: list[str], world: int, cwd: Path) -> list[str]:
    """The outputs of ``world`` ranks run to the end. A launch in which no rank got as far as its
    starting parameters (the rendezvous on a free port failed, e.g. the port was taken between
    finding it and binding it) is tried once more on another port; a failure after that is one."""
    procs = _ranks(args, world, cwd)
    outs = [p.communicate(timeout=240)[0] for p in procs]
    if any(p.returncode for p in procs) and not any("starts from parameters" in o for o in outs):
        procs = _ranks(args, world, cwd)
        outs = [p.communicate(timeout=240)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out
    return outs


def _hashes(text: str, what: str) -> dict[int, str]:
    return {int(r): h for r, h in re.findall(rf"rank (\d+) {what} sha256 ([0-9a-f]+)", text)}


# ---------------------------------------------------------------------------------------- GRU state
def test_gru_state_is_zeroed_at_episode_starts():
    torch.manual_seed(0)
    gru = torch.nn.GRU(5, 7)
    x = torch.randn(6, 3, 5)
    h0 = torch.randn(1, 3, 7)
    starts = torch.zeros(6, 3, dtype=torch.bool)
    starts[0, 1] = starts[3, 0] = starts[4, 2] = True
    out, last = gru_sequence(gru, x, starts, h0)
    h, ref = h0.clone(), []  # step by step, zeroing by hand
    for t in range(6):
        h = h * (~starts[t]).float().view(1, -1, 1)
        o, h = gru(x[t:t + 1], h)
        ref.append(o)
    assert torch.allclose(out, torch.cat(ref), atol=1e-6) and torch.allclose(last, h, atol=1e-6)
    # after a start, an env's outputs do not depend on anything before it
    x2, h2 = x.clone(), h0.clone()
    x2[:3, 0] += 10.0
    h2[:, 0] += 5.0
    out2, _ = gru_sequence(gru, x2, starts, h2)
    assert torch.equal(out2[3:, 0], out[3:, 0]) and not torch.allclose(out2[:3, 0], out[:3, 0])
    assert torch.equal(out2[:, 1:], out[:, 1:])


def test_rollout_replay_matches_acting():
    """Minibatches of whole env sequences from the stored start state replay what acting computed
    (the log-probabilities of the sampled actions), episode starts included."""
    space = gym.spaces.Dict({"pointgoal_with_gps_compass": gym.spaces.Box(-5, 5, (2,), np.float32)})
    torch.manual_seed(0)
    policy = ActorCritic(space, 4, hidden=16, gru_hidden=8)
    n, steps = 3, 7
    hidden = torch.randn(1, n, 8)
    rollout = Rollout(space, steps, n, 4, hidden)
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    starts = np.array([True, False, False])
    for t in range(steps):
        obs = {"pointgoal_with_gps_compass": rng.normal(size=(n, 2)).astype(np.float32)}
        rollout.set_obs(t, obs, starts)
        action, log_prob, value, hidden = policy.act(rollout.obs_at(t), rollout.starts[t], hidden, generator=gen)
        dones = rng.random(n) < 0.3
        rollout.add(action, log_prob, value, np.ones(n), dones)
        starts = dones
    rollout.set_obs(steps, obs, starts)
    rollout.compute_returns(torch.zeros(n), 0.99, 0.95)
    batches = list(rollout.minibatches(3, recurrent=True, generator=torch.Generator().manual_seed(1)))
    assert len(batches) == 3 and all(b["actions"].shape == (steps, 1) for b in batches)
    for b in batches:
        dist, value = policy.sequence(b["obs"], b["starts"], b["hidden"])  # what PPO's update replays
        log_prob = dist.log_prob(b["actions"])
        assert torch.allclose(log_prob, b["log_probs"], atol=1e-5) and torch.allclose(value, b["values"], atol=1e-5)


# ---------------------------------------------------------------------------------------- masks
class MaskedEnv(gym.Env):
    """A fake env whose allowed actions change every step; it counts masked actions taken."""

    observation_space = gym.spaces.Dict({"pointgoal_with_gps_compass": gym.spaces.Box(-1, 1, (2,), np.float32)})
    action_space = gym.spaces.Discrete(4)

    def __init__(self):
        self.violations, self.taken, self._t = 0, 0, 0
        self._rng = np.random.default_rng(0)
        self._mask = np.ones(4, bool)

    def _new_mask(self):
        self._mask = self._rng.random(4) < 0.5
        self._mask[self._rng.integers(4)] = True

    def action_masks(self):
        return self._mask.copy()

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._t = 0
        self._new_mask()
        return {"pointgoal_with_gps_compass": self._rng.uniform(-1, 1, 2).astype(np.float32)}, {}

    def step(self, action):
        self.taken += 1
        self.violations += int(not self._mask[action])
        reward = float(action == 1)
        self._t += 1
        self._new_mask()
        return ({"pointgoal_with_gps_compass": self._rng.uniform(-1, 1, 2).astype(np.float32)}, reward, False,
                self._t >= 6, {})


@pytest.mark.parametrize("policy", ["ff", "gru"])
def test_masked_actions_are_never_sampled(tmp_path, policy):
    envs = []

    def make_env(shard):
        envs.append(MaskedEnv())
        return envs[-1]

    config = TrainConfig(run_dir=str(tmp_path / "run"), total_steps=256, n_envs=2, n_steps=32, minibatches=2,
                         agent="waypoint", hidden=16, gru_hidden=8, device="cpu", log_every=1000, learning_rate=1e-3,
                         eval_every=0, progress=False)
    kind = RecurrentMasked() if policy == "gru" else None
    out = DDPPOTrainer(config, make_env=make_env, world=World(), kind=kind).train()
    assert out["steps"] == 256 and sum(e.taken for e in envs) == 256
    assert sum(e.violations for e in envs) == 0


# ---------------------------------------------------------------------------------------- one rank
def _run_in_process(run_dir: Path, policy: str, total: int = 128) -> dict:
    from earshot.cli import parse_config

    config = parse_config(TrainConfig, "", [*TINY, "--run-dir", str(run_dir), "--agent", AGENT[policy],
                                            "--total-steps", str(total)])
    return DDPPOTrainer(config, world=World()).train()


def test_same_seed_same_checkpoint(tmp_path):
    a = _run_in_process(tmp_path / "a", "gru")
    b = _run_in_process(tmp_path / "b", "gru")
    assert a["steps"] == b["steps"] == 128 and a["parameter_hash"] == b["parameter_hash"]
    (ma, pa, oa), (mb, pb, ob) = load(a["checkpoint"]), load(b["checkpoint"])
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert all(torch.equal(oa["state"][i][k], ob["state"][i][k]) for i in oa["state"] for k in oa["state"][i])
    assert ma["steps"] == mb["steps"] == 128 and ma["world_size"] == 1


# ---------------------------------------------------------------------------------------- two ranks
def test_all_reduce_keeps_ranks_identical(tmp_path):
    """Two ranks (gloo on 127.0.0.1) on their own scenes, a DAgger warm start with both labelling
    their own scenes, then PPO with straggler preemption on (half the ranks done is enough): after
    the warm start and after a few updates their parameters are bit-identical (and changed)."""
    args = [*TINY, "--run-dir", str(tmp_path / "run"), "--agent", "recurrent-ppo", "--total-steps", "192",
            "--preempt", "--sync-fraction", "0.5", "--min-rollout-share", "0.25", "--imitation-steps", "96",
            "--imitation-rounds", "2"]
    outs = _launch(args, 2, tmp_path)
    start = {**_hashes(outs[0], "starts from parameters"), **_hashes(outs[1], "starts from parameters")}
    final = {**_hashes(outs[0], "parameters"), **_hashes(outs[1], "parameters")}
    assert set(final) == {0, 1} and final[0] == final[1]
    assert start[0] == start[1] and final[0] != start[0]
    ckpt = step_dirs(tmp_path / "run")[-1]
    meta = json.loads((ckpt / "meta.json").read_text())
    assert meta["world_size"] == 2 and meta["steps"] >= 192 and "rank 1:" in outs[0]
    assert meta["imitation"]["steps"] == 96 and "on 2 rank(s)" in outs[0]


def test_two_nodes_through_c10d_rendezvous(tmp_path):
    """Two "nodes" of one process each, joined by torchrun's c10d rendezvous on 127.0.0.1
    (torchrun as ``python -m torch.distributed.run``: it comes with torch, on PATH or not)."""
    torchrun = [sys.executable, "-m", "torch.distributed.run"]
    port = _free_port()
    args = [*TINY, "--run-dir", str(tmp_path / "run"), "--agent", "ppo", "--total-steps", "128", "--no-preempt"]
    procs = [subprocess.Popen([*torchrun, "--nnodes", "2", "--node-rank", str(k), "--nproc-per-node", "1",
                               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
                               "--rdzv-id", "ddppo-test",
                               "--max-restarts", "0", "--local-addr", "127.0.0.1", "-m", "earshot.agents.ddppo", *args],
                              cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_env())
             for k in range(2)]
    outs = _outputs(procs)
    final = {**_hashes(outs[0], "parameters"), **_hashes(outs[1], "parameters")}
    start = {**_hashes(outs[0], "starts from parameters"), **_hashes(outs[1], "starts from parameters")}
    assert set(final) == {0, 1} and final[0] == final[1] and final[0] != start[0]


# ---------------------------------------------------------------------------------------- resume
def test_resume_after_kill(tmp_path):
    run = tmp_path / "run"
    args = [*TINY, "--run-dir", str(run), "--agent", "recurrent-ppo", "--checkpoint-every", "64"]
    (proc,) = _ranks([*args, "--total-steps", "100000"], 1, tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and not step_dirs(run) and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    dirs = step_dirs(run)
    assert dirs, "no checkpoint was written before the kill"
    before = json.loads((dirs[-1] / "meta.json").read_text())
    saved = before["steps"]
    assert 64 <= saved < 100000
    outs = _outputs(_ranks([*args, "--total-steps", str(saved + 96)], 1, tmp_path))
    assert f"resuming {run} at step {saved:,}" in outs[0]
    meta = json.loads((step_dirs(run)[-1] / "meta.json").read_text())
    assert meta["steps"] >= saved + 96 and meta["updates"] > before["updates"]


@pytest.mark.slow
def test_resume_with_another_world_size_and_same_seed_two_ranks(tmp_path):
    """A 1-rank run resumed by 2 ranks; and 2 ranks twice with the same seed (preemption off) write
    identical checkpoints."""
    run = tmp_path / "run"
    _outputs(_ranks([*TINY, "--run-dir", str(run), "--total-steps", "64"], 1, tmp_path))
    outs = _launch([*TINY, "--run-dir", str(run), "--total-steps", "192"], 2, tmp_path)
    assert f"resuming {run} at step 64" in outs[0]
    assert json.loads((step_dirs(run)[-1] / "meta.json").read_text())["world_size"] == 2
    hashes = []
    for name in ("a", "b"):
        outs = _launch([*TINY, "--run-dir", str(tmp_path / name), "--total-steps", "192", "--no-preempt"], 2,
                       tmp_path)
        hashes.append(_hashes(outs[0] + outs[1], "parameters"))
    assert hashes[0] == hashes[1] and hashes[0][0] == hashes[0][1]
    pa, pb = load(step_dirs(tmp_path / "a")[-1])[1], load(step_dirs(tmp_path / "b")[-1])[1]
    assert all(torch.equal(pa[k], pb[k]) for k in pa)


def test_preemption_counts_finished_ranks_in_the_store():
    """A rank stops once ceil(fraction * world) ranks finished, never before its minimum share;
    off, or in a world of 1, it collects exactly n_steps."""
    import torch.distributed as dist

    store = dist.HashStore()
    world = World(rank=0, size=4, store=store)
    p = Preemption(world, n_steps=100, fraction=0.6, min_share=0.25, prefix="t")
    assert not p.should_stop(0, 50)
    p.finished(0)  # (another rank's) rollout done: 1 of the 3 needed
    store.add("t/done/0", 1)
    assert not p.should_stop(0, 60)
    store.add("t/done/0", 1)
    assert not p.should_stop(0, 24) and p.should_stop(0, 25) and not p.should_stop(1, 50)
    off = Preemption(world, n_steps=100, enabled=False, prefix="t")
    alone = Preemption(World(), n_steps=100, fraction=0.0)
    assert not off.should_stop(0, 99) and off.should_stop(0, 100) and not alone.should_stop(0, 99)


def test_resume_refuses_another_policy(tmp_path):
    def config(agent):
        return TrainConfig(run_dir=str(tmp_path / "run"), total_steps=64, n_envs=2, n_steps=16, agent=agent,
                           hidden=16, gru_hidden=8, device="cpu", log_every=1000, eval_every=0, progress=False)

    DDPPOTrainer(config("ppo"), make_env=lambda shard: MaskedEnv(), world=World()).train()
    with pytest.raises(ValueError, match="--agent"):
        DDPPOTrainer(config("recurrent-ppo"), make_env=lambda shard: MaskedEnv(), world=World()).train()


def test_gae_matches_the_discounted_returns_and_stops_at_episode_ends():
    """With λ = 1 the GAE return of each step is the discounted sum of the rewards to its
    episode's end (plus γ^k V(last) when the rollout cuts an episode); with λ = 0 the advantage
    is the one-step TD error. Env 0 ends an episode after step 1, env 1 runs on."""
    space = gym.spaces.Dict({"pointgoal_with_gps_compass": gym.spaces.Box(-1, 1, (2,), np.float32)})
    r = Rollout(space, 4, 2, 4, torch.zeros(1, 2, 0))
    values = torch.tensor([[0.5, 1.0], [0.2, -1.0], [0.3, 0.0], [0.1, 2.0]])
    rewards = np.array([[1.0, 0.0], [2.0, 1.0], [0.0, 0.0], [4.0, 3.0]])
    for t in range(4):
        r.add(torch.zeros(2, dtype=torch.long), torch.zeros(2), values[t], rewards[t], np.array([t == 1, False]))
    last = torch.tensor([10.0, 5.0])
    g = 0.9
    r.compute_returns(last, g, 1.0)
    expect0 = [1 + g * 2, 2, 0 + g * 4 + g * g * 10, 4 + g * 10]
    expect1 = [sum(g ** (k - t) * rewards[k, 1] for k in range(t, 4)) + g ** (4 - t) * 5 for t in range(4)]
    assert torch.allclose(r.returns[:, 0], torch.tensor(expect0, dtype=torch.float32), atol=1e-5)
    assert torch.allclose(r.returns[:, 1], torch.tensor(expect1, dtype=torch.float32), atol=1e-5)
    assert torch.allclose(r.advantages, r.returns - values, atol=1e-6)
    r.compute_returns(last, g, 0.0)
    nxt = torch.cat([values[1:], last[None]])
    alive = torch.tensor([[1.0, 1.0], [0.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    td = torch.as_tensor(rewards, dtype=torch.float32) + g * nxt * alive - values
    assert torch.allclose(r.advantages, td, atol=1e-5)


class Bandit(gym.Env):
    """A contextual bandit in 8-step episodes: the rewarded action is 1 when the observation's
    first coordinate is positive, else 2 (a uniform policy earns 2 per episode, the best 8)."""

    observation_space = gym.spaces.Dict({"pointgoal_with_gps_compass": gym.spaces.Box(-1, 1, (2,), np.float32)})
    action_space = gym.spaces.Discrete(4)

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._t = 0
        self._x = self._rng.uniform(-1, 1, 2).astype(np.float32)
        return {"pointgoal_with_gps_compass": self._x}, {}

    def step(self, action):
        reward = float(action == (1 if self._x[0] > 0 else 2))
        self._t += 1
        self._x = self._rng.uniform(-1, 1, 2).astype(np.float32)
        return {"pointgoal_with_gps_compass": self._x}, reward, False, self._t >= 8, {}


@pytest.mark.parametrize("agent", ["ppo", "recurrent-ppo"])
def test_ppo_learns_a_contextual_bandit(tmp_path, agent):
    """The PPO update improves a policy: after 6k steps the rewarded action's probability is far
    above a uniform policy's 0.25 on fresh observations."""
    config = TrainConfig(run_dir=str(tmp_path / "run"), total_steps=6000, n_envs=2, n_steps=64, agent=agent,
                         hidden=16, gru_hidden=16, device="cpu", log_every=1000, eval_every=0, progress=False,
                         ent_coef=0.01, learning_rate=1e-3)
    out = DDPPOTrainer(config, make_env=lambda shard: Bandit(), world=World()).train()
    meta, weights, _ = load(out["checkpoint"])
    policy = ActorCritic(Bandit.observation_space, 4, 16, 16 if agent == "recurrent-ppo" else 0)
    policy.load_state_dict(weights)
    x = torch.as_tensor(np.random.default_rng(1).uniform(-1, 1, (256, 2)).astype(np.float32))
    dist, _ = policy.sequence({"pointgoal_with_gps_compass": x[None]}, torch.ones(1, 256, dtype=torch.bool),
                              policy.initial_state(256))
    good = torch.where(x[:, 0] > 0, 1, 2)
    p_good = dist.probs[0].gather(1, good[:, None]).mean().item()
    assert meta["steps"] >= 6000 and p_good >= 0.4, p_good  # uniform: 0.25


def _bandit_policy(checkpoint, agent: str):
    """(the probabilities ``[256, 4]`` of a bandit checkpoint's policy on fixed fresh observations,
    the rewarded actions)."""
    _, weights, _ = load(checkpoint)
    policy = ActorCritic(Bandit.observation_space, 4, 16, 16 if agent == "recurrent-ppo" else 0)
    policy.load_state_dict(weights)
    x = torch.as_tensor(np.random.default_rng(1).uniform(-1, 1, (256, 2)).astype(np.float32))
    with torch.no_grad():
        dist, _ = policy.sequence({"pointgoal_with_gps_compass": x[None]}, torch.ones(1, 256, dtype=torch.bool),
                                  policy.initial_state(256))
    return dist.probs[0], torch.where(x[:, 0] > 0, 1, 2)


@pytest.mark.parametrize("agent", ["ppo", "recurrent-ppo"])
def test_anchor_keeps_ppo_close_to_the_policy_it_started_from(tmp_path, agent):
    """--anchor-coef: PPO from a policy that mostly STOPs (the anchor, via --init) with a strong KL
    term stays near it, while the same run without the term learns the bandit and leaves it; the
    term's value is logged; a run with nothing to anchor to is one clear error."""
    from earshot.agents.ddppo.anchor import anchor_kl

    common = dict(n_envs=2, n_steps=64, agent=agent, hidden=16, gru_hidden=16, device="cpu", log_every=1000,
                  eval_every=0, progress=False, ent_coef=0.01, learning_rate=1e-3)
    start = DDPPOTrainer(TrainConfig(run_dir=str(tmp_path / "start"), total_steps=128, stop_prior=0.7,
                                     **{**common, "learning_rate": 1e-9}),
                         make_env=lambda shard: Bandit(), world=World()).train()["checkpoint"]
    anchor_p, good = _bandit_policy(start, agent)
    assert anchor_p[:, 0].mean() == pytest.approx(0.7, abs=0.05)
    out = {}
    for coef in (0.0, 5.0):
        config = TrainConfig(run_dir=str(tmp_path / f"kl{coef:g}"), total_steps=4000, init=str(start),
                             anchor_coef=coef, **common)
        p, _ = _bandit_policy(DDPPOTrainer(config, make_env=lambda shard: Bandit(), world=World()).train()["checkpoint"],
                              agent)
        out[coef] = (anchor_kl(anchor_p.log(), p.log()).item(), p.gather(1, good[:, None]).mean().item())
    (kl_free, good_free), (kl_anchored, good_anchored) = out[0.0], out[5.0]
    assert good_free > good_anchored + 0.1, out  # both started at 0.1
    assert kl_anchored < kl_free / 10, out
    assert anchor_kl(anchor_p.log(), anchor_p.log()).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="--anchor-coef keeps PPO close to the policy it starts from"):
        DDPPOTrainer(TrainConfig(run_dir=str(tmp_path / "none"), total_steps=64, anchor_coef=1.0, **common),
                     make_env=lambda shard: Bandit(), world=World()).train()


def _assert_acts_as_without(policy, small, env, added: str, steps: int) -> None:
    """``policy`` (with the observation key ``added``) and ``small`` (without it) give the same
    actions, log-probabilities, values and GRU states step by step over an episode of ``env``
    whose new key varies (random moves)."""
    obs, _ = env.reset(seed=3)
    h_new = h_old = policy.initial_state(1)
    for t in range(steps):
        x = {k: torch.as_tensor(v)[None] for k, v in obs.items()}
        starts = torch.tensor([t == 0])
        a_new, logp_new, v_new, h_new = policy.act(x, starts, h_new, deterministic=True)
        a_old, logp_old, v_old, h_old = small.act({k: v for k, v in x.items() if k != added}, starts, h_old,
                                                  deterministic=True)
        assert a_new.item() == a_old.item() and torch.allclose(logp_new, logp_old) and torch.allclose(v_new, v_old)
        assert torch.allclose(h_new, h_old)
        obs, _, term, trunc, _ = env.step(int(np.random.default_rng(t).integers(1, 4)))  # vary the new key
        if term or trunc:
            break


def test_init_adds_a_sensor_to_a_policy_whose_heads_read_the_features_beside_the_gru(tmp_path):
    """With ``skip`` (the recurrent waypoint agent's policy) the heads read the GRU's output and
    the extractor's features: a new key's columns start at zero there too, so the policy with
    the key acts exactly as the one without it, step by step."""
    import earshot.av_env  # noqa: F401  (registers the env ids)
    from earshot.agents import checkpoints

    small_env = gym.make("earshot/PointGoal-v0", scenes=2, **json.loads(ENV_KWARGS))
    kwargs = {**json.loads(ENV_KWARGS), "sensors": ["depth", "pointgoal_with_gps_compass", "last_action"]}
    env = gym.make("earshot/PointGoal-v0", scenes=2, **kwargs)
    torch.manual_seed(0)
    small = ActorCritic(small_env.observation_space, 4, 16, 16, skip=True)
    checkpoints.save_checkpoint(tmp_path / "old", small, None,
                                {"agent": "recurrent-ppo", "task": "earshot/PointGoal-v0", "steps": 0})
    old = tmp_path / "old"
    policy = ActorCritic(env.observation_space, 4, 16, 16, skip=True)
    grown = policy.action_head.weight.shape[1] - small.action_head.weight.shape[1]
    assert grown == policy.extractor.feature_sizes["last_action"] > 0  # the heads read the new key's features
    assert checkpoints.load_init_weights(policy, old, read_meta(old)) == ["last_action"]
    _assert_acts_as_without(policy, small, env, "last_action", steps=12)


@pytest.mark.parametrize("added", ["last_action", "local_map"])
def test_init_from_a_checkpoint_without_an_opt_in_sensor_starts_as_it_and_learns_on(tmp_path, added):
    """--init from a checkpoint trained without an opt-in key (a vector, ``last_action``, or a
    map with its own CNN, ``local_map``): the new key's weights into the GRU start at zero, so
    the policy acts exactly as the checkpoint's (same logits, same GRU state over a whole
    episode) and training then goes on; a key of another shape is refused."""
    from earshot.agents import checkpoints
    from earshot.cli import parse_config

    old = _run_in_process(tmp_path / "old", "gru", total=64)["checkpoint"]
    sensors = ["depth", "pointgoal_with_gps_compass", added]
    kwargs = {**json.loads(ENV_KWARGS), "sensors": sensors}
    env = gym.make("earshot/PointGoal-v0", scenes=2, **kwargs)
    meta = read_meta(old)
    policy = ActorCritic(env.observation_space, 4, 16, 16)
    assert checkpoints.load_init_weights(policy, old, meta) == [added]
    small_env = gym.make("earshot/PointGoal-v0", scenes=2, **json.loads(ENV_KWARGS))
    small, _ = checkpoints.load_policy(old, small_env.observation_space, small_env.action_space)
    _assert_acts_as_without(policy, small, env, added, steps=15)
    config = parse_config(TrainConfig, "", [*TINY, "--run-dir", str(tmp_path / "new"), "--agent", "recurrent-ppo",
                                            "--total-steps", "64", "--init", str(old),
                                            "--env-kwargs", json.dumps(kwargs)])
    out = DDPPOTrainer(config, world=World()).train()
    new_meta, weights, _ = load(out["checkpoint"])
    assert new_meta["init"]["added_observations"] == [added] and added in new_meta["observation"]
    assert any(k.startswith(f"extractor.encoders.{added}.") for k in weights)
    wider = {**json.loads(ENV_KWARGS), "resolution": 40}
    config = parse_config(TrainConfig, "", [*TINY, "--run-dir", str(tmp_path / "bad"), "--agent", "recurrent-ppo",
                                            "--total-steps", "64", "--init", str(old), "--env-kwargs", json.dumps(wider)])
    with pytest.raises(ValueError, match="trained on observations"):
        DDPPOTrainer(config, world=World()).train()


def test_the_semantic_sensor_reaches_the_policy_as_the_goal_category_mask(tmp_path):
    """With ``category`` observed, the extractor turns the per-pixel categories into the mask of
    the goal's category (and of any object), exactly the pixels the sensor labels with it; a
    policy given ``semantic`` by ``--init`` acts as before, step by step."""
    import earshot.av_env  # noqa: F401  (registers the env ids)
    from earshot.agents import checkpoints
    from earshot.agents.ddppo.policy import preprocess

    base = {"scenes": 1, "resolution": 48, "renderer": "raycast"}
    small_env = gym.make("earshot/SemanticAudioGoal-v0", sensors=["depth", "category"], **base)
    env = gym.make("earshot/SemanticAudioGoal-v0", sensors=["depth", "category", "semantic"], **base)
    torch.manual_seed(0)
    small = ActorCritic(small_env.observation_space, 4, 16, 16)
    checkpoints.save_checkpoint(tmp_path / "old", small, None,
                                {"agent": "recurrent-ppo", "task": "earshot/SemanticAudioGoal-v0", "steps": 0})
    policy = ActorCritic(env.observation_space, 4, 16, 16)
    encoder = policy.extractor.encoders["semantic"]
    obs, _ = env.reset(seed=2)
    goal_pixels = frames = 0
    while frames < 200 and goal_pixels < 50:
        frames += 1
        x = preprocess(env.observation_space, {k: torch.as_tensor(v)[None] for k, v in obs.items()})
        masks = encoder.masks(x["semantic"], x["category"])[0].numpy()
        labels = obs["semantic"][..., 0].astype(int)
        goal = int(np.argmax(obs["category"])) + 1
        np.testing.assert_array_equal(masks[0], labels == goal)
        np.testing.assert_array_equal(masks[1], labels > 0)
        goal_pixels += int((labels == goal).sum())
        action = env.unwrapped.oracle_action()  # towards the goal's category, then looking round there
        obs, _, term, trunc, _ = env.step(action or 2)
        if term or trunc:
            obs, _ = env.reset()
    assert goal_pixels >= 50  # the goal's category was in view
    assert checkpoints.load_init_weights(policy, tmp_path / "old", read_meta(tmp_path / "old")) == ["semantic"]
    _assert_acts_as_without(policy, small, env, "semantic", steps=12)

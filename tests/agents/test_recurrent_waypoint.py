"""The recurrent waypoint agent (``--agent recurrent-waypoint``): its GRU steps through every
primitive state the agent passes, when acting and when DAgger collects and fits, so what it is
fitted on is the stream it acts on."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import earshot.av_env  # noqa: E402,F401
from earshot.agents.ddppo.policy import ActorCritic  # noqa: E402
from earshot.agents.kinds import AGENT_KINDS  # noqa: E402

KIND = AGENT_KINDS["recurrent-waypoint"]
KWARGS = dict(split="train", scenes=1, resolution=40, renderer="raycast", max_steps=500,
              audio="spectrogram+onset-cues", sensors=["depth", "spectrogram", "onset_cues"])


def _env_and_policy(seed=0):
    env = KIND.wrap(gym.make("earshot/AudioGoal-v0", **KWARGS))
    torch.manual_seed(seed)
    policy = ActorCritic(env.observation_space, int(env.action_space.n), hidden=32, gru_hidden=16, skip=KIND.skip)
    policy.eval()
    return env, policy


def _stream_state(policy, stream):
    """The GRU state after ``policy`` runs over ``stream`` (observations, the first an episode's start)."""
    obs = {k: torch.as_tensor(np.stack([np.asarray(o[k]) for o in stream])[:, None]) for k in stream[0]}
    starts = torch.zeros(len(stream), 1, dtype=torch.bool)
    starts[0] = True
    with torch.no_grad():
        return policy._core(obs, starts, policy.initial_state(1))[1]


def test_acting_steps_the_gru_through_every_state_walked_through():
    env, policy = _env_and_policy()
    act = KIND.actor(policy, env, deterministic=True)
    obs, _ = env.reset(seed=1)
    stream, decisions, primitive = [obs], [obs], 0
    for _ in range(6):
        _, _, term, trunc, info = env.step(act(obs))
        if term or trunc:
            break
        primitive += info["primitive_steps"]
        obs = env.last_observation
        stream += [*env.passed, obs]
        decisions.append(obs)
    act(obs)  # steps through the last walk, then decides
    assert len(stream) == primitive + 1 > len(decisions)  # one observation per primitive step
    # the actor's state is the GRU run over every primitive state, not over its decisions only
    assert torch.allclose(act.hidden, _stream_state(policy, stream), atol=1e-5)
    assert not torch.allclose(act.hidden, _stream_state(policy, decisions), atol=1e-3)
    env.close()


def test_dagger_records_and_fits_the_stream_it_acted_on():
    from earshot.agents.imitation import ImitationConfig, _collect, _Dataset

    env, policy = _env_and_policy()
    config = ImitationConfig(150, rounds=1, beta=0.0, stored_state=True)  # the policy acts in every step
    data, between = _Dataset(), []
    totals = {"steps": 0}
    rng = np.random.default_rng(0)
    with KIND.labelling_between_decisions(env, lambda o, label: between.append((o, label))):
        obs, _ = env.reset(seed=2)
        _collect(KIND, policy, env, obs, data, between, 0, 150, totals, config, rng, torch.Generator().manual_seed(0),
                 "cpu", None, 1)
    n = len(data.labels)
    assert n == totals["steps"] and len(data.returns) < n  # every primitive state, fewer decisions
    # the state each was acted on with is the GRU run over the recorded stream from its episode's
    # start (the observations are stored as float16: close, not equal)
    starts = np.flatnonzero(data.starts)
    assert starts[0] == 0
    stored = data.hidden.view()
    for i in (1, 5, n // 2, n - 1):
        first = starts[starts <= i].max()
        stream = [{k: v.view()[j].astype(np.float32) if v.view().dtype == np.float16 else v.view()[j]
                   for k, v in data.obs.items()} for j in range(first, i)]
        expected = _stream_state(policy, stream)[0, 0].numpy() if stream else np.zeros(16, np.float32)
        assert np.allclose(stored[i], expected, atol=2e-2), i
    assert not np.allclose(stored[n // 2], stored[n // 2 + 1], atol=1e-3)  # it moved between two walked states
    # each decision's state is marked as one, the states walked through between them are not
    assert sum(data.at_decision) == len(data.returns) and data.at_decision[0]
    env.close()


def test_the_decision_weight_makes_the_fit_follow_the_decisions_labels():
    """``decision_weight``: a large weight on the decisions' states leaves the walked states'
    labels (nearly) without effect on the fit; at weight 1 they weigh as much as any."""
    import copy

    from earshot.agents.ddppo.distributed import World
    from earshot.agents.imitation import ImitationConfig, _collect, _Dataset, _fit

    env, policy = _env_and_policy()
    data, between = _Dataset(), []
    with KIND.labelling_between_decisions(env, lambda o, label: between.append((o, label))):
        obs, _ = env.reset(seed=3)
        _collect(KIND, policy, env, obs, data, between, 0, 200, {"steps": 0}, ImitationConfig(200, rounds=1, beta=0.0),
                 np.random.default_rng(0), torch.Generator().manual_seed(0), "cpu", None, 1)
    env.close()
    walked = ~np.asarray(data.at_decision)
    assert walked.any() and not walked.all()
    relabelled = copy.copy(data)
    targets = np.asarray(data.targets).copy()
    targets[walked] = np.roll(targets[walked], 7, axis=-1)  # other waypoints for the walked states only
    relabelled.targets = list(targets)

    def fitted(dataset, weight):
        p = copy.deepcopy(policy)
        config = ImitationConfig(200, epochs=2, decision_weight=weight, vf_coef=0.0)  # the actor loss alone
        *_, decision_accuracy = _fit(p, torch.optim.SGD(p.parameters(), lr=0.1), dataset, config,
                                     np.random.default_rng(1), "cpu", World())
        assert 0.0 <= decision_accuracy <= 1.0
        return torch.cat([q.detach().flatten() for q in p.parameters()])

    start = torch.cat([q.detach().flatten() for q in policy.parameters()])
    moved = (fitted(data, 1.0) - start).abs().max()
    assert (fitted(data, 1.0) - fitted(relabelled, 1.0)).abs().max() > 0.1 * moved  # the walked labels count
    assert (fitted(data, 1e6) - fitted(relabelled, 1e6)).abs().max() < 0.01 * moved  # ... and here they do not


def test_a_short_dagger_run_and_what_it_refuses(tmp_path):
    from earshot.agents.imitation import ImitationConfig, imitate
    from earshot.agents.training import TrainConfig

    env, policy = _env_and_policy()
    out = imitate(KIND, policy, env, ImitationConfig(120, rounds=2), progress=False)
    assert out["samples"] == out["steps"] >= 120 > out["decisions"]
    assert env.primitive_hook is None  # handed back
    with pytest.raises(ValueError, match="steps through every state it walks through"):
        imitate(KIND, policy, env, ImitationConfig(50, rounds=1, every_primitive=False), progress=False)
    env.close()
    with pytest.raises(ValueError, match="trains by DAgger only"):
        TrainConfig(run_dir=str(tmp_path / "run"), agent="recurrent-waypoint", total_steps=100).check()
    with pytest.raises(ValueError, match="--imitation-decision-weight"):
        TrainConfig(run_dir=str(tmp_path / "run"), agent="recurrent-ppo", imitation_steps=100,
                    imitation_decision_weight=2.0).check()


def test_the_listening_ablation_holds_the_sound_in_the_walked_states_too():
    from earshot.agents.evaluation import constant_audio_actor

    class Walker:  # an actor that also reads the states walked through (as the recurrent waypoint agent's)
        def __init__(self):
            self.walked = [{"spectrogram": np.full(2, 7.0), "depth": np.ones(1)}]
            self.passed = lambda: self.walked
            self.seen = []

        def __call__(self, obs):
            self.seen.append(obs)
            return 0

    inner = Walker()
    actor = constant_audio_actor(inner, ["spectrogram"])
    actor({"spectrogram": np.zeros(2), "depth": np.zeros(1)})
    walked = inner.passed()[0]
    assert np.array_equal(walked["spectrogram"], np.zeros(2)) and np.array_equal(walked["depth"], np.ones(1))


def test_skip_heads_read_the_features_beside_the_gru_and_the_checkpoint_keeps_it(tmp_path):
    from earshot.agents import checkpoints
    from earshot.agents.ddppo.policy import preprocess

    env, policy = _env_and_policy()
    obs, _ = env.reset(seed=3)
    assert policy.skip and policy.action_head.in_features == 16 + policy.extractor.features_dim
    probe = {k: torch.as_tensor(np.asarray(v)[None, None]) for k, v in obs.items()}
    starts = torch.ones(1, 1, dtype=torch.bool)
    with torch.no_grad():  # the heads see the step's features: with the GRU's output zeroed they still move
        policy.gru.weight_ih_l0.zero_()
        policy.gru.bias_ih_l0.zero_()
        policy.gru.bias_hh_l0.zero_()
        features = policy.extractor(preprocess(policy.env_space, {k: v[0] for k, v in probe.items()}))
        want = torch.log_softmax(policy.action_head(torch.cat([torch.zeros(1, 16), features], -1)), -1)
        torch.testing.assert_close(policy.sequence(probe, starts, policy.initial_state(1))[0].logits[0], want)
    folder = checkpoints.save_checkpoint(tmp_path / "rw", policy, None, {
        "agent": "recurrent-waypoint", "task": "earshot/AudioGoal-v0", "env_kwargs": {}, "steps": 0})
    meta = checkpoints.read_meta(folder)
    assert meta["policy"] == {"hidden": 32, "gru_hidden": 16, "skip": True}
    loaded, _ = checkpoints.load_policy(folder, policy.env_space, env.action_space)
    assert loaded.skip
    torch.testing.assert_close(loaded.sequence(probe, starts, loaded.initial_state(1))[0].logits,
                               policy.sequence(probe, starts, policy.initial_state(1))[0].logits)
    with pytest.raises(ValueError, match="give gru_hidden > 0"):
        ActorCritic(policy.env_space, 82, 32, 0, skip=True)
    env.close()

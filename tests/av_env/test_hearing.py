"""What the agent hears in the env: the head (KEMAR by default) and the audio features that keep
direction (audio="binaural-cues" | "gcc-phat" | "onset-cues", joined by "+")."""

import warnings

import gymnasium as gym
import numpy as np
import pytest

from earshot.acoustics import AudioConfig, MeasuredHead, SphericalHead
import earshot.av_env  # noqa: F401  (registers the envs)
from earshot.acoustics.cues import audio_feature

FAST = dict(scenes=1, episodes_per_scene=4, resolution=32)


def test_default_env_hears_with_kemar_and_the_head_is_an_option():
    env = gym.make("earshot/AudioGoal-v0", **FAST).unwrapped
    assert isinstance(env.sim.head, MeasuredHead)
    obs, _ = env.reset(seed=3)
    sphere = gym.make("earshot/AudioGoal-v0", audio_config=AudioConfig(head="sphere"), **FAST).unwrapped
    assert isinstance(sphere.sim.head, SphericalHead)
    obs_s, _ = sphere.reset(seed=3)
    # same episode, same RIR: another head gives another observation
    np.testing.assert_array_equal(obs["depth"], obs_s["depth"])
    assert not np.array_equal(obs["spectrogram"], obs_s["spectrogram"])


def test_direction_features_are_observed_with_the_spectrogram_and_pass_the_checkers():
    from gymnasium.utils.env_checker import check_env

    env = gym.make("earshot/AudioGoal-v0", audio="spectrogram+gcc-phat+binaural-cues+onset-cues", **FAST).unwrapped
    for key in ("spectrogram", "gcc_phat", "binaural_cues", "onset_cues"):
        assert key in env.observation_space.spaces
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        for key, space in env.observation_space.spaces.items():
            assert space.contains(obs[key]), key
        # the features are those of the audio the agent heard this step
        np.testing.assert_array_equal(obs["gcc_phat"], audio_feature("gcc-phat", env.sim.audio(), env.sim.cfg))
        obs, _, terminated, truncated, _ = env.step(1)  # forward (or bump): never STOP
        if terminated or truncated:
            obs, _ = env.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(gym.make("earshot/AudioGoal-v0", audio="binaural-cues", **FAST).unwrapped, skip_render_check=True)


def test_bad_audio_option_is_one_clear_error():
    with pytest.raises(ValueError, match="audio must be one of"):
        gym.make("earshot/AudioGoal-v0", audio="mfcc", **FAST)
    with pytest.raises(ValueError, match="names a feature twice"):
        gym.make("earshot/AudioGoal-v0", audio="gcc-phat+gcc-phat", **FAST)


def test_an_agent_trains_on_direction_features():
    """The policy's extractor takes the cue maps (negative values, not log-compressed)."""
    import torch

    from earshot.agents.extractor import AVNavExtractor

    env = gym.make("earshot/AudioGoal-v0", audio="binaural-cues+gcc-phat", sensors=["binaural_cues", "gcc_phat"],
                   **FAST).unwrapped
    obs, _ = env.reset(seed=1)
    ext = AVNavExtractor(env.observation_space, hidden=16)
    batch = {k: torch.as_tensor(v)[None] for k, v in obs.items()}
    out = ext(batch)
    assert out.shape == (1, 32) and torch.isfinite(out).all()


def test_head_is_a_flat_env_argument_for_sounds_and_echoes():
    env = gym.make("earshot/AudioGoal-v0", head="sphere", echoes=True, **FAST).unwrapped
    assert env.cfg.head == "sphere" and env.sim.echo_config.head == "sphere"
    assert isinstance(env.sim.head, SphericalHead)
    with pytest.raises(ValueError, match="head must be one of"):
        gym.make("earshot/AudioGoal-v0", head="kemar2", **FAST)


def test_the_shipped_agent_is_evaluated_in_the_simulator_it_was_trained_in():
    """The shipped agent's meta.json records the simulator it was trained in, and the env that
    evaluate.py builds from its env settings is that simulator (head, acoustics, features, sensors,
    motion): no setting differs."""
    from earshot.agents.checkpoints import read_meta, resolve_checkpoint, simulator_differences
    from earshot.agents.evaluation import eval_env

    meta = read_meta(resolve_checkpoint("audiogoal"))
    assert meta["simulator"]["audio"]["head"] == "kemar" and meta["simulator"]["audio"]["tail"] == "traced"
    env = eval_env(meta["task"], "test", 1, meta["env_kwargs"], agent=meta["agent"])
    try:
        assert simulator_differences(meta, env) == []
    finally:
        env.close()


def test_a_checkpoint_records_its_task_parameters_and_a_different_one_is_reported():
    """The record holds the task's parameters (moving_source's distractor mode among them); an
    env built with another value is named in the differences; a record without them (written
    before they were recorded) is compared on the rest only."""
    from earshot.agents.checkpoints import simulator_differences, simulator_record

    trained = gym.make("earshot/MovingSource-v0", distractor_mode="static", **FAST)
    now = gym.make("earshot/MovingSource-v0", **FAST)
    record = simulator_record(trained)
    assert record["task"] == {"distractor_mode": "static", "failed_stop_reward": 0.0, "num_distractors": 2,
                              "p_move": 0.3, "revisit_reward": 0.0, "spl_reward": False}
    assert simulator_differences({"simulator": record}, trained) == []
    assert simulator_differences({"simulator": record}, now) == [
        "task.distractor_mode: trained with 'static', now 'transient'"]
    older = {k: v for k, v in record.items() if k != "task"}
    assert simulator_differences({"simulator": older}, now) == []
    # a parameter added after a checkpoint was written counts as its default there
    before_revisit = {**record, "task": {k: v for k, v in record["task"].items() if k != "revisit_reward"}}
    assert simulator_differences({"simulator": before_revisit}, trained) == []
    penalised = gym.make("earshot/MovingSource-v0", distractor_mode="static", revisit_reward=-0.1, **FAST)
    assert simulator_differences({"simulator": before_revisit}, penalised) == [
        "task.revisit_reward: trained with 0.0, now -0.1"]


def test_the_constant_audio_ablation_feeds_the_agent_one_unchanging_sound():
    """``evaluate --constant-audio``: the actor sees the run's first audio observation at every
    step (the ablation that shows whether an agent listens); every other key passes through."""
    from earshot.agents.evaluation import constant_audio_actor

    env = gym.make("earshot/AudioGoal-v0", audio="spectrogram+onset-cues", **FAST)
    keys = env.unwrapped.observer.audio_keys
    assert keys == {"spectrogram", "onset_cues"}
    env.close()
    seen = []
    act = constant_audio_actor(lambda obs: seen.append(obs) or 1, keys)
    rng = np.random.default_rng(0)
    for _ in range(3):
        act({"spectrogram": rng.random((65, 26, 2)), "onset_cues": rng.random(8), "depth": rng.random((4, 4, 1))})
    for obs in seen[1:]:
        np.testing.assert_array_equal(obs["spectrogram"], seen[0]["spectrogram"])
        np.testing.assert_array_equal(obs["onset_cues"], seen[0]["onset_cues"])
    assert not np.array_equal(seen[1]["depth"], seen[0]["depth"])


def test_the_shipped_agent_needs_its_audio(tmp_path):
    """With the audio held constant the shipped agent's SPL collapses (it navigates by ear)."""
    from earshot.agents.evaluation import EvalConfig, evaluate

    common = dict(checkpoint="audiogoal", split="test", episodes=6, progress=False)
    heard = next(iter(evaluate(EvalConfig(**common, out=str(tmp_path / "a"))).values()))
    deaf = next(iter(evaluate(EvalConfig(**common, constant_audio=True, out=str(tmp_path / "b"))).values()))
    assert deaf["constant_audio"] and not heard["constant_audio"]
    assert deaf["spl"]["mean"] < 0.5 * heard["spl"]["mean"]

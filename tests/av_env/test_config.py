"""The env composed from frozen configs: the flat kwargs and an EnvConfig make the same env; the
configs check their values once; task options belong to the task."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import earshot.av_env  # noqa: F401
from earshot.av_env.config import FLAT_KWARGS, EnvConfig, EpisodeConfig, MotionConfig, SensorConfig
from earshot.av_env.env import AVNavEnv
from earshot.av_env.tasks import TASKS
from earshot.av_env.tasks.base import COMMON_PARAMETERS


def _rollout(env, steps=12, seed=3):
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
        out.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            obs, _ = env.reset()
            out.append(obs)
    return out


def _equal(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    return a == b


def test_flat_kwargs_and_config_make_the_same_env():
    flat = gym.make("earshot/MovingSource-v0", split="val", scenes=1, episodes_per_scene=3, resolution=32,
                    p_move=0.6, num_distractors=1, failed_stop_reward=-0.5, sensors=["depth", "spectrogram"])
    config = EnvConfig(task="moving_source", task_options={"p_move": 0.6, "num_distractors": 1, "failed_stop_reward": -0.5},
                       sensors=SensorConfig(resolution=32, sensors=("depth", "spectrogram")),
                       episodes=EpisodeConfig(split="val", scenes=1, episodes_per_scene=3))
    composed = gym.make("earshot/MovingSource-v0", config=config)
    assert flat.unwrapped.config == composed.unwrapped.config
    assert _equal(_rollout(flat), _rollout(composed))
    # the task owns its options
    task = composed.unwrapped.task_obj
    assert (task.p_move, task.num_distractors, task.failed_stop_reward) == (0.6, 1, -0.5)
    flat.close()
    composed.close()


def test_configs_are_frozen_and_resolved_once():
    grid, cont = MotionConfig(), MotionConfig("continuous")
    assert grid.turn_angle_deg == 90.0 and cont.turn_angle_deg == 10.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        grid.motion = "continuous"
    assert EpisodeConfig(spacing=1).spacing == 1.0 and isinstance(EpisodeConfig(spacing=1).spacing, float)


def test_every_flat_kwarg_lands_in_a_config_field():
    parts = {"sensors": SensorConfig, "motion": MotionConfig, "episodes": EpisodeConfig}
    for name, (part, field_name) in FLAT_KWARGS.items():
        if part in parts:
            assert field_name in {f.name for f in dataclasses.fields(parts[part])}, name
        elif part == "task_options":
            assert any(field_name in {**cls.PARAMETERS, **COMMON_PARAMETERS} for cls in TASKS.values()), name


@pytest.mark.parametrize("kwargs, message", [
    ({"resolutoin": 64}, "unknown env arguments ['resolutoin']"),
    ({"motion": "grid", "turn_angle_deg": 40}, "turn_angle_deg must divide 90"),
    ({"p_move": 0.5}, "p_move does not apply to the audiogoal task"),
    ({"failed_stop_reward": 2.0}, "failed_stop_reward must be <= 0"),
    ({"revisit_reward": 0.5}, "revisit_reward must be <= 0"),
    ({"spl_reward": "yes"}, "spl_reward must be True or False"),
])
def test_bad_kwargs_get_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        AVNavEnv("audiogoal", **kwargs)


def test_config_and_kwargs_together_are_refused():
    with pytest.raises(ValueError, match="either config"):
        AVNavEnv("audiogoal", config=EnvConfig(), scenes=1)


def test_one_listener_height_the_camera_follows_the_ears():
    """The camera sits at the ears (AudioConfig.ear_height) unless set apart on purpose: with the
    ears at 1.0 m, the floor straight below the horizon is seen from 1.0 m."""
    from earshot.acoustics import AudioConfig

    default = AVNavEnv("audiogoal", scenes=1, episodes_per_scene=2, resolution=32)
    low = AVNavEnv("audiogoal", scenes=1, episodes_per_scene=2, resolution=32, audio_config=AudioConfig(ear_height=1.0))
    apart = AVNavEnv("audiogoal", scenes=1, episodes_per_scene=2, resolution=32, audio_config=AudioConfig(ear_height=1.0),
                     camera_height=1.5)
    assert (default.camera_height, low.camera_height, apart.camera_height) == (1.5, 1.0, 1.5)
    for env in (default, low, apart):
        env.reset(seed=0)
        assert env.sim.ctx.renderer.camera.camera_height == env.camera_height
        env.close()


def test_every_task_option_is_a_flat_env_kwarg():
    """Every parameter of every task can be given flat to ``gym.make`` and reaches the task's config,
    and one the task does not take is refused by the task with one clear error."""
    from earshot.av_env.config import FLAT_KWARGS
    from earshot.av_env.tasks import TASKS

    every = set().union(*(cls.defaults() for cls in TASKS.values()))
    for task, cls in TASKS.items():
        for name, default in cls.defaults().items():
            assert FLAT_KWARGS[name] == ("task_options", name)
            config = EnvConfig.from_kwargs(task, **{name: default})
            assert config.task_options == {name: default}
        for name in sorted(every - set(cls.defaults())):
            with pytest.raises(ValueError, match=f"{name} does not apply to the {cls.name} task"):
                cls(**{name: 1})

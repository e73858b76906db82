"""earshot.av_env — Gymnasium audio-visual navigation environments.

Importing registers (lazily, by entry point) ``earshot/PointGoal-v0``, ``earshot/AudioGoal-v0``,
``earshot/AudioPointGoal-v0``, ``earshot/SemanticAudioGoal-v0``, ``earshot/MovingSource-v0`` and
``earshot/EchoDepth-v0``;
all are ``earshot.av_env.env:AVNavEnv`` with a different ``task``. ``gym.make(id, **kwargs)`` takes
the flat keyword arguments, or ``config=EnvConfig(...)`` composed from the configs of
``earshot.av_env.config``.
"""

import gymnasium as gym

from .config import AcousticsConfig, EnvConfig, EpisodeConfig, MotionConfig, SensorConfig
from .episodes import Episode, load_episodes, save_episodes

ENV_IDS = {
    "earshot/PointGoal-v0": "pointgoal",
    "earshot/AudioGoal-v0": "audiogoal",
    "earshot/AudioPointGoal-v0": "audiopointgoal",
    "earshot/SemanticAudioGoal-v0": "semantic_audiogoal",
    "earshot/MovingSource-v0": "moving_source",
    "earshot/EchoDepth-v0": "echo_depth",
}

for _env_id, _task in ENV_IDS.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point="earshot.av_env.env:AVNavEnv", kwargs={"task": _task}, max_episode_steps=None)

__all__ = ["AcousticsConfig", "ENV_IDS", "EnvConfig", "Episode", "EpisodeConfig", "MotionConfig", "SensorConfig",
           "load_episodes", "save_episodes"]

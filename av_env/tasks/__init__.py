"""Tasks: small classes whose hooks receive the Simulator; they hold no state of their own
beyond their parameters. ``TASKS`` maps each task name to its class."""

from .audiogoal import AudioGoalTask, AudioPointGoalTask
from .base import Task
from .echo import EchoDepthTask
from .moving import MovingSourceTask
from .pointgoal import PointGoalTask
from .semantic import SemanticAudioGoalTask

TASKS: dict[str, type[Task]] = {
    "pointgoal": PointGoalTask,
    "audiogoal": AudioGoalTask,
    "audiopointgoal": AudioPointGoalTask,
    "semantic_audiogoal": SemanticAudioGoalTask,
    "moving_source": MovingSourceTask,
    "echo_depth": EchoDepthTask,
}

__all__ = ["TASKS", "AudioGoalTask", "EchoDepthTask", "AudioPointGoalTask", "MovingSourceTask", "PointGoalTask", "SemanticAudioGoalTask", "Task"]

from .base import Task


class AudioGoalTask(Task):
    """Reach the source of a sound heard binaurally (SoundSpaces AudioGoal)."""

    name = "audiogoal"


class AudioPointGoalTask(AudioGoalTask):
    """AudioGoal plus the GPS + compass point goal (SoundSpaces AudioPointGoal)."""

    name = "audiopointgoal"
    uses_pointgoal = True

from .base import Task


class PointGoalTask(Task):
    """Reach a point given by GPS + compass (distance, angle); no sound."""

    name = "pointgoal"
    uses_audio = False
    uses_pointgoal = True

import numpy as np
from gymnasium import spaces

from ...scenes import CATEGORIES

from .base import Task


class SemanticAudioGoalTask(Task):
    """SAVi-style: the sound comes from an object of a category and stops after the episode's
    ``sound_seconds``; success is stopping near any instance of that category. The category is
    observed as a one-hot over ``earshot.scenes.CATEGORIES``."""

    name = "semantic_audiogoal"

    def observation_spaces(self):
        return {"category": spaces.Box(0.0, 1.0, (len(CATEGORIES),), np.float32)}

    def goal_nodes(self, sim, episode):
        g = sim.graph
        nodes = {int(g.nearest_node(o.center[:2])) for o in sim.ctx.scene.objects_of(episode.category)}
        return sorted(nodes) or [episode.goal_node]

    def observe(self, sim, episode):
        onehot = np.zeros(len(CATEGORIES), np.float32)
        onehot[CATEGORIES.index(episode.category)] = 1.0
        return {"category": onehot}

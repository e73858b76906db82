import numpy as np
from gymnasium import spaces

from ...scenes import CATEGORIES
from .base import Task


class SemanticAudioGoalTask(Task):
    """SAVi-style: the sound comes from an object of a category and stops after the episode's
    ``sound_seconds`` (5–15 s); success is stopping near any instance of that category. The
    category is observed as a one-hot over ``earshot.scenes.CATEGORIES``; SPL's shortest path is
    to the nearest instance."""

    name = "semantic_audiogoal"

    def observation_spaces(self):
        return {"category": spaces.Box(0.0, 1.0, (len(CATEGORIES),), np.float32)}

    def sample_goal(self, scene, graph, rng, distances, lo, hi):
        if not scene.objects:
            raise ValueError(f"scene {scene.name!r} has no objects for the semantic_audiogoal task")
        obj = scene.objects[int(rng.integers(len(scene.objects)))]
        return int(graph.nearest_node(obj.center[:2])), obj.category

    def episode_extras(self, rng, sounds, sound, n_nodes):
        return {"sound_seconds": float(rng.uniform(5.0, 15.0))}

    def check_episode(self, episode):
        if not episode.category:
            raise ValueError(f"episode {episode.episode_id!r} has no goal category, which the semantic_audiogoal task needs")

    def goal_nodes(self, sim, episode):
        g = sim.graph
        nodes = {int(g.nearest_node(o.center[:2])) for o in sim.ctx.scene.objects_of(episode.category)}
        return sorted(nodes) or [episode.goal_node]

    def shortest_distance(self, episode, start_distance):
        return start_distance  # to the nearest instance of the category

    def observe(self, sim, episode):
        onehot = np.zeros(len(CATEGORIES), np.float32)
        onehot[CATEGORIES.index(episode.category)] = 1.0
        return {"category": onehot}

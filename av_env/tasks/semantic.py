import numpy as np
from gymnasium import spaces

from ...scenes import CATEGORIES
from ...scenes.checks import check_choice, check_number
from ...scenes.render.camera import DEFAULT_CAMERA_HEIGHT
from .base import Task

GOAL_AREAS = ("view_points", "object_node")


def view_nodes(scene, graph, index: int, radius: float) -> list[int]:
    """The NavGraph nodes that view object ``index`` of ``scene``: within ``radius`` metres of its
    footprint (horizontally, to the nearest point of its bounding box) and with a line of sight to
    it. The sight lines run from the node at the eyes' height (``DEFAULT_CAMERA_HEIGHT``) and at
    the object's own mid-height, to the footprint's nearest point at the object's mid-height and
    near its top; one that reaches the object (or the box, unblocked) is enough. Habitat's ObjectNav
    and SoundSpaces' SAVi episodes call these the object's view points."""
    obj = scene.objects[index]
    xy = graph.positions[:, :2]
    lo, hi = obj.bbox_min[:2], obj.bbox_max[:2]
    near = np.clip(xy, lo, hi)
    candidates = np.flatnonzero(np.linalg.norm(xy - near, axis=1) <= radius)
    if len(candidates) == 0:
        return []
    z0, z1 = float(obj.bbox_min[2]), float(obj.bbox_max[2])
    floor = graph.positions[candidates, 2]
    # the target: 2 cm inside the box from its nearest point, so a ray that reaches it has met the box
    inner = np.clip(near[candidates], lo + 0.02, np.maximum(hi - 0.02, lo + 0.02))
    origins, targets = [], []
    for origin_z in (floor + DEFAULT_CAMERA_HEIGHT, np.full(len(candidates), (z0 + z1) / 2)):
        for target_z in ((z0 + z1) / 2, z0 + 0.9 * (z1 - z0)):
            origins.append(np.c_[xy[candidates], origin_z])
            targets.append(np.c_[inner, np.full(len(candidates), target_z)])
    origins, targets = np.concatenate(origins), np.concatenate(targets)
    direction = targets - origins
    length = np.linalg.norm(direction, axis=1)
    t, face = scene.ray_caster.intersect(origins, direction / np.maximum(length, 1e-9)[:, None])
    hit_object = np.where(face >= 0, scene.face_objects[np.maximum(face, 0)], -1) == index
    seen = (hit_object | (t >= length - 0.03)).reshape(4, len(candidates)).any(axis=0)
    return [int(n) for n in candidates[seen]]


def object_node(graph, obj) -> int:
    """The node nearest an object's centre: where its sound plays, and its one goal node under
    ``goal_area="object_node"``."""
    return int(graph.nearest_node(obj.center[:2]))


class SemanticAudioGoalTask(Task):
    """SAVi-style: the sound comes from an object of a category and stops after the episode's
    ``sound_seconds`` (5–15 s); success is stopping within the success distance of any instance
    of that category. The category is observed as a one-hot over ``earshot.scenes.CATEGORIES``;
    SPL's shortest path is to the nearest goal node.

    ``goal_area``: where the goal nodes are. ``"view_points"`` (the default, as SAVi: its
    episodes' ``DISTANCE_TO: VIEW_POINTS``): every node within ``view_radius`` (1 m) of an
    instance's footprint that sees it (``view_nodes``), so STOP succeeds beside any side of a
    bed or a sofa. ``"object_node"``: the one node nearest each instance's centre (earshot before
    2026-12-07), so a STOP beside the far side of a large object fails."""

    name = "semantic_audiogoal"
    PARAMETERS = {"goal_area": "view_points", "view_radius": 1.0}
    BEFORE = {"goal_area": "object_node"}

    def __init__(self, goal_area: str | None = None, view_radius: float | None = None, **common):
        from ...scenes.lru import LRU

        super().__init__(**common)
        # goal nodes per (scene, graph, category): episode generation asks for them at every
        # attempt, stepping at every step; a cache, not state (the same answer every time)
        self._areas: LRU = LRU(256)
        self.goal_area = check_choice("goal_area", self.given("goal_area", goal_area), GOAL_AREAS)
        self.view_radius = check_number("view_radius", self.given("view_radius", view_radius), low=0.0, high=5.0,
                                        low_open=True, unit="m")

    def observation_spaces(self):
        return {"category": spaces.Box(0.0, 1.0, (len(CATEGORIES),), np.float32)}

    def sample_goal(self, scene, graph, rng, distances, lo, hi):
        if not scene.objects:
            raise ValueError(f"scene {scene.name!r} has no objects for the semantic_audiogoal task")
        obj = scene.objects[int(rng.integers(len(scene.objects)))]
        goal = object_node(graph, obj)
        if self.goal_area == "view_points":
            # the distance that counts is the start's to the category's goal area: the episodes
            # spread over the distance bins [lo, hi) by it (as other tasks' by the goal's), and
            # none starts in or beside the area (the generator's last resort: >= 0.5 m)
            area = self._goal_nodes(scene, graph, obj.category)
            if area and not lo <= float(np.min(distances[area])) < hi:
                return None
        return goal, obj.category

    def episode_extras(self, rng, sounds, sound, n_nodes):
        return {"sound_seconds": float(rng.uniform(5.0, 15.0))}

    def check_episode(self, episode):
        if not episode.category:
            raise ValueError(f"episode {episode.episode_id!r} has no goal category, which the semantic_audiogoal task needs")

    def goal_nodes(self, sim, episode):
        return self._goal_nodes(sim.ctx.scene, sim.graph, episode.category) or [episode.goal_node]

    def _goal_nodes(self, scene, graph, category) -> list[int]:
        key = (scene.content_hash, len(graph), float(graph.spacing), float(graph.agent_radius), category)
        return self._areas.get_or_create(key, lambda: self._make_goal_nodes(scene, graph, category))

    def _make_goal_nodes(self, scene, graph, category) -> list[int]:
        indices = [i for i, o in enumerate(scene.objects) if o.category == category]
        if self.goal_area == "object_node":
            nodes = {object_node(graph, scene.objects[i]) for i in indices}
        else:
            # an instance no node sees (boxed in) keeps its nearest node, so every instance can be reached
            nodes = set()
            for i in indices:
                nodes.update(view_nodes(scene, graph, i, self.view_radius)
                             or [object_node(graph, scene.objects[i])])
        return sorted(nodes)

    def shortest_distance(self, episode, start_distance):
        return start_distance  # to the nearest goal node

    def observe(self, sim, episode):
        onehot = np.zeros(len(CATEGORIES), np.float32)
        onehot[CATEGORIES.index(episode.category)] = 1.0
        return {"category": onehot}

"""Navigation episodes: deterministic per split, saved as gzip-compressed JSON and reloadable, so
evaluation runs the same fixed episodes every time."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..files import atomic_path

# Geodesic distance bins (m) episodes are drawn from evenly, so short and long episodes both occur.
DISTANCE_BINS = ((1.0, 3.0), (3.0, 6.0), (6.0, 10.0), (10.0, 1e9))


@dataclass
class Episode:
    """One episode.

    Attributes:
        episode_id: unique within its file.
        scene: "procedural:<seed>" or the path of a mesh file.
        scene_hash: ``Scene.content_hash`` of that scene (checked on load).
        start_node, goal_node: NavGraph node indices.
        start_heading: radians, a multiple of the turn angle.
        sound: built-in sound name of the goal source.
        geodesic_distance: start→goal, metres.
        category: the goal object's category (semantic task), else None.
        sound_seconds: how long the goal sound plays (semantic task), else None (forever).
        distractors: [[node, sound], ...] of other sources (moving-source task).
    """

    episode_id: str
    scene: str
    scene_hash: str
    start_node: int
    start_heading: float
    goal_node: int
    sound: str
    geodesic_distance: float
    category: str | None = None
    sound_seconds: float | None = None
    distractors: list = field(default_factory=list)


EPISODE_FILE_VERSION = 2


def save_episodes(path: str | os.PathLike, episodes: list[Episode], *, split: str, spacing: float) -> Path:
    """Write episodes as gzip JSON, atomically, with the split and NavGraph spacing they were
    made for (each episode also carries its scene's content hash and geodesic distance)."""
    path = Path(path)
    with atomic_path(path) as tmp, gzip.open(tmp, "wt", encoding="utf-8") as f:
        json.dump({"version": EPISODE_FILE_VERSION, "split": split, "spacing": float(spacing),
                   "episodes": [asdict(e) for e in episodes]}, f)
    return path


def read_episode_file(path: str | os.PathLike) -> tuple[list[Episode], dict]:
    """(episodes, header) of an episode file; the header has ``split`` and ``spacing``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"episodes file {str(path)!r} does not exist")
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as exc:  # truncated, not gzip, not JSON
        raise ValueError(f"episodes file {str(path)!r} is unreadable ({type(exc).__name__}: {exc}); "
                         "it may be truncated or not an earshot episode file: regenerate it") from exc
    if not isinstance(data, dict) or data.get("version") != EPISODE_FILE_VERSION:
        version = data.get("version") if isinstance(data, dict) else None
        raise ValueError(f"episodes file {str(path)!r} has version {version!r}, expected {EPISODE_FILE_VERSION} "
                         "(with split and spacing): regenerate it with env.unwrapped.save_episodes")
    source = f"episodes file {str(path)!r}"
    for key, kind in (("split", str), ("spacing", (int, float)), ("episodes", list)):
        value = data.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{source} is malformed: {key!r} must be a {_KIND_NAMES[key]}, got {value!r}: regenerate it")
    episodes = []
    for i, e in enumerate(data["episodes"]):
        if not isinstance(e, dict):
            raise ValueError(f"{source} is malformed: 'episodes'[{i}] must be an object of Episode fields, got {e!r}: "
                             "regenerate it")
        try:
            episodes.append(Episode(**e))
        except TypeError as exc:  # a missing or unknown field: the message names it
            raise ValueError(f"{source} is malformed: 'episodes'[{i}]: {exc}: regenerate it") from exc
    return episodes, {"split": data["split"], "spacing": float(data["spacing"])}


_KIND_NAMES = {"split": "split name", "spacing": "number (NavGraph spacing, m)", "episodes": "list of episodes"}
_MAX_SOUND_SECONDS = 3600.0  # an hour: longer than any episode (500 steps of 1 s)


def check_episode_fields(episode: Episode, source: str = "episodes", heading_step_deg: float | None = None) -> None:
    """Raise ValueError naming the field when an episode's fields have the wrong type or a
    meaningless value: ids and names that are not strings, nodes that are not integers >= 0,
    a non-finite or out-of-range heading, distance or sound duration, an unknown sound or
    category, malformed distractors. ``heading_step_deg`` (grid motion: the turn angle): the
    start heading must be a multiple of it, or the agent could never face the goal's direction.
    Node ranges and the stored distance are checked against the scene by ``check_episode``."""
    import math
    import numbers

    from ..acoustics import is_sound_name, sound_names
    from ..scenes import CATEGORIES
    from ..scenes.refs import PROCEDURAL

    where = f"{source}: episode {episode.episode_id!r}" if isinstance(episode.episode_id, str) else source

    def bad(field_name: str, rule: str, value) -> ValueError:
        return ValueError(f"{where}: {field_name} must be {rule}, got {value!r}")

    def is_number(v) -> bool:
        return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))

    def is_node(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0

    if not isinstance(episode.episode_id, str) or not episode.episode_id:
        raise bad("episode_id", "a non-empty string", episode.episode_id)
    if not isinstance(episode.scene, str) or not episode.scene:
        raise bad("scene", "'procedural:<seed>' or a mesh path (a string)", episode.scene)
    if episode.scene.startswith(PROCEDURAL) and not episode.scene[len(PROCEDURAL):].isdigit():
        raise bad("scene", "'procedural:<seed>' with an integer seed >= 0 or a mesh path", episode.scene)
    if not isinstance(episode.scene_hash, str) or not episode.scene_hash:
        raise bad("scene_hash", "the scene's content hash (a string)", episode.scene_hash)
    for name in ("start_node", "goal_node"):
        if not is_node(getattr(episode, name)):
            raise bad(name, "a NavGraph node index (an integer >= 0)", getattr(episode, name))
    h = episode.start_heading
    if not is_number(h) or abs(float(h)) > 2 * math.pi + 1e-6:
        raise bad("start_heading", "finite radians in [-2π, 2π]", h)
    if heading_step_deg is not None:
        steps = math.degrees(float(h)) / heading_step_deg
        if abs(steps - round(steps)) > 1e-6:
            raise ValueError(f"{where}: start_heading {math.degrees(float(h)):.4g}° is not a multiple of the turn angle "
                             f"{heading_step_deg:g}°: in grid motion the agent could never face the goal's direction; "
                             "pass the turn_angle_deg the file was made with, or regenerate it")
    g = episode.geodesic_distance
    if not is_number(g) or g < 0:
        raise bad("geodesic_distance", "a finite distance >= 0 (m)", g)
    known = sound_names()
    if not is_sound_name(episode.sound):
        raise bad("sound", f"a built-in sound name ({', '.join(sorted(known))}) or a variant '<sound>~<k>' of one",
                  episode.sound)
    if episode.category is not None and (not isinstance(episode.category, str) or episode.category not in CATEGORIES):
        raise bad("category", f"None or one of {', '.join(CATEGORIES)}", episode.category)
    s = episode.sound_seconds
    if s is not None and (not is_number(s) or not 0 < s <= _MAX_SOUND_SECONDS):
        raise bad("sound_seconds", f"None (plays forever) or seconds in (0, {_MAX_SOUND_SECONDS:g}]", s)
    d = episode.distractors
    if not isinstance(d, (list, tuple)) or not all(
            isinstance(x, (list, tuple)) and len(x) == 2 and is_node(x[0]) and is_sound_name(x[1])
            for x in d):
        raise bad("distractors", "a list of [node (an integer >= 0), built-in sound name] pairs", d)


def check_episode_ids(episodes: Sequence[Episode], source: str = "episodes") -> None:
    """Raise ValueError when two episodes share an episode_id (they must be unique)."""
    seen: set = set()
    for e in episodes:
        if e.episode_id in seen:
            raise ValueError(f"{source}: episode_id {e.episode_id!r} appears twice; episode ids must be unique")
        seen.add(e.episode_id)


def load_episodes(path: str | os.PathLike) -> list[Episode]:
    """The episodes of an episode file (see ``read_episode_file`` for its header)."""
    return read_episode_file(path)[0]


def check_episode(episode: Episode, scene, graph) -> None:
    """Raise ValueError if the episode does not belong to this scene and graph: another scene
    hash, node ids outside the graph, or a stored geodesic distance the graph does not give."""
    if episode.scene_hash != scene.content_hash:
        raise ValueError(
            f"episode {episode.episode_id!r} was made for a scene with hash {episode.scene_hash[:12]}…, but "
            f"{episode.scene!r} now has hash {scene.content_hash[:12]}…: regenerate the episode file for this scene"
        )
    nodes = [episode.start_node, episode.goal_node] + [d[0] for d in episode.distractors]
    if any(not isinstance(n, (int, np.integer)) or isinstance(n, bool) for n in nodes) or max(nodes) >= len(graph) \
            or min(nodes) < 0:
        raise ValueError(f"episode {episode.episode_id!r} refers to nodes outside the scene's NavGraph ({len(graph)} nodes): "
                         f"start_node {episode.start_node!r}, goal_node {episode.goal_node!r}, distractors' nodes "
                         f"{[d[0] for d in episode.distractors]!r}")
    actual = float(graph.distances_from(episode.start_node)[episode.goal_node])
    if not abs(actual - episode.geodesic_distance) <= 1e-6 * max(1.0, actual):
        raise ValueError(
            f"episode {episode.episode_id!r} stores geodesic distance {episode.geodesic_distance:.3f} m but the "
            f"NavGraph gives {actual:.3f} m (stale, or made with another spacing or agent size): regenerate the episode file"
        )


def generate_episodes(scene_ref: str, scene, graph, count: int, rng: np.random.Generator, sounds: list[str],
                      turn_angle_deg: float, task) -> list[Episode]:
    """Exactly ``count`` reachable episodes spread over the geodesic distance bins; ``task`` (an
    ``av_env.tasks.Task``) picks each goal and any extra fields. Raises ValueError when the
    scene's graph is too small to give them."""
    episodes = []
    n = len(graph)
    headings = np.arange(0, 360, turn_angle_deg)
    attempts = 0
    while len(episodes) < count:
        attempts += 1
        if attempts > 200 * count:
            raise ValueError(f"scene {scene_ref!r} gave only {len(episodes)} of {count} episodes: its NavGraph "
                             f"({n} nodes) has too few node pairs at least 0.5 m apart")
        lo, hi = DISTANCE_BINS[len(episodes) % len(DISTANCE_BINS)] if attempts < 50 * count else (0.5, 1e9)
        start = int(rng.integers(n))
        dist = graph.distances_from(start)
        picked = task.sample_goal(scene, graph, rng, dist, lo, hi)
        if picked is None:
            continue
        goal, category = picked
        if not np.isfinite(dist[goal]) or dist[goal] < 0.5:
            continue
        sound = sounds[int(rng.integers(len(sounds)))]
        extras = task.episode_extras(rng, sounds, sound, n)
        episodes.append(Episode(
            episode_id=f"{scene_ref}#{len(episodes)}", scene=scene_ref, scene_hash=scene.content_hash,
            start_node=start, start_heading=float(np.radians(headings[int(rng.integers(len(headings)))])),
            goal_node=goal, sound=sound, geodesic_distance=float(dist[goal]), category=category, **extras))
    return episodes


class EpisodeList(Sequence):
    """The episodes of many scenes, ``per_scene`` each, generated the first time a scene's
    episodes are asked for (``make(scene_index) -> list``): building a scene costs ~0.3 s, so an
    env over 1,000 scenes starts at once and pays only for the scenes it visits. The lists of the
    most recently visited scenes are kept (``BUDGETS.scenes`` × 4; ``make`` is deterministic, so
    a list dropped and made again is the same), so memory does not grow with the scenes met."""

    def __init__(self, scene_refs: list[str], per_scene: int, make):
        from ..scenes.lru import BUDGETS, LRU

        self.scene_refs, self.per_scene, self._make = list(scene_refs), int(per_scene), make
        self._made: LRU = LRU(4 * BUDGETS.scenes)

    def __len__(self) -> int:
        return len(self.scene_refs) * self.per_scene

    def of_scene(self, k: int) -> list[Episode]:
        return self._made.get_or_create(k, lambda: self._make(k))

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"episode index {i} out of range ({len(self)} episodes)")
        i %= len(self)
        return self.of_scene(i // self.per_scene)[i % self.per_scene]

    def indices_of_scene(self, k: int) -> range:
        return range(k * self.per_scene, (k + 1) * self.per_scene)

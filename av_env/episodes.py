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
    try:
        episodes = [Episode(**e) for e in data["episodes"]]
        header = {"split": str(data["split"]), "spacing": float(data["spacing"])}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"episodes file {str(path)!r} is malformed ({type(exc).__name__}: {exc}): regenerate it") from exc
    return episodes, header


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
    if any(not isinstance(n, int) for n in nodes) or max(nodes) >= len(graph) or min(nodes) < 0:
        raise ValueError(f"episode {episode.episode_id!r} refers to nodes outside the scene's NavGraph ({len(graph)} nodes)")
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
    env over 1,000 scenes starts at once and pays only for the scenes it visits."""

    def __init__(self, scene_refs: list[str], per_scene: int, make):
        self.scene_refs, self.per_scene, self._make = list(scene_refs), int(per_scene), make
        self._made: dict[int, list[Episode]] = {}

    def __len__(self) -> int:
        return len(self.scene_refs) * self.per_scene

    def of_scene(self, k: int) -> list[Episode]:
        if k not in self._made:
            self._made[k] = self._make(k)
        return self._made[k]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"episode index {i} out of range ({len(self)} episodes)")
        i %= len(self)
        return self.of_scene(i // self.per_scene)[i % self.per_scene]

    def indices_of_scene(self, k: int) -> range:
        return range(k * self.per_scene, (k + 1) * self.per_scene)

"""The episode source of an env: its scenes (built on first visit and kept in a bounded LRU), its
fixed episodes, and the order training walks them in."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..acoustics import is_sound_name, sound_names, sound_variants
from ..scenes.lru import LRU
from ..scenes.refs import build_scene_and_graph, is_procedural, procedural_seed, resolve_scene_refs
from ..scenes.splits import split_of
from ..scenes.store import SceneCache
from .config import EpisodeConfig
from .episodes import (Episode, EpisodeList, check_episode, check_episode_fields, check_episode_ids, generate_episodes,
                       read_episode_file, save_episodes)
from .simulator import SceneContext
from .tasks import TASKS, Task


def resolve_sounds(sounds) -> list[str]:
    """The built-in sound names ``sounds`` stands for ("heard", "unheard", "all" or a list of
    built-in sounds and variants "<sound>~<k>" of them)."""
    if isinstance(sounds, str):
        if sounds == "all":
            return sound_names()
        if sounds not in ("heard", "unheard"):
            raise ValueError(f"sounds must be 'heard', 'unheard', 'all' or a list of built-in sound names, got {sounds!r}")
        return sound_names(sounds)
    if not isinstance(sounds, (list, tuple)):
        raise ValueError(f"sounds must be 'heard', 'unheard', 'all' or a list of built-in sound names, got {sounds!r}")
    names = list(sounds)
    if not names:
        raise ValueError("sounds must name at least one sound, got an empty list")
    unknown = [s for s in names if not is_sound_name(s)]
    if unknown:
        raise ValueError(f"sounds has unknown names {unknown}; built-in sounds are {sorted(sound_names())}, "
                         "or variants '<sound>~<k>' of them")
    return names


class EpisodeSource:
    """Scenes, episodes and their iteration for one env.

    Args:
        config: the episodes' config (split, scenes, sounds, episodes, limits, caches).
        task_name, task: the task (it samples goals and checks loaded episodes).
        heading_step_deg: start headings are multiples of this (the grid turn angle, else 90°).
        tail_store: traced tails on disk for the scenes' acoustics (``acoustics.tail_store``).
    """

    def __init__(self, config: EpisodeConfig, task_name: str, task: Task, heading_step_deg: float, tail_store=None,
                 grid: bool = True):
        self.config = config
        self.tail_store = tail_store  # given to every scene context's SceneAcoustics
        self.task_name, self.task = task_name, task
        self.heading_step_deg = heading_step_deg
        self.grid = bool(grid)  # grid motion: loaded start headings must be multiples of the turn angle
        self.contexts: LRU[SceneContext] = LRU(config.scene_memory, on_evict=lambda _, ctx: ctx.close())
        self.scene_cache = SceneCache(config.scene_cache) if config.scene_cache is not None else None
        self.mesh_kwargs = dict(config.mesh_kwargs or {})
        self.sound_list = resolve_sounds(config.sounds)
        if config.sound_variants:  # half the episodes play a sound itself, half one of its variants
            n = config.sound_variants
            self.sound_list = self.sound_list * n + sound_variants(self.sound_list, n)
        self.scene_refs = resolve_scene_refs(config.scenes, config.split, config.spacing)
        if config.scene_shard is not None:
            index, count = int(config.scene_shard[0]), int(config.scene_shard[1])
            if count > len(self.scene_refs):
                raise ValueError(f"scene_shard {tuple(config.scene_shard)} asks for {count} shards of "
                                 f"{len(self.scene_refs)} scenes: use at most as many workers as scenes")
            self.scene_refs = self.scene_refs[index::count]
        self.episodes = self._resolve_episodes(config.episodes, config.episodes_per_scene)
        self._iteration: list[int] = []

    # ------------------------------------------------------------------ scenes
    def context(self, ref: str) -> SceneContext:
        """The scene, its NavGraph (and renderer, made at first reset) of ``ref``: built once and
        kept in a bounded LRU (``scene_memory`` scenes; an evicted scene's renderer is closed)."""
        def build() -> SceneContext:
            scene, graph = build_scene_and_graph(ref, self.config.spacing, self.mesh_kwargs, self.scene_cache)
            return SceneContext(ref, scene, graph, tail_store=self.tail_store)

        return self.contexts.get_or_create(ref, build)

    def close(self) -> None:
        self.contexts.clear()  # closes every renderer

    # ------------------------------------------------------------------ episodes
    def _scene_episodes(self, k: int, per_scene: int) -> list[Episode]:
        """The fixed episodes of scene ``k``: seeded by the task, the scene's index and content."""
        ref = self.scene_refs[k]
        ctx = self.context(ref)
        key = [list(TASKS).index(self.task_name), k, procedural_seed(ref) if is_procedural(ref) else 0,
               int(ctx.scene.content_hash[:8], 16)]
        return generate_episodes(ref, ctx.scene, ctx.graph, per_scene, np.random.default_rng(key), self.sound_list,
                                 self.heading_step_deg, self.task)

    def _resolve_episodes(self, episodes, per_scene: int):
        if episodes is None:  # generated per scene on its first visit
            return EpisodeList(self.scene_refs, per_scene, lambda k: self._scene_episodes(k, per_scene))
        split, spacing = self.config.split, self.config.spacing
        if isinstance(episodes, (str, Path)):
            eps, header = read_episode_file(episodes)
            source = f"episodes file {str(episodes)!r}"
            if header["split"] != split:
                raise ValueError(f"{source} was made for split {header['split']!r}, but this env's split is {split!r}")
            if header["spacing"] != spacing:
                raise ValueError(f"{source} was made for NavGraph spacing {header['spacing']} m, but this env's spacing "
                                 f"is {spacing} m: pass spacing={header['spacing']} or regenerate it")
        elif isinstance(episodes, (list, tuple)) and all(isinstance(e, Episode) for e in episodes):
            eps, source = list(episodes), "episodes"
        else:
            raise ValueError(f"episodes must be an episode file path or a list of earshot.av_env.Episode, got {type(episodes).__name__}")
        if not eps:
            raise ValueError(f"{source} holds no episodes")
        for e in eps:  # every field first (cheap), before any scene is built
            check_episode_fields(e, source, self.heading_step_deg if self.grid else None)
        check_episode_ids(eps, source)
        for e in eps:
            seed = procedural_seed(e.scene)
            if seed is not None and split_of(seed) != split:
                raise ValueError(f"{source} names scene {e.scene!r} of split {split_of(seed)!r}, but this env's split "
                                 f"is {split!r}")
            self.task.check_episode(e)
            if e.scene not in self.scene_refs:
                self.scene_refs.append(e.scene)
            ctx = self.context(e.scene)
            check_episode(e, ctx.scene, ctx.graph)
        return eps

    def starts_in_goal_room(self, index: int) -> bool | None:
        """Whether episode ``index`` starts in the room of its goal (a start in a doorway counts
        in the room whose centre is nearest); None for a scene without rooms (a user's mesh)."""
        from ..acoustics.geometry import room_of

        e = self.episodes[index]
        ctx = self.context(e.scene)
        if not ctx.scene.rooms:
            return None
        positions = ctx.graph.positions
        return room_of(ctx.scene, positions[e.start_node]) == room_of(ctx.scene, positions[e.goal_node])

    def save(self, path) -> Path:
        """Write the episodes (with the split and spacing) to reload with ``episodes=path``."""
        return save_episodes(path, self.episodes, split=self.config.split, spacing=self.config.spacing)

    def indices_by_scene(self) -> dict[str, list[int]]:
        """{scene reference: the indices of its episodes}, scenes in their order (without
        generating any scene's episodes)."""
        groups: dict[str, list[int]] = {}
        if isinstance(self.episodes, EpisodeList):
            for k, ref in enumerate(self.episodes.scene_refs):
                groups[ref] = list(self.episodes.indices_of_scene(k))
        else:
            for i, e in enumerate(self.episodes):
                groups.setdefault(e.scene, []).append(i)
        return groups

    # ------------------------------------------------------------------ iteration
    def restart(self) -> None:
        """Start the iteration afresh (a new seed)."""
        self._iteration = []

    def next_index(self, rng: np.random.Generator) -> int:
        """Episode iteration made for training (habitat-lab's EpisodeIterator is the model):
        scenes in a shuffled order, ``episodes_per_visit`` shuffled episodes from each before
        moving on, reshuffled after every pass; all drawn from ``rng``, so a seed fixes the
        sequence. Scene switches are therefore rare, and each scene is built once."""
        if not self._iteration:
            groups = self.indices_by_scene()
            order = [list(groups)[i] for i in rng.permutation(len(groups))]
            plan: list[int] = []
            per_visit = self.config.episodes_per_visit
            for ref in order:
                members = [groups[ref][i] for i in rng.permutation(len(groups[ref]))]
                for start in range(0, len(members), per_visit):
                    plan.append(members[start:start + per_visit])
            # visits of one scene follow each other only when a scene has more than one visit's worth
            self._iteration = [i for visit in plan for i in visit][::-1]
        return self._iteration.pop()


__all__ = ["EpisodeSource", "resolve_sounds"]

"""Scene references: the one place a scene is named, parsed and built.

A scene reference is a string: ``"procedural:<seed>"`` for a procedural apartment, or the path
of a mesh file (.glb/.gltf/.obj/.ply). Envs, episodes, datasets, caches and the RIR precompute
all name scenes this way and turn a reference into (Scene, NavGraph) here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .checks import check_int
from .loading import load_scene
from .navigation import NavGraph
from .procedural import generate_apartment
from .splits import load_split_file, split_of, split_seeds

PROCEDURAL = "procedural:"
PROCEDURAL_SPACINGS = (0.25, 0.5, 1.0)  # m: the lattices procedural apartments keep connected


def procedural_ref(seed: int) -> str:
    """The reference of the procedural apartment ``seed``."""
    return f"{PROCEDURAL}{int(seed)}"


def is_procedural(ref: str) -> bool:
    return ref.startswith(PROCEDURAL)


def procedural_seed(ref: str) -> int | None:
    """The seed of a procedural reference, None for a mesh path."""
    return int(ref[len(PROCEDURAL):]) if is_procedural(ref) else None


def ref_label(ref: str) -> str:
    """A short name for records: the reference itself, or a mesh file's base name."""
    return ref if is_procedural(ref) else os.path.basename(ref)


def build_scene(ref: str, spacing: float = 0.5, mesh_kwargs: dict | None = None):
    """The Scene of ``ref``: a procedural apartment kept connected on ``spacing``, or a mesh
    loaded with ``mesh_kwargs`` (``earshot.scenes.load_scene`` arguments)."""
    seed = procedural_seed(ref)
    if seed is not None:
        return generate_apartment(seed, nav_spacing=spacing)
    return load_scene(ref, **(mesh_kwargs or {}))


def build_scene_and_graph(ref: str, spacing: float = 0.5, mesh_kwargs: dict | None = None, cache=None):
    """(Scene, NavGraph) of ``ref``; through ``cache`` (an ``earshot.scenes.store.SceneCache``)
    when given, so workers and runs that share the folder build each scene once."""
    def build():
        scene = build_scene(ref, spacing, mesh_kwargs)
        return scene, NavGraph.build(scene, spacing=spacing)

    if cache is None:
        return build()
    args = {"spacing": spacing} if is_procedural(ref) else {"spacing": spacing, **(mesh_kwargs or {})}
    return cache.get_or_build(cache.key(ref, **args), build)


def resolve_scene_refs(scenes, split: str, spacing: float | None = None) -> list[str]:
    """The scene references ``scenes`` names for ``split``: a count (the first procedural seeds
    of the split), a list of seeds of the split and/or mesh paths, one mesh path, or a split file
    (``.json``: ``{"train": [...], "val": [...], "test": [...]}`` of mesh paths). ``spacing``,
    when given, must be one procedural apartments support if any is named."""
    if isinstance(scenes, (str, Path)) and str(scenes).endswith(".json"):  # user meshes by split file
        files = load_split_file(scenes).get(split, [])
        if not files:
            raise ValueError(f"scenes split file {str(scenes)!r} lists no meshes for split {split!r}")
        scenes = files
    elif isinstance(scenes, (str, Path)):
        scenes = [scenes]  # one mesh file
    if isinstance(scenes, bool) or not isinstance(scenes, (int, np.integer, list, tuple)):
        raise ValueError(f"scenes must be a count, a list of procedural seeds or mesh paths, or a split file (.json), got {scenes!r}")
    if isinstance(scenes, (int, np.integer)):
        seeds = split_seeds(split)
        check_int("scenes", scenes, low=1, high=len(seeds))
        refs = [procedural_ref(s) for s in list(seeds)[: int(scenes)]]
    else:
        refs = []
        for s in scenes:
            if isinstance(s, bool):
                raise ValueError(f"scenes entries must be procedural seeds or mesh paths, got {s!r}")
            if isinstance(s, (int, np.integer)):
                if split_of(int(s)) != split:
                    raise ValueError(f"scenes entry {s} is not a seed of the {split!r} split; see earshot.scenes.split_seeds")
                refs.append(procedural_ref(s))
            elif isinstance(s, (str, Path)):
                path = Path(s)
                if not path.is_file():
                    raise FileNotFoundError(f"scenes entry {str(path)!r} is not an existing mesh file")
                refs.append(str(path))
            else:
                raise ValueError(f"scenes entries must be procedural seeds or mesh paths, got {s!r}")
        if not refs:
            raise ValueError("scenes must name at least one scene, got an empty list")
        if len(set(refs)) != len(refs):
            raise ValueError(f"scenes lists a scene twice: {sorted(r for r in set(refs) if refs.count(r) > 1)}")
    if spacing is not None and any(is_procedural(r) for r in refs) and spacing not in PROCEDURAL_SPACINGS:
        raise ValueError(f"spacing must be 0.25, 0.5 or 1.0 m for procedural apartments, got {spacing!r}")
    return refs


__all__ = ["PROCEDURAL", "build_scene", "build_scene_and_graph", "is_procedural", "procedural_ref", "procedural_seed",
           "ref_label", "resolve_scene_refs"]

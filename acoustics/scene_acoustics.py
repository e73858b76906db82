"""Per-scene acoustic state: everything earshot derives from one scene's geometry to compute its
RIRs, held by one object with the scene's memory budgets and no module-global state.

A ``SceneAcoustics`` keeps, for one ``Scene``: the merged polygons and room statistics of the
acoustic model, the structure-only ray caster, the rooms' interior boxes, the image sources of
recent sources, the mesh's reflecting planes and image sources, the door openings and chains of
doors, the floor-plan cell raster, the traced-tail origins and the ray-traced energy fields of
recent sources. Each is built on first use (by ``acoustics.geometry``, ``paths``,
``diffraction`` and ``raytrace``) and kept until ``clear()``; the per-source entries are bounded
by ``budgets.image_sources`` and ``budgets.energy_fields``.

Who owns one:
- an environment's scene context makes one per scene (``SceneAcoustics(scene)``), passes it to
  ``compute_rirs(..., acoustics=...)`` / ``RIRCache.get_many(..., acoustics=...)`` and calls
  ``close()`` when it evicts the scene;
- everything else gets the scene's own (``scene_acoustics(scene)``): made on first use and
  stored on the Scene instance, so it is freed with the scene (there is no registry).

A SceneAcoustics holds its scene by weak reference (it belongs to the scene, it does not keep it
alive). It pickles as an empty one that rebuilds on use.
"""

from __future__ import annotations

import weakref
from typing import Any

from ..scenes import Scene
from ..scenes.lru import BUDGETS, LRU, Budgets

_ATTRIBUTE = "_earshot_acoustics"  # where a Scene instance keeps its own SceneAcoustics


class SceneAcoustics:
    """The acoustic state of one scene (see the module docstring).

    Args:
        scene: the Scene it describes.
        budgets: memory budgets (``image_sources``, ``energy_fields`` items per scene);
            ``earshot.scenes.lru.BUDGETS`` by default, ``dataclasses.replace(BUDGETS, ...)`` for others.
        tail_store: an ``acoustics.tail_store.TailStore``: traced tails read from and written to
            disk, shared by processes and runs (None: traced in memory only).

    Attributes (built on use; ``clear()`` empties them all):
        polygons: {include_furniture: [geometry.Polygon]} merged planar polygons.
        room_stats: {speed of sound m/s: [geometry.SpaceStats] per room}.
        coupled_decays: {(source room, receiver room, speed of sound): (weights (J, 6), rt60 (J, 6))}.
        structure: RayCaster over walls, floors and ceilings only (None until built).
        room_boxes: {room: (lo (3,), hi (3,))} interior boxes, metres.
        image_sources: LRU {(source, box, order): (images (I, 3), cells (I, 3))}.
        mesh_planes: (normals (P, 3), offsets (P,)) of a roomless mesh's largest planes, or None.
        mesh_images: LRU {(source, order): (images (I, 3), plane chains (I, order))}.
        openings: [diffraction._Opening] per door, or None.
        door_chains: LRU {(source, source room, speed of sound): door chains}.
        cell_raster: (origin (2,), raster (X, Y) int64) of the floor-plan cells, or None.
        trace_origins: {(cell, source height): traced-tail origin (3,) or None}.
        energy_fields: LRU {(source, rays, seconds, order, c, seed text): raytrace.EnergyField}.
        ray_frames: per-face reflection tables of the ray tracer, or None.
        materials: (absorption (K, 6), scattering (K,)) of the scene's materials, or None.
    """

    def __init__(self, scene: Scene, budgets: Budgets = BUDGETS, tail_store=None):
        if not isinstance(scene, Scene):
            raise ValueError(f"scene must be a earshot.scenes.Scene, got {type(scene).__name__}")
        if not isinstance(budgets, Budgets):
            raise ValueError(f"budgets must be an earshot.scenes.lru.Budgets, got {type(budgets).__name__}")
        self._scene = weakref.ref(scene)
        self.budgets = budgets
        self.tail_store = tail_store  # an acoustics.tail_store.TailStore shared on disk, or None
        self.clear()

    @property
    def scene(self) -> Scene:
        scene = self._scene()
        if scene is None:
            raise RuntimeError("the scene of this SceneAcoustics no longer exists")
        return scene

    def belongs_to(self, scene: Scene) -> bool:
        """Whether this is the acoustic state of ``scene`` (that very object)."""
        return self._scene() is scene

    def clear(self) -> None:
        """Free everything derived from the scene (the next use rebuilds what it needs)."""
        self.polygons: dict[bool, list] = {}
        self.room_stats: dict[float, list] = {}
        self.coupled_decays: dict[tuple, tuple] = {}
        self.structure: Any = None
        self.room_boxes: dict[int, tuple] = {}
        self.image_sources: LRU = LRU(self.budgets.image_sources)
        self.mesh_planes: tuple | None = None
        self.mesh_images: LRU = LRU(self.budgets.image_sources)
        self.openings: list | None = None
        self.door_chains: LRU = LRU(self.budgets.image_sources)
        self.cell_raster: tuple | None = None
        self.trace_origins: dict[tuple, Any] = {}
        self.energy_fields: LRU = LRU(self.budgets.energy_fields)
        self.ray_frames: tuple | None = None
        self.materials: tuple | None = None

    def close(self) -> None:
        """Free everything (as ``clear()``); an env's scene context calls it on eviction."""
        self.clear()

    def __getstate__(self) -> dict:  # caches (Embree casters among them) stay in their process
        return {"budgets": self.budgets, "tail_store": self.tail_store}

    def __setstate__(self, state: dict) -> None:
        self._scene = _no_scene
        self.budgets = state["budgets"]
        self.tail_store = state.get("tail_store")
        self.clear()

    def __repr__(self) -> str:
        scene = self._scene()
        return (f"SceneAcoustics(scene={scene.name if scene is not None else None!r}, "
                f"energy_fields={len(self.energy_fields)}, image_sources={len(self.image_sources)})")


def _no_scene():
    return None


def scene_acoustics(scene: Scene | SceneAcoustics) -> SceneAcoustics:
    """The SceneAcoustics to use for ``scene``: itself when it is one, else the one stored on the
    Scene instance (made on first use, with the per-user traced-tail cache
    ``tail_store.default_tail_store()``; freed with the scene)."""
    if isinstance(scene, SceneAcoustics):
        return scene
    if not isinstance(scene, Scene):
        raise ValueError(f"scene must be a earshot.scenes.Scene, got {type(scene).__name__}")
    own = scene.__dict__.get(_ATTRIBUTE)
    if own is None or not own.belongs_to(scene):  # a copy or an unpickled scene carries another's
        from .tail_store import default_tail_store

        own = SceneAcoustics(scene, tail_store=default_tail_store())
        scene.__dict__[_ATTRIBUTE] = own
    return own


__all__ = ["SceneAcoustics", "scene_acoustics"]

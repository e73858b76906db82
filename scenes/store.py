"""An optional on-disk cache of built scenes: a Scene and its NavGraph in one ``.npz`` of plain
arrays plus a JSON header (read with ``allow_pickle=False``; nothing in it is executed).

Building a procedural apartment and its NavGraph takes ~0.2 s; loading one from this cache takes
a few ms, so vectorized workers and later runs skip the build. An entry is keyed by what built
it (the scene reference, its build arguments, a mesh file's size and modification time) and by
the source code of the scene builders, so an upgrade of earshot that changes the generator never
serves a stale scene. Entries are written to a temporary file and renamed into place; on read,
the stored key, a SHA-256 of the arrays and the scene's content hash are all checked. A corrupt
entry is reported, removed and rebuilt; a folder that cannot be written is used read-only (or
not at all) with one warning.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import trimesh

from .materials import Material
from .navigation import NavGraph
from .npzio import KeyedStore
from .refs import is_procedural
from .scene import Door, Room, Scene, SemanticObject

FORMAT = 1
_BUILDER_FILES = ("procedural.py", "layout.py", "furniture.py", "meshing.py", "scene.py", "materials.py", "navigation.py",
                  "rays.py", "splits.py", "loading.py", "refs.py", "store.py")


@lru_cache(maxsize=1)
def code_version() -> str:
    """SHA-256 (16 hex digits) of the source files that build scenes and NavGraphs."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _BUILDER_FILES:
        h.update(name.encode())
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------- (de)serialisation
def scene_to_arrays(scene: Scene, graph: NavGraph | None = None) -> dict[str, np.ndarray]:
    """Plain arrays (and one JSON string) holding a scene and, optionally, its NavGraph."""
    meta = {
        "name": scene.name,
        "floor_height": scene.floor_height,
        "content_hash": scene.content_hash,
        "materials": [m.to_dict() for m in scene.materials],
        "objects": [o.to_dict() for o in scene.objects],
        "rooms": [[r.kind, [float(v) for v in r.bounds]] for r in scene.rooms],
        "doors": [d.to_dict() for d in scene.doors],
        "graph": None,
    }
    out = {
        "vertices": np.asarray(scene.mesh.vertices, np.float64), "faces": np.asarray(scene.mesh.faces, np.int64),
        "face_materials": scene.face_materials, "face_objects": scene.face_objects, "face_colors": scene.face_colors,
    }
    if graph is not None:
        occ = dict(graph.occupancy)
        meta["graph"] = {"spacing": graph.spacing, "agent_radius": graph.agent_radius, "agent_height": graph.agent_height,
                         "connectivity": graph.connectivity, "cell": float(occ.pop("cell")), "occupancy": sorted(occ)}
        out["graph_positions"], out["graph_edges"] = graph.positions, graph.edges
        for name, value in occ.items():
            out[f"occupancy_{name}"] = np.asarray(value)
    out["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return out


def scene_from_arrays(a: dict[str, np.ndarray]) -> tuple[Scene, NavGraph | None]:
    meta = json.loads(str(a["meta"][()]))
    scene = Scene(
        trimesh.Trimesh(a["vertices"], a["faces"], process=False), a["face_materials"],
        [Material.from_dict(m) for m in meta["materials"]],
        objects=[SemanticObject(o["category"], np.array(o["center"]), np.array(o["bbox_min"]), np.array(o["bbox_max"]), o["room"])
                 for o in meta["objects"]],
        face_objects=a["face_objects"], face_colors=a["face_colors"], floor_height=meta["floor_height"],
        rooms=[Room(kind, tuple(bounds)) for kind, bounds in meta["rooms"]], name=meta["name"],
        doors=[Door(tuple(d["rooms"]), np.array(d["center"]), d["width"], d["height"], d["normal_axis"]) for d in meta["doors"]],
    )
    if scene.content_hash != meta["content_hash"]:
        raise ValueError("the rebuilt scene's content hash differs from the stored one")
    g = meta["graph"]
    if g is None:
        return scene, None
    occupancy = {name: a[f"occupancy_{name}"] for name in g["occupancy"]}
    occupancy["cell"] = g["cell"]
    graph = NavGraph(scene, a["graph_positions"], a["graph_edges"], g["spacing"], g["agent_radius"], g["agent_height"],
                     g["connectivity"], occupancy)
    return scene, graph


# ---------------------------------------------------------------------- the cache
class SceneCache(KeyedStore):
    """Built scenes (and NavGraphs) on disk, one file per scene and build.

    Args:
        root: the cache folder (created on demand). Share it between workers and runs.
    """

    def __init__(self, root: str | os.PathLike):
        super().__init__(root, option="scene_cache", what="scene cache", redo="rebuilding it",
                         fallback="building scenes in memory")

    @staticmethod
    def key(ref: str, **build_args) -> str:
        """The key of a scene reference built with ``build_args``; a mesh file's key includes its
        size and modification time, so an edited file is rebuilt."""
        parts = {"format": FORMAT, "code": code_version(), "ref": ref, "args": build_args}
        if not is_procedural(ref):
            st = Path(ref).stat()
            parts["file"] = [str(Path(ref).resolve()), st.st_size, st.st_mtime_ns]
        return json.dumps(parts, sort_keys=True, default=str)

    def load(self, key: str) -> tuple[Scene, NavGraph | None] | None:
        """The stored scene of ``key``, or None (absent, or corrupt: then reported and removed)."""
        return self.load_entry(key, scene_from_arrays)

    def save(self, key: str, scene: Scene, graph: NavGraph | None = None) -> None:
        """Store atomically; on an OS error warn once and go on without writing."""
        self.save_entry(key, scene_to_arrays(scene, graph))

    def get_or_build(self, key: str, build: Callable[[], tuple[Scene, NavGraph | None]]) -> tuple[Scene, NavGraph | None]:
        found = self.load(key)
        if found is not None:
            return found
        self.misses += 1
        scene, graph = build()
        self.save(key, scene, graph)
        return scene, graph

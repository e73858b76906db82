"""The Scene type: a triangle mesh with materials, semantics and a stable content hash."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import trimesh

from ..files import write_bytes_atomic

from .materials import Material
from .rays import RayCaster


@dataclass(frozen=True)
class SemanticObject:
    """One object instance: a category and its axis-aligned bounding box (metres, z up).

    Attributes:
        category: e.g. ``"sofa"``.
        center: (3,) float64 centre of the bounding box.
        bbox_min, bbox_max: (3,) float64 corners of the axis-aligned bounding box.
        room: index into ``Scene.rooms`` (-1 when unknown).
    """

    category: str
    center: np.ndarray
    bbox_min: np.ndarray
    bbox_max: np.ndarray
    room: int = -1

    @property
    def bbox(self) -> np.ndarray:
        """(2, 3) float64: [bbox_min, bbox_max]."""
        return np.stack([self.bbox_min, self.bbox_max])

    def to_dict(self) -> dict:
        return {
            "category": self.category,
            "center": [float(v) for v in self.center],
            "bbox_min": [float(v) for v in self.bbox_min],
            "bbox_max": [float(v) for v in self.bbox_max],
            "room": int(self.room),
        }


@dataclass(frozen=True)
class Room:
    """A room of a procedural apartment: its type and floor rectangle (xmin, ymin, xmax, ymax), metres."""

    kind: str
    bounds: tuple[float, float, float, float]

    @property
    def center(self) -> np.ndarray:
        x0, y0, x1, y1 = self.bounds
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2])

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.bounds
        return (x1 - x0) * (y1 - y0)

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """(N,) bool: which of the (N, 2) points lie inside the rectangle."""
        xy = np.atleast_2d(xy)
        x0, y0, x1, y1 = self.bounds
        return (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)


@dataclass(frozen=True)
class Door:
    """An opening between two rooms of a procedural apartment.

    Attributes:
        rooms: indices of the two rooms it joins.
        center: (3,) float64 centre of the opening (z at half its height), metres.
        width, height: metres.
        normal_axis: 0 if the wall runs along y (crossing the door moves along x), else 1.
    """

    rooms: tuple[int, int]
    center: np.ndarray
    width: float
    height: float
    normal_axis: int

    def to_dict(self) -> dict:
        return {"rooms": [int(r) for r in self.rooms], "center": [float(v) for v in self.center],
                "width": float(self.width), "height": float(self.height), "normal_axis": int(self.normal_axis)}


@dataclass(eq=False)
class Scene:
    """A 3D indoor scene. Coordinates: metres, z up, heading = yaw counter-clockwise from +x.

    Attributes:
        mesh: triangle mesh (trimesh.Trimesh), F faces.
        face_materials: (F,) int32 index into ``materials`` for every face.
        materials: the material table.
        objects: semantic object instances.
        face_objects: (F,) int32 index into ``objects`` (-1 for structure: walls, floor, ...).
        face_colors: (F, 3) uint8 colour of every face; defaults to its material's colour.
        floor_height: z of the walkable floor in metres (0 for procedural scenes; detected for
            loaded meshes, which keep their own coordinates).
        rooms: room rectangles of procedural apartments (empty for loaded meshes).
        doors: openings between those rooms.
        name: a human-readable label (not part of the content hash).
    """

    mesh: trimesh.Trimesh
    face_materials: np.ndarray
    materials: list[Material]
    objects: list[SemanticObject] = field(default_factory=list)
    face_objects: np.ndarray | None = None
    face_colors: np.ndarray | None = None
    floor_height: float = 0.0
    rooms: list[Room] = field(default_factory=list)
    name: str = "scene"
    doors: list[Door] = field(default_factory=list)

    def __post_init__(self) -> None:
        n_faces = len(self.mesh.faces)
        if n_faces == 0:
            raise ValueError(f"scene {self.name!r} has no triangles")
        self.face_materials = np.ascontiguousarray(self.face_materials, dtype=np.int32).reshape(-1)
        if self.face_materials.shape != (n_faces,):
            raise ValueError(f"face_materials must have one entry per face ({n_faces}), got {self.face_materials.shape}")
        if self.face_materials.min() < 0 or self.face_materials.max() >= len(self.materials):
            raise ValueError("face_materials indexes outside the material table")
        if self.face_objects is None:
            self.face_objects = np.full(n_faces, -1, np.int32)
        self.face_objects = np.ascontiguousarray(self.face_objects, dtype=np.int32).reshape(-1)
        if self.face_objects.shape != (n_faces,):
            raise ValueError("face_objects must have one entry per face")
        if self.face_colors is None:
            table = np.array([np.round(m.rgb * 255) for m in self.materials], dtype=np.uint8)
            self.face_colors = table[self.face_materials]
        self.face_colors = np.ascontiguousarray(self.face_colors, dtype=np.uint8)
        if self.face_colors.shape != (n_faces, 3):
            raise ValueError("face_colors must have shape (F, 3)")
        self.floor_height = float(self.floor_height)

    # ---------------------------------------------------------------- derived, cached
    @cached_property
    def content_hash(self) -> str:
        """SHA-256 hex digest of geometry, materials, colours and semantics; stable across runs."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.mesh.vertices, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(self.mesh.faces, dtype="<i8").tobytes())
        h.update(self.face_materials.astype("<i4").tobytes())
        h.update(self.face_objects.astype("<i4").tobytes())
        h.update(self.face_colors.tobytes())
        meta = {
            "materials": [m.to_dict() for m in self.materials],
            "objects": [o.to_dict() for o in self.objects],
            "rooms": [[r.kind, [float(v) for v in r.bounds]] for r in self.rooms],
            "doors": [d.to_dict() for d in self.doors],
            "floor_height": self.floor_height,
        }
        h.update(json.dumps(meta, sort_keys=True).encode())
        return h.hexdigest()

    @cached_property
    def triangles(self) -> np.ndarray:
        """(F, 3, 3) float64 triangle vertices."""
        return np.asarray(self.mesh.triangles)

    @cached_property
    def face_normals(self) -> np.ndarray:
        """(F, 3) float64 unit face normals (zero for degenerate faces)."""
        return np.asarray(self.mesh.face_normals)

    @cached_property
    def ray_caster(self) -> RayCaster:
        """An Embree ray caster over this scene's triangles."""
        return RayCaster(self.triangles)

    @property
    def bounds(self) -> np.ndarray:
        """(2, 3) float64 axis-aligned bounds of the mesh."""
        return np.asarray(self.mesh.bounds)

    @property
    def category_names(self) -> list[str]:
        """Sorted distinct object categories present in the scene."""
        return sorted({o.category for o in self.objects})

    def objects_of(self, category: str) -> list[SemanticObject]:
        return [o for o in self.objects if o.category == category]

    def room_at(self, position) -> int:
        """Index of the room containing ``position`` (xy), or -1 (also for scenes without rooms)."""
        xy = np.asarray(position, dtype=np.float64).reshape(-1)[:2]
        return next((i for i, room in enumerate(self.rooms) if room.contains(xy)[0]), -1)

    @cached_property
    def normals_face_air(self) -> bool:
        """Whether face normals point into the air (true of procedural scenes and of meshes whose
        floor faces point up); scans with flipped or mixed normals give False."""
        near_floor = (np.abs(self.triangles[:, :, 2].mean(axis=1) - self.floor_height) < 0.05) & \
            (np.abs(self.face_normals[:, 2]) > 0.9)
        area = np.asarray(self.mesh.area_faces)[near_floor]
        if area.sum() <= 0:
            return False
        return bool(area[self.face_normals[near_floor, 2] > 0].sum() >= 0.9 * area.sum())

    @cached_property
    def has_ceiling(self) -> bool:
        """Whether horizontal surfaces at the top of the mesh cover at least half the floor's area."""
        horizontal = np.abs(self.face_normals[:, 2]) > 0.9
        z = self.triangles[:, :, 2].mean(axis=1)
        area = np.asarray(self.mesh.area_faces)
        top = self.bounds[1, 2]
        floor_area = area[horizontal & (np.abs(z - self.floor_height) < 0.05)].sum()
        return bool(floor_area > 0 and area[horizontal & (z > top - 0.05)].sum() >= 0.5 * floor_area)

    def free_space_problems(self, points) -> list[str | None]:
        """Per (M, 3) point, None when it lies in the scene's free space, else the reason in a few
        words: below the floor, nothing beneath it (outside the mesh), above the ceiling, or inside
        a solid (a wall box, a slab, furniture). Where face normals point into the air
        (``normals_face_air``) the last two are told by which side of the faces the point sees;
        otherwise "above the ceiling" means above the top of a mesh that has a ceiling."""
        pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
        down = np.tile([0.0, 0.0, -1.0], (len(pts), 1))
        t_down, f_down = self.ray_caster.intersect(pts, down)
        trusted = self.normals_face_air
        above_ceiling = np.zeros(len(pts), bool)
        inside_solid = np.zeros(len(pts), bool)
        if trusted:
            hit = f_down >= 0
            above_ceiling[hit] = self.face_normals[f_down[hit], 2] < -0.5  # looking down at a ceiling's back
            # inside a solid horizontal rays leave through the back of its faces; from the air
            # they meet the front of whatever they hit
            angles = np.arange(8) * np.pi / 4 + np.pi / 16  # off-axis, so no ray runs along a seam
            axes = np.c_[np.cos(angles), np.sin(angles), np.zeros(8)]
            origins = np.repeat(pts, 8, axis=0)
            dirs = np.tile(axes, (len(pts), 1))
            _, face = self.ray_caster.intersect(origins, dirs)
            hit = face >= 0
            back = np.zeros(len(origins), bool)
            back[hit] = np.einsum("ij,ij->i", self.face_normals[face[hit]], dirs[hit]) > 0
            inside_solid = back.reshape(-1, 8).sum(axis=1) >= 5
        elif self.has_ceiling:
            above_ceiling = pts[:, 2] >= self.bounds[1, 2]
        out: list[str | None] = []
        for k, p in enumerate(pts):
            if p[2] <= self.floor_height:
                out.append(f"below the floor (z = {self.floor_height:.2f} m)")
            elif not np.isfinite(t_down[k]):
                out.append("outside the scene (no floor or surface beneath it)")
            elif above_ceiling[k]:
                out.append("above the ceiling")
            elif inside_solid[k]:
                out.append("inside a solid (a wall, the floor slab or furniture)")
            else:
                out.append(None)
        return out

    def __repr__(self) -> str:
        return (
            f"Scene(name={self.name!r}, faces={len(self.mesh.faces)}, materials={len(self.materials)}, "
            f"objects={len(self.objects)}, rooms={len(self.rooms)}, floor_height={self.floor_height:.3f})"
        )

    # ---------------------------------------------------------------- export
    def export(self, path: str | os.PathLike) -> Path:
        """Write the scene to .glb (one node per material, named after it, with its colour and
        per-face colours) or .ply (geometry and per-face colours, no materials).

        ``earshot.scenes.load_scene`` maps material names that match built-in materials back to them.
        The write is atomic: a partial file never appears under ``path``.
        """
        path = Path(path)
        ext = path.suffix.lower()
        if ext not in (".glb", ".ply"):
            raise ValueError(f"cannot export to {path.name!r}: use a .glb or .ply file name")
        path.parent.mkdir(parents=True, exist_ok=True)
        if ext == ".ply":
            mesh = trimesh.Trimesh(self.mesh.vertices, self.mesh.faces, process=False)
            mesh.visual = trimesh.visual.ColorVisuals(mesh, face_colors=np.c_[self.face_colors, np.full(len(self.face_colors), 255, np.uint8)])
            exportable = mesh
        else:
            exportable = trimesh.Scene()
            for index, material in enumerate(self.materials):
                faces = np.flatnonzero(self.face_materials == index)
                if len(faces) == 0:
                    continue
                # unshared vertices so per-face colours survive as vertex colours
                tris = self.triangles[faces].reshape(-1, 3)
                sub = trimesh.Trimesh(tris, np.arange(len(tris)).reshape(-1, 3), process=False)
                rgba = np.c_[np.repeat(self.face_colors[faces], 3, axis=0), np.full(len(tris), 255, np.uint8)]
                sub.visual = trimesh.visual.ColorVisuals(sub, vertex_colors=rgba)
                sub.metadata["name"] = f"{material.name}#{index}"
                exportable.add_geometry(sub, node_name=f"{material.name}#{index}", geom_name=f"{material.name}#{index}")
        data = exportable.export(file_type=ext.lstrip("."))
        write_bytes_atomic(path, data if isinstance(data, bytes) else data.encode())
        return path

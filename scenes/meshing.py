"""Mesh assembly of procedural scenes: the builder that accumulates boxes and quads with per-face
material, object and colour; walls (split where rooms meet, so each face carries the material of
the room it faces) and tiled floors of apartments; shoebox rooms and extruded polygon rooms.

Face normals point into the air (out of solid walls and furniture, into the shoebox room).
"""

from __future__ import annotations

import numpy as np
import trimesh

from .materials import Material, get_material
from .scene import Room, Scene


class _MeshBuilder:
    """Accumulates boxes and quads with per-face material, object and colour."""

    _BOX_FACES = {  # outward faces of a box with corners indexed by (x, y, z) bits
        "bottom": [(0, 2, 3), (0, 3, 1)],
        "top": [(4, 5, 7), (4, 7, 6)],
        "-y": [(0, 1, 5), (0, 5, 4)],
        "+y": [(2, 6, 7), (2, 7, 3)],
        "-x": [(0, 4, 6), (0, 6, 2)],
        "+x": [(1, 3, 7), (1, 7, 5)],
    }

    def __init__(self) -> None:
        self.vertices: list[np.ndarray] = []
        self.faces: list[np.ndarray] = []
        self.face_material: list[np.ndarray] = []
        self.face_object: list[np.ndarray] = []
        self.face_color: list[np.ndarray] = []
        self.n_vertices = 0
        self.materials: list[Material] = []
        self._material_index: dict[Material, int] = {}

    def material(self, material: Material) -> int:
        if material not in self._material_index:
            self._material_index[material] = len(self.materials)
            self.materials.append(material)
        return self._material_index[material]

    def add(self, vertices, faces, material: "Material | list[Material]", obj: int = -1, colors=None) -> None:
        """Add triangles; ``material`` is one Material or one per face."""
        vertices = np.asarray(vertices, dtype=np.float64)
        faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
        per_face = [material] * len(faces) if isinstance(material, Material) else list(material)
        self.vertices.append(vertices)
        self.faces.append(faces + self.n_vertices)
        self.n_vertices += len(vertices)
        self.face_material.append(np.array([self.material(m) for m in per_face], np.int32))
        self.face_object.append(np.full(len(faces), obj, np.int32))
        if colors is None:
            colors = np.array([np.round(m.rgb * 255) for m in per_face], dtype=np.uint8)
        self.face_color.append(np.asarray(colors, dtype=np.uint8).reshape(-1, 3))

    @classmethod
    def box_geometry(cls, lo, hi, drop=("bottom",)) -> tuple[np.ndarray, np.ndarray]:
        """(8, 3) corners and outward-facing triangles of an axis-aligned box, minus ``drop`` sides."""
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        corners = np.array([[(hi if (i >> k) & 1 else lo)[k] for k in range(3)] for i in range(8)])
        faces = np.array([f for name, tris in cls._BOX_FACES.items() if name not in drop for f in tris])
        return corners, faces

    def box(self, lo, hi, material: Material, obj: int = -1, drop=("bottom",)) -> None:
        self.add(*self.box_geometry(lo, hi, drop), material, obj)

    def build(self) -> tuple[trimesh.Trimesh, np.ndarray, np.ndarray, np.ndarray]:
        mesh = trimesh.Trimesh(np.concatenate(self.vertices), np.concatenate(self.faces), process=False)
        return (
            mesh,
            np.concatenate(self.face_material),
            np.concatenate(self.face_object),
            np.concatenate(self.face_color),
        )


# ---------------------------------------------------------------------------------------------
# shoebox


def shoebox(width: float, depth: float, height: float, material="plaster") -> Scene:
    """One empty rectangular room spanning [0, width] × [0, depth] × [0, height] metres.

    Args:
        material: a built-in material name, a ``Material``, or a dict with keys ``"walls"``,
            ``"floor"`` and ``"ceiling"`` (each a name or ``Material``; missing keys use walls').
    """
    for label, value in (("width", width), ("depth", depth), ("height", height)):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"shoebox {label} must be a positive number of metres, got {value!r}")
    if isinstance(material, dict):
        unknown = set(material) - {"walls", "floor", "ceiling"}
        if unknown:
            raise ValueError(f"shoebox material dict has unknown keys {sorted(unknown)}; use walls/floor/ceiling")
        walls = get_material(material.get("walls", "plaster"))
        floor = get_material(material.get("floor", walls))
        ceiling = get_material(material.get("ceiling", walls))
    else:
        walls = floor = ceiling = get_material(material)
    b = _MeshBuilder()
    w, d, h = float(width), float(depth), float(height)
    quads = [  # (corners counter-clockwise seen from inside the room, material)
        ([[0, 0, 0], [w, 0, 0], [w, d, 0], [0, d, 0]], floor),  # floor, normal +z
        ([[0, 0, h], [0, d, h], [w, d, h], [w, 0, h]], ceiling),  # ceiling, normal -z
        ([[0, 0, 0], [0, 0, h], [w, 0, h], [w, 0, 0]], walls),  # y = 0, normal +y
        ([[0, d, 0], [w, d, 0], [w, d, h], [0, d, h]], walls),  # y = d, normal -y
        ([[0, 0, 0], [0, d, 0], [0, d, h], [0, 0, h]], walls),  # x = 0, normal +x
        ([[w, 0, 0], [w, 0, h], [w, d, h], [w, d, 0]], walls),  # x = w, normal -x
    ]
    for corners, mat in quads:
        b.add(corners, [[0, 1, 2], [0, 2, 3]], mat)
    mesh, fm, fo, fc = b.build()
    return Scene(mesh, fm, b.materials, face_objects=fo, face_colors=fc, floor_height=0.0,
                 rooms=[Room("room", (0.0, 0.0, w, d))], name=f"shoebox_{w:g}x{d:g}x{h:g}")


def _edges_cross(pts: np.ndarray) -> bool:
    """Whether two non-adjacent edges of the closed polygon ``pts`` (K, 2) intersect."""
    k = len(pts)

    def orient(a, b, c):
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    for i in range(k):
        a, b = pts[i], pts[(i + 1) % k]
        for j in range(i + 2, k):
            if i == 0 and j == k - 1:
                continue  # adjacent through the closing edge
            c, d = pts[j], pts[(j + 1) % k]
            if orient(a, b, c) * orient(a, b, d) < 0 and orient(c, d, a) * orient(c, d, b) < 0:
                return True
    return False


def polygon_room_mesh(outline, height: float) -> trimesh.Trimesh:
    """A closed room of any simple floor-plan polygon as a bare mesh (no rooms, no materials):
    floor at z = 0, ceiling at ``height``, vertical walls, faces wound to point into the room.
    For acoustics and loader tests, e.g. an L-shaped room saved as a mesh file:
    ``polygon_room_mesh([(0, 0), (8, 0), (8, 4), (4, 4), (4, 7), (0, 7)], 3.0).export("l.ply")``.

    Args:
        outline: (K, 2) floor-plan corners in order (either orientation), metres.
    """
    pts = np.asarray(outline, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
        raise ValueError(f"outline must be at least 3 (x, y) corners, got shape {pts.shape}")
    if not np.isfinite(height) or height <= 0:
        raise ValueError(f"height must be a positive number of metres, got {height!r}")
    area2 = np.sum(pts[:, 0] * np.roll(pts[:, 1], -1) - np.roll(pts[:, 0], -1) * pts[:, 1])
    if abs(area2) < 1e-9 or _edges_cross(pts):
        raise ValueError("outline must be a simple polygon (its edges cross, or it encloses no area)")
    if area2 < 0:
        pts = pts[::-1]  # counter-clockwise seen from above
    k = len(pts)
    # floor by ear clipping (counter-clockwise: normals +z), ceiling the same faces reversed
    idx, tris = list(range(k)), []
    while len(idx) > 3:
        for i in range(len(idx)):
            a, b, c = idx[i - 1], idx[i], idx[(i + 1) % len(idx)]
            ab, bc = pts[b] - pts[a], pts[c] - pts[b]
            if ab[0] * bc[1] - ab[1] * bc[0] <= 1e-12:
                continue  # reflex corner
            inside = False
            for j in idx:
                if j in (a, b, c):
                    continue
                p = pts[j]
                d1 = (pts[b] - pts[a])[0] * (p - pts[a])[1] - (pts[b] - pts[a])[1] * (p - pts[a])[0]
                d2 = (pts[c] - pts[b])[0] * (p - pts[b])[1] - (pts[c] - pts[b])[1] * (p - pts[b])[0]
                d3 = (pts[a] - pts[c])[0] * (p - pts[c])[1] - (pts[a] - pts[c])[1] * (p - pts[c])[0]
                if d1 >= 0 and d2 >= 0 and d3 >= 0:
                    inside = True
                    break
            if not inside:
                tris.append((a, b, c))
                idx.pop(i)
                break
        else:
            raise ValueError("outline must be a simple polygon (its edges cross)")
    tris.append(tuple(idx))
    vertices = np.r_[np.c_[pts, np.zeros(k)], np.c_[pts, np.full(k, float(height))]]
    faces = [list(t) for t in tris] + [[t[0] + k, t[2] + k, t[1] + k] for t in tris]
    for i in range(k):  # walls: seen from inside (left of a counter-clockwise edge)
        j = (i + 1) % k
        faces += [[i, j + k, j], [i, i + k, j + k]]
    return trimesh.Trimesh(vertices, np.array(faces), process=False)


def _wall_box(axis: int, line: float, lo: float, hi: float, t: float, z0: float, z1: float):
    if axis == 0:  # wall on x = line, running along y
        return (line - t / 2, lo, z0), (line + t / 2, hi, z1)
    return (lo, line - t / 2, z0), (hi, line + t / 2, z1)


def _add_wall(b: _MeshBuilder, lo, hi, cuts: dict, rooms, wall_mats, exterior_mat) -> None:
    """One wall box (no top; no bottom when it stands on the floor), its faces split where rooms
    meet so that every face carries the material and colour of the room it faces: the long
    sides at every room corner along the wall, the end caps (door jambs) and a lintel's underside
    along the wall's centre line. Faces that face no room (the building's outside) are exterior."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    run = 1 if hi[1] - lo[1] > hi[0] - lo[0] else 0  # the axis the wall runs along
    across = 1 - run
    mid = (lo[across] + hi[across]) / 2
    z0, z1 = lo[2], hi[2]
    quads = []  # (corners (4, 3), outward normal (3,))

    def point(a_run, a_across, z):
        p = np.zeros(3)
        p[run], p[across], p[2] = a_run, a_across, z
        return p

    stops = [lo[run]] + [c for c in cuts[across] if lo[run] + 1e-9 < c < hi[run] - 1e-9] + [hi[run]]
    for side, value in ((-1.0, lo[across]), (1.0, hi[across])):  # the long sides, cut at room corners
        normal = np.zeros(3)
        normal[across] = side
        for r0, r1 in zip(stops[:-1], stops[1:]):
            quads.append((np.array([point(r0, value, z0), point(r1, value, z0), point(r1, value, z1), point(r0, value, z1)]), normal))
    for side, value in ((-1.0, lo[run]), (1.0, hi[run])):  # end caps, halved at the centre line
        normal = np.zeros(3)
        normal[run] = side
        for a0, a1 in ((lo[across], mid), (mid, hi[across])):
            quads.append((np.array([point(value, a0, z0), point(value, a1, z0), point(value, a1, z1), point(value, a0, z1)]), normal))
    if z0 > 0.0:  # a lintel's underside, halved at the centre line
        for a0, a1 in ((lo[across], mid), (mid, hi[across])):
            quads.append((np.array([point(lo[run], a0, z0), point(hi[run], a0, z0), point(hi[run], a1, z0), point(lo[run], a1, z0)]),
                          np.array([0.0, 0.0, -1.0])))
    thickness = hi[across] - lo[across]
    for corners, normal in quads:
        if np.cross(corners[1] - corners[0], corners[2] - corners[0]) @ normal < 0:
            corners = corners[::-1]
        probe = corners.mean(axis=0) + normal * thickness / 2
        inside = [i for i, r in enumerate(rooms) if r[0] < probe[0] < r[2] and r[1] < probe[1] < r[3]]
        b.add(corners, [[0, 1, 2], [0, 2, 3]], wall_mats[inside[0]] if inside else exterior_mat)


def _add_floor(b: _MeshBuilder, rng, rooms, floor_mats, footprint, tile: float) -> None:
    x0, y0, x1, y1 = footprint
    # tile edges at odd multiples of tile/2, clipped to the footprint
    xe = np.unique(np.clip(np.arange(np.floor(x0 / tile) * tile - tile / 2, x1 + tile, tile), x0, x1))
    ye = np.unique(np.clip(np.arange(np.floor(y0 / tile) * tile - tile / 2, y1 + tile, tile), y0, y1))
    nx, ny = len(xe), len(ye)
    gx, gy = np.meshgrid(xe, ye, indexing="ij")
    vertices = np.c_[gx.ravel(), gy.ravel(), np.zeros(gx.size)]
    i, j = np.meshgrid(np.arange(nx - 1), np.arange(ny - 1), indexing="ij")
    v00 = (i * ny + j).ravel()
    v10, v01, v11 = v00 + ny, v00 + 1, v00 + ny + 1
    cx = ((xe[:-1] + xe[1:]) / 2)[i.ravel()]
    cy = ((ye[:-1] + ye[1:]) / 2)[j.ravel()]
    room_of = np.full(len(cx), -1)
    for k, r in reversed(list(enumerate(rooms))):
        room_of[(cx >= r[0]) & (cx <= r[2]) & (cy >= r[1]) & (cy <= r[3])] = k
    parity = ((i + j) % 2).ravel()
    shade = np.where(parity == 0, 1.0, 0.93)
    faces = np.stack([np.c_[v00, v10, v11], np.c_[v00, v11, v01]], axis=1)  # (T, 2, 3), normal +z
    for k in range(len(rooms)):
        sel = np.flatnonzero(room_of == k)
        if len(sel) == 0:
            continue
        mat = floor_mats[k]
        rgb = np.clip(mat.rgb[None, :] * shade[sel, None], 0, 1)
        colors = np.repeat(np.round(rgb * 255).astype(np.uint8), 2, axis=0)
        b.add(vertices, faces[sel].reshape(-1, 3), mat, colors=colors)

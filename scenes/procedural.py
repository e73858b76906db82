"""Seeded procedural apartments and shoebox rooms.

An apartment is a rectangular footprint divided into 2–6 axis-aligned rooms (binary space
partition, or rooms on both sides of a corridor), joined by door openings along a random
spanning tree of the room-adjacency graph (plus a few extra doors), with walls, a tiled floor,
ceilings and furniture from 14 semantic categories. Room boundaries lie on a 0.5 m lattice and
door centres on a 1 m lattice, so navigation grids of 0.25, 0.5 or 1 m spacing aligned to world
multiples pass through every door. Furniture is placed only where it neither enters a door's
clearance zone nor cuts any walkable grid node off from the rest of the apartment.

Face normals point into the air (out of solid walls and furniture, into the shoebox room).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import trimesh
from scipy import sparse
from scipy.sparse import csgraph

from .checks import check_bool, check_choice, check_int, check_number
from .materials import Material, get_material
from .scene import Door, Room, Scene, SemanticObject
from .splits import SEED_SALT

ROOM_TYPES = ("living_room", "kitchen", "bedroom", "bathroom", "office", "corridor")

LATTICE = 0.5  # m, room boundaries lie on multiples of this
DOOR_LATTICE = 1.0  # m, door centres prefer multiples of this


@dataclass
class ApartmentParams:
    """Parameters of ``generate_apartment``; any left as None are drawn from the seed."""

    n_rooms: int | None = None  # 2..6
    ceiling_height: float | None = None  # m, 2.4..3.0
    wall_thickness: float = 0.1  # m
    door_height: float = 2.1  # m
    door_width: tuple[float, float] = (0.9, 1.2)  # m, drawn uniformly per door
    furniture: bool = True
    clearance: float = 0.25  # m, free radius kept around walkable lattice nodes when placing furniture
    nav_spacing: float = 0.5  # m, a NavGraph spacing whose lattice must stay connected (0.25, 0.5 or 1.0);
    # the 1 m lattice is always kept connected too
    floor_tile: float = 0.5  # m, floor tile size (tiles alternate slightly in brightness)


# ---------------------------------------------------------------------------------------------
# mesh assembly


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


# ---------------------------------------------------------------------------------------------
# furniture catalogue

# category -> (width range, depth range, height range, placement, rooms)
# Sizes in metres; width runs along the wall the piece backs onto, depth away from it.
_CATALOGUE: dict[str, tuple] = {
    "bed": ((1.4, 1.8), (1.9, 2.1), (0.45, 0.55), "wall"),
    "sofa": ((1.6, 2.2), (0.8, 0.95), (0.8, 0.9), "wall"),
    "chair": ((0.45, 0.55), (0.45, 0.55), (0.85, 0.95), "free"),
    "table": ((1.0, 1.6), (0.7, 0.9), (0.72, 0.76), "free"),
    "tv": ((0.9, 1.4), (0.35, 0.45), (1.0, 1.2), "wall"),
    "sink": ((0.5, 0.7), (0.45, 0.55), (0.85, 0.9), "wall"),
    "toilet": ((0.38, 0.42), (0.6, 0.7), (0.75, 0.8), "wall"),
    "cabinet": ((0.6, 1.2), (0.4, 0.6), (0.8, 2.0), "wall"),
    "fridge": ((0.6, 0.75), (0.6, 0.7), (1.7, 1.9), "wall"),
    "plant": ((0.3, 0.5), (0.3, 0.5), (0.6, 1.6), "corner"),
    "desk": ((1.0, 1.4), (0.55, 0.7), (0.72, 0.76), "wall"),
    "bathtub": ((1.5, 1.7), (0.7, 0.8), (0.5, 0.6), "wall"),
    "bookshelf": ((0.8, 1.2), (0.3, 0.4), (1.6, 2.0), "wall"),
    "stove": ((0.55, 0.65), (0.55, 0.65), (0.85, 0.9), "wall"),
}
CATEGORIES = tuple(_CATALOGUE)

# room type -> [(category, probability)], tried in order
_ROOM_FURNITURE: dict[str, list[tuple[str, float]]] = {
    "living_room": [("sofa", 1.0), ("tv", 0.9), ("table", 0.8), ("chair", 0.6), ("bookshelf", 0.6), ("plant", 0.7), ("cabinet", 0.4)],
    "kitchen": [("fridge", 1.0), ("stove", 1.0), ("sink", 1.0), ("cabinet", 0.8), ("table", 0.7), ("chair", 0.7), ("chair", 0.5), ("plant", 0.3)],
    "bedroom": [("bed", 1.0), ("cabinet", 0.9), ("desk", 0.4), ("chair", 0.4), ("plant", 0.4), ("tv", 0.3)],
    "bathroom": [("toilet", 1.0), ("sink", 1.0), ("bathtub", 0.7), ("cabinet", 0.4), ("plant", 0.2)],
    "office": [("desk", 1.0), ("chair", 1.0), ("bookshelf", 0.9), ("cabinet", 0.6), ("plant", 0.6), ("sofa", 0.3)],
    "corridor": [("plant", 0.6), ("cabinet", 0.3)],
}

_WALL_MATERIALS = {
    "living_room": ["plaster", "wood_panel", "brick"],
    "kitchen": ["plaster", "ceramic_tile"],
    "bedroom": ["plaster", "plasterboard"],
    "bathroom": ["ceramic_tile"],
    "office": ["plaster", "plasterboard", "wood_panel"],
    "corridor": ["plaster", "concrete"],
}
_FLOOR_MATERIALS = {
    "living_room": ["wood_floor", "carpet"],
    "kitchen": ["tile_floor", "linoleum"],
    "bedroom": ["carpet", "wood_floor"],
    "bathroom": ["tile_floor"],
    "office": ["carpet", "wood_floor"],
    "corridor": ["wood_floor", "tile_floor"],
}
_WALL_PAINT = [(0.92, 0.90, 0.85), (0.80, 0.87, 0.92), (0.85, 0.92, 0.82), (0.95, 0.88, 0.78),
               (0.90, 0.82, 0.84), (0.86, 0.86, 0.90), (0.96, 0.95, 0.90)]
_FABRIC = [(0.35, 0.42, 0.55), (0.55, 0.25, 0.22), (0.30, 0.45, 0.35), (0.50, 0.48, 0.45), (0.62, 0.55, 0.40)]
_CARPET = [(0.45, 0.40, 0.50), (0.55, 0.45, 0.35), (0.35, 0.45, 0.55), (0.60, 0.58, 0.52)]


def _jitter(rng: np.random.Generator, rgb, amount: float = 0.06) -> np.ndarray:
    return np.clip(np.asarray(rgb) + rng.uniform(-amount, amount, 3), 0.0, 1.0)


def _colored(rng: np.random.Generator, name: str, palette=None) -> Material:
    base = get_material(name)
    rgb = palette[rng.integers(len(palette))] if palette else base.rgb
    return base.with_rgb(np.round(_jitter(rng, rgb), 3))


def _furniture_parts(category: str, w: float, d: float, h: float, rng) -> list[tuple[tuple, tuple, Material]]:
    """Boxes of one piece in its local frame: x across (±w/2), y from back (-d/2) to front (+d/2)."""
    x0, x1, y0, y1 = -w / 2, w / 2, -d / 2, d / 2
    wood = _colored(rng, "wood")
    if category == "table" or category == "desk":
        leg, top = 0.05, 0.04
        parts = [((x0, y0, h - top), (x1, y1, h), wood)]
        for lx, ly in ((x0, y0), (x1 - leg, y0), (x0, y1 - leg), (x1 - leg, y1 - leg)):
            parts.append(((lx, ly, 0.0), (lx + leg, ly + leg, h - top), wood))
        return parts
    if category == "chair":
        seat = 0.45
        return [((x0, y0, 0.0), (x1, y1, seat), wood), ((x0, y0, seat), (x1, y0 + 0.06, h), wood)]
    if category == "bed":
        fabric = _colored(rng, "fabric", _FABRIC)
        return [((x0, y0, 0.0), (x1, y1, h), fabric), ((x0, y0, 0.0), (x1, y0 + 0.08, 1.0), wood)]
    if category == "sofa":
        fabric = _colored(rng, rng.choice(["fabric", "leather"]), _FABRIC)
        seat, arm = 0.45, 0.18
        return [((x0 + arm, y0 + 0.2, 0.0), (x1 - arm, y1, seat), fabric),
                ((x0, y0, 0.0), (x1, y0 + 0.2, h), fabric),
                ((x0, y0 + 0.2, 0.0), (x0 + arm, y1, 0.62), fabric),
                ((x1 - arm, y0 + 0.2, 0.0), (x1, y1, 0.62), fabric)]
    if category == "tv":
        stand_h = 0.5
        screen = get_material("screen")
        return [((x0, y0, 0.0), (x1, y1, stand_h), wood),
                ((x0 + 0.05, y0 + 0.1, stand_h), (x1 - 0.05, y0 + 0.16, h), screen)]
    if category in ("sink", "toilet", "bathtub"):
        return [((x0, y0, 0.0), (x1, y1, h), _colored(rng, "ceramic"))]
    if category in ("fridge", "stove"):
        return [((x0, y0, 0.0), (x1, y1, h), _colored(rng, "metal"))]
    if category == "plant":
        pot = (0.55, 0.30, 0.20)
        return [((x0 + 0.05, y0 + 0.05, 0.0), (x1 - 0.05, y1 - 0.05, 0.3), _colored(rng, "ceramic").with_rgb(pot)),
                ((x0, y0, 0.3), (x1, y1, h), _colored(rng, "plant"))]
    # cabinet, bookshelf
    return [((x0, y0, 0.0), (x1, y1, h), wood)]


# ---------------------------------------------------------------------------------------------
# layout


def _snap(v: float) -> float:
    return round(v / LATTICE) * LATTICE


def _partition(length: float, k: int, rng, min_size: float) -> list[float] | None:
    """k lattice-aligned segment lengths summing to ``length``, each ≥ ``min_size``."""
    if length < k * min_size - 1e-9:
        return None
    cuts = [0.0]
    for i in range(k - 1):
        remaining_rooms = k - i - 1
        lo = cuts[-1] + min_size
        hi = length - remaining_rooms * min_size
        ideal = cuts[-1] + (length - cuts[-1]) / (remaining_rooms + 1) * rng.uniform(0.75, 1.25)
        cuts.append(float(np.clip(_snap(ideal), _snap_up(lo), _snap_down(hi))))
    cuts.append(length)
    sizes = np.diff(cuts)
    return None if np.any(sizes < min_size - 1e-9) else list(cuts)


def _snap_up(v: float) -> float:
    return np.ceil(v / LATTICE - 1e-9) * LATTICE


def _snap_down(v: float) -> float:
    return np.floor(v / LATTICE + 1e-9) * LATTICE


def _layout(rng, n_rooms: int) -> tuple[list[tuple[float, float, float, float]], int | None]:
    """Room rectangles (xmin, ymin, xmax, ymax) tiling a footprint; index of the corridor or None."""
    min_room = 2.5
    if n_rooms >= 4 and rng.random() < 0.6:
        corridor_w = 1.5
        n_side = n_rooms - 1
        k_a = int(rng.integers((n_side + 1) // 2, n_side)) if n_side > 2 else 1
        k_b = n_side - k_a
        length = max(_snap(rng.uniform(3.0, 4.0) * max(k_a, k_b)), max(k_a, k_b) * min_room)
        depth_a = _snap(rng.uniform(2.5, 4.5))
        depth_b = _snap(rng.uniform(2.5, 4.5))
        cuts_a = _partition(length, k_a, rng, min_room)
        cuts_b = _partition(length, k_b, rng, min_room)
        rooms = [(cuts_a[i], 0.0, cuts_a[i + 1], depth_a) for i in range(k_a)]
        y_b = depth_a + corridor_w
        rooms += [(cuts_b[i], y_b, cuts_b[i + 1], y_b + depth_b) for i in range(k_b)]
        rooms.append((0.0, depth_a, length, y_b))
        return rooms, len(rooms) - 1
    area = n_rooms * rng.uniform(10.0, 16.0)
    aspect = rng.uniform(1.0, 1.8)
    width = max(_snap(np.sqrt(area * aspect)), 4.0)
    depth = max(_snap(area / width), 3.0)
    rooms = [(0.0, 0.0, width, depth)]
    while len(rooms) < n_rooms:
        order = sorted(range(len(rooms)), key=lambda i: -(rooms[i][2] - rooms[i][0]) * (rooms[i][3] - rooms[i][1]))
        for i in order:
            x0, y0, x1, y1 = rooms[i]
            axis = 0 if (x1 - x0) >= (y1 - y0) else 1
            lo, hi = (x0, x1) if axis == 0 else (y0, y1)
            if hi - lo < 2 * min_room:
                axis = 1 - axis
                lo, hi = (x0, x1) if axis == 0 else (y0, y1)
                if hi - lo < 2 * min_room:
                    continue
            cut = float(np.clip(_snap(lo + (hi - lo) * rng.uniform(0.35, 0.65)), _snap_up(lo + min_room), _snap_down(hi - min_room)))
            a, b = ((x0, y0, cut, y1), (cut, y0, x1, y1)) if axis == 0 else ((x0, y0, x1, cut), (x0, cut, x1, y1))
            rooms[i:i + 1] = [a, b]
            break
        else:  # nothing splittable: fall back to a row of rooms
            length = _snap(n_rooms * rng.uniform(3.0, 4.0))
            cuts = _partition(length, n_rooms, rng, min_room)
            depth = _snap(rng.uniform(3.0, 4.5))
            return [(cuts[i], 0.0, cuts[i + 1], depth) for i in range(n_rooms)], None
    return rooms, None


def _shared_walls(rooms) -> list[tuple[int, int, int, float, float, float]]:
    """(i, j, axis, line, lo, hi): rooms i and j share the wall on ``axis`` = line over [lo, hi]."""
    shared = []
    for i, a in enumerate(rooms):
        for j in range(i + 1, len(rooms)):
            b = rooms[j]
            for axis in (0, 1):
                o = 1 - axis  # coordinate along the wall
                for line in (a[axis + 2],):
                    if abs(line - b[axis]) < 1e-9:
                        lo, hi = max(a[o], b[o]), min(a[o + 2], b[o + 2])
                        if hi > lo:
                            shared.append((i, j, axis, line, lo, hi))
                for line in (a[axis],):
                    if abs(line - b[axis + 2]) < 1e-9:
                        lo, hi = max(a[o], b[o]), min(a[o + 2], b[o + 2])
                        if hi > lo:
                            shared.append((i, j, axis, line, lo, hi))
    return shared


def _checked_spacings(nav_spacing: float) -> list[float]:
    """Navigation lattices that must stay connected: ``nav_spacing`` and always 1 m (MP3D-style)."""
    return sorted({float(nav_spacing), DOOR_LATTICE})


def _door_centres(lo: float, hi: float, width: float, nav_spacing: float, margin: float = 0.25) -> list[float]:
    """Door centres on the wall interval [lo, hi], on a lattice every checked grid passes through."""
    spacings = _checked_spacings(nav_spacing)
    steps = [s for s in (DOOR_LATTICE, LATTICE) if all(abs(s / g - round(s / g)) < 1e-9 for g in spacings)]
    for step in steps:
        first = np.ceil((lo + margin + width / 2) / step - 1e-9) * step
        centres = list(np.arange(first, hi - margin - width / 2 + 1e-9, step))
        if centres:
            return [float(c) for c in centres]
    return []


def _merge_intervals(intervals):
    merged = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1e-9:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return merged


def _subtract(intervals, holes):
    """Intervals minus holes; returns (lo, hi, lo_is_hole_edge, hi_is_hole_edge)."""
    out = []
    for lo, hi in intervals:
        pieces = [(lo, hi, False, False)]
        for hlo, hhi in holes:
            nxt = []
            for plo, phi, elo, ehi in pieces:
                if hhi <= plo + 1e-9 or hlo >= phi - 1e-9:
                    nxt.append((plo, phi, elo, ehi))
                    continue
                if hlo > plo + 1e-9:
                    nxt.append((plo, hlo, elo, True))
                if hhi < phi - 1e-9:
                    nxt.append((hhi, phi, True, ehi))
            pieces = nxt
        out.extend(pieces)
    return out


# ---------------------------------------------------------------------------------------------
# walkability check on the node lattice (2D, analytic)


class _Walkability:
    """Lattice nodes and edges of the plan kept ``clearance`` away from rectangular obstacles,
    with connectivity queries. Mirrors what ``NavGraph.build`` measures on the finished mesh."""

    def __init__(self, footprint, clearance: float, spacing: float = LATTICE):
        x0, y0, x1, y1 = footprint
        self.xs = np.arange(np.ceil(x0 / spacing), np.floor(x1 / spacing) + 1) * spacing
        self.ys = np.arange(np.ceil(y0 / spacing), np.floor(y1 / spacing) + 1) * spacing
        self.gx, self.gy = np.meshgrid(self.xs, self.ys, indexing="ij")
        self.r = clearance
        # segments as (x_lo, y_lo, x_hi, y_hi): nodes, then x-edges, then y-edges
        gx, gy = self.gx, self.gy
        self.segments = np.concatenate([
            np.stack([gx, gy, gx, gy], -1).reshape(-1, 4),
            np.stack([gx[:-1], gy[:-1], gx[1:], gy[1:]], -1).reshape(-1, 4),
            np.stack([gx[:, :-1], gy[:, :-1], gx[:, 1:], gy[:, 1:]], -1).reshape(-1, 4),
        ])
        n = gx.size
        ids = np.arange(n).reshape(gx.shape)
        self.ends = np.concatenate([
            np.stack([ids.ravel(), ids.ravel()], -1),
            np.stack([ids[:-1].ravel(), ids[1:].ravel()], -1),
            np.stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()], -1),
        ])
        self.n_nodes = n
        self.free = np.ones(len(self.segments), bool)
        self.main = np.zeros(n, bool)  # set by settle() once the walls are in

    def blocked_by(self, rect) -> np.ndarray:
        """(S,) bool: segments (nodes and edges) closer than the clearance to ``rect``."""
        x0, y0, x1, y1 = rect
        s = self.segments
        dx = np.maximum(np.maximum(x0 - s[:, 2], s[:, 0] - x1), 0.0)
        dy = np.maximum(np.maximum(y0 - s[:, 3], s[:, 1] - y1), 0.0)
        return dx * dx + dy * dy < self.r * self.r - 1e-12

    def block(self, rect) -> None:
        self.free &= ~self.blocked_by(rect)

    def main_component(self, free=None) -> np.ndarray:
        """(N,) bool: nodes of the largest connected component of free nodes and edges."""
        free = self.free if free is None else free
        nodes = free[: self.n_nodes]
        edges = self.ends[self.n_nodes:][free[self.n_nodes:]]
        edges = edges[nodes[edges[:, 0]] & nodes[edges[:, 1]]]
        graph = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(self.n_nodes,) * 2)
        _, labels = csgraph.connected_components(graph, directed=False)
        labels = np.where(nodes, labels, -1)
        if not nodes.any():
            return nodes.copy()
        return labels == np.bincount(labels[nodes]).argmax()

    def room_nodes(self, rect) -> np.ndarray:
        x0, y0, x1, y1 = rect
        gx, gy = self.gx.ravel(), self.gy.ravel()
        return (gx > x0) & (gx < x1) & (gy > y0) & (gy < y1)

    def settle(self) -> None:
        self.main = self.main_component()

    def check(self, rect, room) -> tuple | None:
        """The state after blocking ``rect``, or None if that would cut any node off the main
        component or leave ``room`` without one."""
        covered = self.blocked_by(rect)
        free = self.free & ~covered
        main = self.main_component(free)
        if np.any(self.main & ~covered[: self.n_nodes] & ~main) or not np.any(main & self.room_nodes(room)):
            return None
        return free, main

    def commit(self, state) -> None:
        self.free, self.main = state


# ---------------------------------------------------------------------------------------------
# apartment


def generate_apartment(seed: int, **params) -> Scene:
    """A seeded procedural apartment (metres, z up, floor at z = 0).

    Args:
        seed: non-negative integer; the same seed always gives the same scene (same
            ``content_hash``). ``earshot.scenes.split_seeds`` partitions seeds into train/val/test.
        **params: fields of ``ApartmentParams`` (``n_rooms`` 2–6, ``ceiling_height`` 2.4–3.0,
            ``wall_thickness``, ``door_height``, ``door_width``, ``furniture``, ...).

    Returns:
        A ``Scene`` with ``rooms`` (type and rectangle of every room) and semantic ``objects``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    known = {f.name for f in fields(ApartmentParams)}
    unknown = set(params) - known
    if unknown:
        raise TypeError(f"generate_apartment got unknown parameters {sorted(unknown)}; known: {sorted(known)}")
    p = ApartmentParams(**params)
    _check_params(p)

    rng = np.random.default_rng([int(seed), SEED_SALT])
    n_rooms = int(p.n_rooms) if p.n_rooms is not None else int(rng.integers(2, 7))
    height = float(p.ceiling_height) if p.ceiling_height is not None else float(np.round(rng.uniform(2.4, 3.0), 2))
    t = p.wall_thickness

    for _attempt in range(50):
        rooms, corridor = _layout(rng, n_rooms)
        doors = _choose_doors(rng, rooms, corridor, p)
        if doors is not None:
            break
    else:  # pragma: no cover - layouts always have a spanning tree in practice
        raise RuntimeError(f"could not connect the rooms of apartment seed {seed}")

    kinds = _room_kinds(rng, rooms, corridor)
    footprint = (0.0, 0.0, max(r[2] for r in rooms), max(r[3] for r in rooms))

    b = _MeshBuilder()
    wall_mats = [_colored(rng, rng.choice(_WALL_MATERIALS[k]), _WALL_PAINT) for k in kinds]
    floor_mats = []
    for k in kinds:
        name = rng.choice(_FLOOR_MATERIALS[k])
        floor_mats.append(_colored(rng, name, _CARPET if name == "carpet" else None))
    ceiling_mat = _colored(rng, "ceiling")
    exterior_mat = get_material("concrete")

    # walls: union of room edges per line, minus door openings
    lines: dict[tuple[int, float], list] = {}
    for r in rooms:
        for axis in (0, 1):
            o = 1 - axis
            for line in (r[axis], r[axis + 2]):
                lines.setdefault((axis, round(line, 6)), []).append((r[o], r[o + 2]))
    door_holes: dict[tuple[int, float], list] = {}
    for d in doors:
        door_holes.setdefault((d["axis"], round(d["line"], 6)), []).append((d["lo"], d["hi"]))
    wall_boxes = []
    for (axis, line), intervals in lines.items():
        for lo, hi, lo_door, hi_door in _subtract(_merge_intervals(intervals), door_holes.get((axis, line), [])):
            lo_ext = lo if lo_door else lo - t / 2
            hi_ext = hi if hi_door else hi + t / 2
            wall_boxes.append(_wall_box(axis, line, lo_ext, hi_ext, t, 0.0, height))
    for d in doors:  # lintels above the openings
        wall_boxes.append(_wall_box(d["axis"], d["line"], d["lo"], d["hi"], t, p.door_height, height))
    cuts = {0: sorted({r[1] for r in rooms} | {r[3] for r in rooms}), 1: sorted({r[0] for r in rooms} | {r[2] for r in rooms})}
    for lo, hi in wall_boxes:
        _add_wall(b, lo, hi, cuts, rooms, wall_mats, exterior_mat)

    # floor tiles (tile centres on the lattice so node positions never sit on a tile edge)
    _add_floor(b, rng, rooms, floor_mats, footprint, p.floor_tile)
    # ceilings
    for r in rooms:
        x0, y0, x1, y1 = r
        b.add([[x0, y0, height], [x0, y1, height], [x1, y1, height], [x1, y0, height]], [[0, 1, 2], [0, 2, 3]], ceiling_mat)

    # furniture, kept from cutting any node off on every checked lattice
    walks = [_Walkability(footprint, p.clearance, spacing) for spacing in _checked_spacings(p.nav_spacing)]
    for walk in walks:
        for lo, hi in wall_boxes:
            if lo[2] == 0.0:
                walk.block((lo[0], lo[1], hi[0], hi[1]))
        walk.settle()
    objects: list[SemanticObject] = []
    if p.furniture:
        door_zones = [_door_zone(d) for d in doors]
        footprints: list[tuple] = []
        for room_index, (r, kind) in enumerate(zip(rooms, kinds)):
            for category, probability in _ROOM_FURNITURE[kind]:
                if rng.random() >= probability:
                    continue
                obj = _place(rng, b, walks, r, t, category, door_zones, footprints, room_index, len(objects))
                if obj is not None:
                    objects.append(obj)

    for walk in walks:
        for room_index, r in enumerate(rooms):
            if not np.any(walk.main & walk.room_nodes(r)):  # pragma: no cover - guaranteed by construction
                raise RuntimeError(f"apartment seed {seed}: room {room_index} is not reachable")

    mesh, fm, fo, fc = b.build()
    return Scene(mesh, fm, b.materials, objects=objects, face_objects=fo, face_colors=fc, floor_height=0.0,
                 rooms=[Room(k, tuple(float(v) for v in r)) for k, r in zip(kinds, rooms)],
                 name=f"apartment_{seed}", doors=[_door_record(d, p.door_height) for d in doors])


def _check_params(p: ApartmentParams) -> None:
    if p.n_rooms is not None:
        check_int("n_rooms", p.n_rooms, low=2, high=6)
    check_number("door_height", p.door_height, low=1.8, high=3.5, unit="m")
    if p.ceiling_height is not None:
        check_number("ceiling_height", p.ceiling_height, low=p.door_height, high=10.0, low_open=True, unit="m")
    check_number("wall_thickness", p.wall_thickness, low=0.02, high=0.5, unit="m")
    check_choice("nav_spacing", p.nav_spacing, (0.25, 0.5, 1.0))
    if not isinstance(p.door_width, (tuple, list)) or len(p.door_width) != 2:
        raise ValueError(f"door_width must be a (min, max) pair of metres, got {p.door_width!r}")
    lo = check_number("door_width", p.door_width[0], low=0.9, high=2.0, unit="m")
    check_number("door_width", p.door_width[1], low=lo, high=2.0, unit="m")
    check_bool("furniture", p.furniture)
    check_number("clearance", p.clearance, low=0.0, high=1.0, unit="m")
    check_number("floor_tile", p.floor_tile, low=0.1, high=2.0, unit="m")


def _door_record(door: dict, height: float) -> Door:
    mid = (door["lo"] + door["hi"]) / 2
    xy = (door["line"], mid) if door["axis"] == 0 else (mid, door["line"])
    return Door(tuple(door["rooms"]), np.array([xy[0], xy[1], height / 2]), float(door["hi"] - door["lo"]),
                float(height), int(door["axis"]))


def _choose_doors(rng, rooms, corridor, p: ApartmentParams):
    candidates = []
    for i, j, axis, line, lo, hi in _shared_walls(rooms):
        width = float(np.round(rng.uniform(*p.door_width), 2))
        centres = _door_centres(lo, hi, width, p.nav_spacing)
        if centres:
            candidates.append((i, j, axis, line, width, centres))
    # Kruskal on random weights; corridor doors first so corridors act as hallways
    weights = [rng.random() - (1.0 if corridor in (c[0], c[1]) else 0.0) for c in candidates]
    parent = list(range(len(rooms)))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    doors = []
    for k in np.argsort(weights, kind="stable"):
        i, j, axis, line, width, centres = candidates[k]
        joined = find(i) != find(j)
        if joined or rng.random() < 0.25:
            parent[find(i)] = find(j)
            c = centres[int(rng.integers(len(centres)))]
            doors.append({"rooms": (i, j), "axis": axis, "line": line, "lo": c - width / 2, "hi": c + width / 2})
    if len({find(i) for i in range(len(rooms))}) != 1:
        return None
    return doors


def _room_kinds(rng, rooms, corridor) -> list[str]:
    others = [i for i in range(len(rooms)) if i != corridor]
    wanted = ["living_room", "kitchen", "bedroom", "bathroom", "office", "bedroom"][: len(others)]
    area = {i: (rooms[i][2] - rooms[i][0]) * (rooms[i][3] - rooms[i][1]) for i in others}
    kinds: dict[int, str] = {}
    if corridor is not None:
        kinds[corridor] = "corridor"
    by_area = sorted(others, key=lambda i: (-area[i], i))
    kinds[by_area[0]] = "living_room"
    rest = by_area[1:]
    if "bathroom" in wanted:
        kinds[rest[-1]] = "bathroom"
        rest = rest[:-1]
    remaining = [k for k in wanted if k not in ("living_room", "bathroom")]
    order = rng.permutation(len(rest))
    for k, idx in zip(remaining, order):
        kinds[rest[idx]] = k
    return [kinds[i] for i in range(len(rooms))]


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


def _door_zone(door) -> tuple[float, float, float, float]:
    """Rectangle kept free of furniture around a door: its width + 0.3 m each side, 1.2 m deep both ways."""
    along = (door["lo"] - 0.3, door["hi"] + 0.3)
    across = (door["line"] - 1.2, door["line"] + 1.2)
    if door["axis"] == 0:
        return across[0], along[0], across[1], along[1]
    return along[0], across[0], along[1], across[1]


def _overlaps(a, b, gap: float = 0.0) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _place(rng, b: _MeshBuilder, walks: list[_Walkability], room, t, category, door_zones, footprints, room_index,
           obj_index):
    """Try to place one piece; returns its SemanticObject or None."""
    (wr, dr, hr, placement) = _CATALOGUE[category]
    ix0, iy0, ix1, iy1 = room[0] + t / 2, room[1] + t / 2, room[2] - t / 2, room[3] - t / 2
    w, d, h = (float(np.round(rng.uniform(*r), 2)) for r in (wr, dr, hr))
    for _ in range(20):
        facing = int(rng.integers(4))  # wall pieces: 0 back on the y-min wall (facing +y), 1 x-max, 2 y-max, 3 x-min
        fw, fd = (w, d) if facing in (0, 2) else (d, w)  # footprint extents along x, y
        if ix1 - ix0 < fw + 0.04 or iy1 - iy0 < fd + 0.04:
            continue
        if placement == "free":
            cx = rng.uniform(ix0 + fw / 2 + 0.6, ix1 - fw / 2 - 0.6) if ix1 - ix0 > fw + 1.2 else None
            cy = rng.uniform(iy0 + fd / 2 + 0.6, iy1 - fd / 2 - 0.6) if iy1 - iy0 > fd + 1.2 else None
            if cx is None or cy is None:
                continue
        else:
            gap = 0.02
            if placement == "corner":
                along_x = rng.choice([ix0 + fw / 2 + gap, ix1 - fw / 2 - gap])
                along_y = rng.choice([iy0 + fd / 2 + gap, iy1 - fd / 2 - gap])
            else:
                along_x = rng.uniform(ix0 + fw / 2 + gap, ix1 - fw / 2 - gap)
                along_y = rng.uniform(iy0 + fd / 2 + gap, iy1 - fd / 2 - gap)
            cx, cy = {0: (along_x, iy0 + fd / 2 + gap), 1: (ix1 - fw / 2 - gap, along_y),
                      2: (along_x, iy1 - fd / 2 - gap), 3: (ix0 + fw / 2 + gap, along_y)}[facing] \
                if placement == "wall" else (along_x, along_y)
        cx, cy = float(np.round(cx, 3)), float(np.round(cy, 3))
        rect = (cx - fw / 2, cy - fd / 2, cx + fw / 2, cy + fd / 2)
        if any(_overlaps(rect, z) for z in door_zones):
            continue
        if any(_overlaps(rect, other, gap=0.1) for other in footprints):
            continue
        states = [walk.check(rect, room) for walk in walks]
        if any(state is None for state in states):
            continue
        for walk, state in zip(walks, states):
            walk.commit(state)
        footprints.append(rect)
        # build geometry: rotate local parts by facing * 90 degrees about the centre
        angle = facing * np.pi / 2
        c, s = round(np.cos(angle)), round(np.sin(angle))
        lo_all, hi_all = np.full(3, np.inf), np.full(3, -np.inf)
        for lo, hi, mat in _furniture_parts(category, w, d, h, rng):
            corners = np.array([[x, y] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])])
            rot = corners @ np.array([[c, s], [-s, c]])
            wlo = np.r_[rot.min(axis=0) + (cx, cy), lo[2]]
            whi = np.r_[rot.max(axis=0) + (cx, cy), hi[2]]
            b.box(wlo, whi, mat, obj=obj_index, drop=("bottom",) if lo[2] == 0.0 else ())
            lo_all, hi_all = np.minimum(lo_all, wlo), np.maximum(hi_all, whi)
        return SemanticObject(category, (lo_all + hi_all) / 2, lo_all, hi_all, room_index)
    return None

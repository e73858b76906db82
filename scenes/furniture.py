"""The furniture of procedural apartments: the catalogue of 14 semantic categories (sizes,
placement, rooms), the materials and colours of rooms and pieces, the boxes of each piece, and
placement clear of doors that cuts no walkable lattice node off (``layout.Walkability``)."""

from __future__ import annotations

import numpy as np

from .layout import _Walkability
from .materials import Material, get_material
from .meshing import _MeshBuilder
from .scene import SemanticObject


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

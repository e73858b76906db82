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

from .checks import check_bool, check_choice, check_int, check_number
from .furniture import _CARPET, _FLOOR_MATERIALS, _ROOM_FURNITURE, _WALL_MATERIALS, _WALL_PAINT, CATEGORIES, _colored, _door_zone, _place
from .layout import DOOR_LATTICE, LATTICE, ROOM_TYPES, _checked_spacings, _choose_doors, _door_record, _layout, _merge_intervals, _room_kinds, _subtract, _Walkability
from .materials import get_material
from .meshing import _add_floor, _add_wall, _MeshBuilder, _wall_box, polygon_room_mesh, shoebox
from .scene import Room, Scene, SemanticObject
from .splits import SEED_SALT



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

    wall_boxes = _wall_boxes(rooms, doors, t, height, p.door_height)
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
    objects = _furnish(rng, b, walks, rooms, kinds, doors, t) if p.furniture else []

    for walk in walks:
        for room_index, r in enumerate(rooms):
            if not np.any(walk.main & walk.room_nodes(r)):  # pragma: no cover - guaranteed by construction
                raise RuntimeError(f"apartment seed {seed}: room {room_index} is not reachable")

    mesh, fm, fo, fc = b.build()
    return Scene(mesh, fm, b.materials, objects=objects, face_objects=fo, face_colors=fc, floor_height=0.0,
                 rooms=[Room(k, tuple(float(v) for v in r)) for k, r in zip(kinds, rooms)],
                 name=f"apartment_{seed}", doors=[_door_record(d, p.door_height) for d in doors])


def _wall_boxes(rooms, doors, t: float, height: float, door_height: float) -> list[tuple]:
    """(lo (3,), hi (3,)) of every wall box: the union of the rooms' edges per wall line minus the
    door openings (extended by half a thickness at free ends, so corners close), plus the
    lintels above the openings."""
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
        wall_boxes.append(_wall_box(d["axis"], d["line"], d["lo"], d["hi"], t, door_height, height))
    return wall_boxes


def _furnish(rng, b: _MeshBuilder, walks, rooms, kinds, doors, t: float) -> list[SemanticObject]:
    """Furniture of every room, tried in the catalogue's order with its probabilities, each piece
    placed where it blocks no door and cuts no node off any of ``walks``."""
    objects: list[SemanticObject] = []
    door_zones = [_door_zone(d) for d in doors]
    footprints: list[tuple] = []
    for room_index, (r, kind) in enumerate(zip(rooms, kinds)):
        for category, probability in _ROOM_FURNITURE[kind]:
            if rng.random() >= probability:
                continue
            obj = _place(rng, b, walks, r, t, category, door_zones, footprints, room_index, len(objects))
            if obj is not None:
                objects.append(obj)
    return objects


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


__all__ = ["ApartmentParams", "CATEGORIES", "DOOR_LATTICE", "LATTICE", "ROOM_TYPES", "generate_apartment",
           "polygon_room_mesh", "shoebox"]

"""The floor plan of procedural apartments: rooms on a 0.5 m lattice (binary space partition or a
corridor), the walls they share, doors on the 1 m lattice joined by a spanning tree, room kinds,
and the analytic 2-D walkability check of the navigation lattice that furniture must keep
connected."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from .scene import Door

LATTICE = 0.5  # m, room boundaries lie on multiples of this
DOOR_LATTICE = 1.0  # m, door centres prefer multiples of this
ROOM_TYPES = ("living_room", "kitchen", "bedroom", "bathroom", "office", "corridor")


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


def _door_record(door: dict, height: float) -> Door:
    mid = (door["lo"] + door["hi"]) / 2
    xy = (door["line"], mid) if door["axis"] == 0 else (mid, door["line"])
    return Door(tuple(door["rooms"]), np.array([xy[0], xy[1], height / 2]), float(door["hi"] - door["lo"]),
                float(height), int(door["axis"]))


def _choose_doors(rng, rooms, corridor, p):
    """Doors joining ``rooms`` (a spanning tree of their adjacency, plus a few), with the door sizes
    of ``p`` (``procedural.ApartmentParams``); None when the rooms cannot all be joined."""
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

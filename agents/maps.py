"""The waypoint agent's own maps and planner (AV-WaN, Chen et al., ICLR 2021), built only from
what the agent observes:

- ``GeometricMap``: occupancy at 0.1 m from the agent's own depth images, projected with the
  camera's intrinsics at the pose the simulator's odometry gives (exact here); cells seen as
  floor are marked explored, cells with surfaces between 0.2 m and the agent's height occupied.
- ``AcousticMap``: the sound intensity heard at each visited position, at graph resolution
  (log-compressed, as the policy's spectrogram encoder does).
- ``LatticePlanner``: shortest paths on a lattice at graph spacing whose points and edges are
  kept clear of the map's (inflated) obstacles and of the edges the agent bumped into.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from ..av_env.oracles import GRID, waypoint_position

CELL = 0.1  # metres per geometric map cell
CROP = 64  # cells per side of the egocentric map observation (6.4 m)
WINDOW = 10  # lattice points each side of the agent the planner considers (10 x spacing)


class GeometricMap:
    """World-aligned occupancy grid at ``cell`` metres around an origin (the episode's start)."""

    def __init__(self, origin, size_m: float = 60.0, cell: float = CELL):
        self.cell = float(cell)
        self.n = int(round(size_m / cell))
        self.origin = np.asarray(origin, np.float64)[:2] - self.n * self.cell / 2
        self.occupied = np.zeros((self.n, self.n), np.uint8)  # hits on surfaces that block the agent
        self.explored = np.zeros((self.n, self.n), np.uint8)  # seen at all (floor or surface)
        self.free = np.zeros((self.n, self.n), bool)  # seen to be open: under a ray short of its first obstacle
        self.radius = 0.15  # obstacles grown by this much for planning (a little under the agent's 0.2 m:
        # NavGraph nodes sit 0.2 m from walls, and 0.1 m cells would otherwise shut some of them)
        r = int(round(self.radius / self.cell))
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
        self._disk = np.stack([xx[xx * xx + yy * yy <= r * r], yy[xx * xx + yy * yy <= r * r]], axis=1)
        self.inflated = np.zeros((self.n, self.n), bool)  # kept up to date cell by cell

    def cells(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) integer (i, j) = (x, y) cell indices of world points (N, 2)."""
        return np.floor((np.asarray(xy)[..., :2] - self.origin) / self.cell).astype(np.int64)

    def update(self, depth_m: np.ndarray, position, heading: float, hfov_deg: float, camera_height: float,
               agent_height: float = 1.5, stride: int = 2) -> None:
        """Project a z-depth image (H, W) in metres (0 = no hit) seen from ``position`` (feet) at
        ``heading``; every ``stride``-th pixel."""
        d = np.asarray(depth_m, np.float64)
        if d.ndim == 3:
            d = d[..., 0]
        h, w = d.shape
        f = (w / 2) / math.tan(math.radians(hfov_deg) / 2)
        v, u = np.mgrid[0:h:stride, 0:w:stride]
        z = d[::stride, ::stride]
        ok = z > 0
        u, v = u.astype(np.float64), v.astype(np.float64)
        left = -(u + 0.5 - w / 2) / f * z
        up = -(v + 0.5 - h / 2) / f * z
        c, s = math.cos(heading), math.sin(heading)
        x = position[0] + c * z - s * left
        y = position[1] + s * z + c * left
        height = camera_height + up  # above the agent's floor
        block = ok & (height > 0.2) & (height < agent_height + 0.1)
        # a surface seen in neighbouring pixels of a row is one surface: fill the gap between their
        # hits (far walls are sampled sparsely) unless they are far apart in space (an opening)
        pts = [np.stack([x[ok], y[ok]], axis=1)]
        both = block[:, 1:] & block[:, :-1]
        ax, ay, bx, by = x[:, :-1][both], y[:, :-1][both], x[:, 1:][both], y[:, 1:][both]
        gap = np.hypot(bx - ax, by - ay)
        near = (gap > self.cell) & (gap < 0.7)  # doors are 0.9–1.2 m wide: never bridged
        surface = [np.stack([x[block], y[block]], axis=1)]
        if near.any():
            t = np.linspace(0.0, 1.0, int(0.7 / (self.cell / 2)) + 1)[None, :]
            fx = ax[near, None] + (bx - ax)[near, None] * t
            fy = ay[near, None] + (by - ay)[near, None] * t
            surface.append(np.stack([fx.ravel(), fy.ravel()], axis=1))
        ij = self.cells(pts[0])
        inside = (ij >= 0).all(axis=1) & (ij < self.n).all(axis=1)
        self.explored[ij[inside, 0], ij[inside, 1]] = 1
        # free space: along each image column's bearing, the floor up to the nearest obstacle seen
        # in that column (or to the farthest floor seen, when none): the ray passed over it
        reach = np.hypot(x - position[0], y - position[1])
        obstacle = np.where(block, reach, np.inf).min(axis=0)
        floor = np.where(ok & ~block, reach, 0.0).max(axis=0)
        length = np.where(np.isfinite(obstacle), obstacle - 0.1, floor)
        bearing = heading + np.arctan2(-(u[0] + 0.5 - w / 2) / f, 1.0)
        steps = np.arange(0.0, max(float(length.max()), 0.0) + 1e-9, self.cell / 2)
        if len(steps):
            along = steps[None, :] <= length[:, None]
            fx = position[0] + np.cos(bearing)[:, None] * steps[None, :]
            fy = position[1] + np.sin(bearing)[:, None] * steps[None, :]
            cells = self.cells(np.stack([fx[along], fy[along]], axis=1))
            cells = cells[(cells >= 0).all(axis=1) & (cells < self.n).all(axis=1)]
            self.free[cells[:, 0], cells[:, 1]] = True
            self.explored[cells[:, 0], cells[:, 1]] = 1
        hits = self.cells(np.concatenate(surface))
        hits = hits[(hits >= 0).all(axis=1) & (hits < self.n).all(axis=1)]
        new = hits[self.occupied[hits[:, 0], hits[:, 1]] == 0]
        self.occupied[hits[:, 0], hits[:, 1]] = 1
        if len(new):
            grown = (np.unique(new, axis=0)[:, None, :] + self._disk[None]).reshape(-1, 2)
            grown = grown[(grown >= 0).all(axis=1) & (grown < self.n).all(axis=1)]
            self.inflated[grown[:, 0], grown[:, 1]] = True

    def crop(self, position, heading: float, size: int = CROP) -> np.ndarray:
        """(size, size, 2) float32 egocentric crop (occupied, explored): the agent at the centre,
        facing up (row 0); headings are taken to the nearest 90°."""
        ij = self.cells(np.asarray(position)[None])[0]
        half = size // 2
        out = np.zeros((2, size, size), np.float32)
        lo, hi = ij - half, ij + half
        src_lo, src_hi = np.maximum(lo, 0), np.minimum(hi, self.n)
        if (src_hi > src_lo).all():
            for k, grid in enumerate((self.occupied, self.explored)):
                out[k, src_lo[0] - lo[0]: src_hi[0] - lo[0], src_lo[1] - lo[1]: src_hi[1] - lo[1]] = \
                    grid[src_lo[0]:src_hi[0], src_lo[1]:src_hi[1]]
        # out[:, i, j]: i along +x, j along +y. Facing +x means +x is up: rows = -x ... (flip),
        # then turn by the heading in quarter turns
        img = np.flip(out, axis=1)  # row 0 = largest x (ahead when facing +x); columns = +y (left)
        img = np.flip(img, axis=2)  # columns: left of a +x-facing agent on the left
        quarter = int(round(heading / (math.pi / 2))) % 4
        img = np.rot90(img, k=-quarter, axes=(1, 2))
        return np.ascontiguousarray(np.moveaxis(img, 0, -1))


ACOUSTIC_FLOOR = 1e-5  # the acoustic map's floor: as the extractor's log compression of spectrograms


class AcousticMap:
    """Sound intensity at visited lattice points: the mean of the observed spectrogram (the env's
    log1p magnitudes in [0, 1]), log-compressed to [0, 1] as the policy's spectrogram encoder does
    (``(log(m + 1e-5) - log 1e-5) / -log 1e-5``). The raw means span ~0.002 (far, other rooms) to
    ~0.15 (at the source); on a log scale a level ratio is the same difference at every distance."""

    def __init__(self, spacing: float):
        self.spacing = float(spacing)
        self.values: dict[tuple[int, int], float] = {}

    def update(self, position, spectrogram: np.ndarray) -> None:
        m = max(float(np.mean(spectrogram)), 0.0)
        self.values[lattice_key(position, self.spacing)] = float(
            np.clip(math.log((m + ACOUSTIC_FLOOR) / ACOUSTIC_FLOOR) / -math.log(ACOUSTIC_FLOOR), 0.0, 1.0))

    def crop(self, position, heading: float) -> np.ndarray:
        """(2 x 81,) float32: intensity and visited flags on the 9 x 9 waypoint grid (agent frame)."""
        out = np.zeros((2, GRID, GRID), np.float32)
        for a in range(GRID):
            for b in range(GRID):
                p = waypoint_position(position, heading, a * GRID + b, self.spacing)
                v = self.values.get(lattice_key(p, self.spacing))
                if v is not None:
                    out[0, a, b], out[1, a, b] = v, 1.0
        return out.reshape(-1)


def lattice_key(xy, spacing: float) -> tuple[int, int]:
    """The (i, j) lattice point (world multiples of ``spacing``) nearest to ``xy``."""
    return int(round(xy[0] / spacing)), int(round(xy[1] / spacing))


class LatticePlanner:
    """Shortest paths on the lattice (graph spacing) around the agent, from the agent's map: a
    point is usable when its cell is clear of the inflated obstacles, an edge when its segment
    is, and not remembered as blocked."""

    def __init__(self, gmap: GeometricMap, spacing: float):
        self.map, self.spacing = gmap, float(spacing)
        self.blocked: set[tuple[tuple[int, int], tuple[int, int]]] = set()

    def key(self, xy) -> tuple[int, int]:
        return lattice_key(xy, self.spacing)

    def _free(self, points: np.ndarray) -> np.ndarray:
        """Points seen to be open floor and clear of the inflated obstacles (unknown space is not
        planned through: behind a wall, nothing has been seen)."""
        ij = self.map.cells(points)
        inside = (ij >= 0).all(axis=-1) & (ij < self.map.n).all(axis=-1)
        out = np.zeros(points.shape[:-1], bool)
        i, j = ij[inside, 0], ij[inside, 1]
        out[inside] = self.map.free[i, j] & ~self.map.inflated[i, j]
        return out

    def distances(self, start_xy) -> tuple[dict, dict]:
        """BFS over the window: (hops to each reachable lattice key, parent of each)."""
        s = self.key(start_xy)
        keys = [(s[0] + a, s[1] + b) for a in range(-WINDOW, WINDOW + 1) for b in range(-WINDOW, WINDOW + 1)]
        pts = np.array(keys, np.float64) * self.spacing
        point_ok = dict(zip(keys, self._free(pts)))
        point_ok[s] = True  # where the agent stands is open
        # its 4 neighbours may lie where it has not looked yet (behind it, at the start): it can turn
        # and look, so they count unless a seen obstacle is there (a wall it then sees stops the move)
        around = [(s[0] + 1, s[1]), (s[0] - 1, s[1]), (s[0], s[1] + 1), (s[0], s[1] - 1)]
        clear = ~self._inflated_at(np.array(around, np.float64) * self.spacing)
        for k, ok in zip(around, clear):
            point_ok[k] = point_ok.get(k, False) or bool(ok)
        # each edge's segment sampled every ~0.05 m
        t = np.linspace(0.0, 1.0, max(2, int(self.spacing / 0.05) + 1))[1:-1]
        edges = {}
        cand = []
        for k in keys:
            for d in ((1, 0), (0, 1)):
                n = (k[0] + d[0], k[1] + d[1])
                if n in point_ok:
                    cand.append((k, n))
        a = np.array([e[0] for e in cand], np.float64) * self.spacing
        b = np.array([e[1] for e in cand], np.float64) * self.spacing
        seg = a[:, None, :] + (b - a)[:, None, :] * t[None, :, None]
        seg_ok = self._free(seg).all(axis=1)
        # edges from where the agent stands: clear of seen obstacles is enough (as for its neighbours)
        from_here = np.array([k == s or n == s for k, n in cand])
        if from_here.any():
            seg_ok[from_here] = (~self._inflated_at(seg[from_here])).all(axis=1)
        for (k, n), ok in zip(cand, seg_ok):
            if ok and point_ok[k] and point_ok[n] and (k, n) not in self.blocked and (n, k) not in self.blocked:
                edges.setdefault(k, []).append(n)
                edges.setdefault(n, []).append(k)
        dist, parent = {s: 0}, {s: None}
        queue = deque([s])
        while queue:
            k = queue.popleft()
            for n in edges.get(k, ()):
                if n not in dist:
                    dist[n], parent[n] = dist[k] + 1, k
                    queue.append(n)
        return dist, parent

    def _inflated_at(self, points: np.ndarray) -> np.ndarray:
        ij = self.map.cells(points)
        inside = (ij >= 0).all(axis=-1) & (ij < self.map.n).all(axis=-1)
        out = np.ones(points.shape[:-1], bool)
        out[inside] = self.map.inflated[ij[inside, 0], ij[inside, 1]]
        return out

    def path_clear(self, path: list[tuple[int, int]]) -> bool:
        """Whether every point and edge of ``path`` is still clear on the map (and not blocked)."""
        if len(path) < 2:
            return True
        pts = np.array(path, np.float64) * self.spacing
        t = np.linspace(0.0, 1.0, max(2, int(self.spacing / 0.05) + 1))
        seg = pts[:-1, None, :] + (pts[1:] - pts[:-1])[:, None, :] * t[None, :, None]
        if self._inflated_at(seg[0]).any() or not self._free(seg[1:, 1:]).all():  # the first edge, from
            return False  # where the agent stands, as in ``distances``
        return not any((a, b) in self.blocked or (b, a) in self.blocked for a, b in zip(path, path[1:]))

    def path(self, parent: dict, goal: tuple[int, int]) -> list[tuple[int, int]]:
        out = []
        while goal is not None:
            out.append(goal)
            goal = parent[goal]
        return out[::-1]


__all__ = ["ACOUSTIC_FLOOR", "CELL", "CROP", "WINDOW", "AcousticMap", "GeometricMap", "LatticePlanner", "lattice_key"]

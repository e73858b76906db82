"""An occupancy map the agent builds from its own depth images and pose, and its egocentric
crops: the waypoint agent's map (``earshot.agents.maps``) and the env's opt-in ``local_map``
observation (``LocalMap``), which gives a flat policy memory of where it has looked and been.

``GeometricMap`` projects each depth image with the camera's intrinsics at the pose the
simulator's odometry gives (exact here): cells seen as floor are marked explored, cells with
surfaces between 0.2 m and the agent's height occupied; ``visit`` counts the steps that ended in
each cell.
"""

from __future__ import annotations

import math

import numpy as np

CELL = 0.1  # metres per cell of the waypoint agent's map
CROP = 64  # cells per side of the waypoint agent's egocentric crop (6.4 m)


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
        self.visits = np.zeros((self.n, self.n), np.uint16)  # steps that ended in each cell (``visit``)

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

    def visit(self, position) -> None:
        """Count a step that ended at ``position`` (the agent's own pose)."""
        i, j = self.cells(np.asarray(position)[None])[0]
        if 0 <= i < self.n and 0 <= j < self.n:
            self.visits[i, j] = min(int(self.visits[i, j]) + 1, np.iinfo(np.uint16).max)

    def crop(self, position, heading: float, size: int = CROP, visits_cap: int | None = None) -> np.ndarray:
        """(size, size, C) float32 egocentric crop: occupied, explored and, with ``visits_cap``,
        the steps that ended in each cell as log(1 + n) / log(1 + visits_cap) capped at 1. The
        agent is at the centre, facing up (row 0); headings are taken to the nearest 90°."""
        layers = [self.occupied, self.explored] + ([self.visits] if visits_cap is not None else [])
        ij = self.cells(np.asarray(position)[None])[0]
        half = size // 2
        out = np.zeros((len(layers), size, size), np.float32)
        lo, hi = ij - half, ij + half
        src_lo, src_hi = np.maximum(lo, 0), np.minimum(hi, self.n)
        if (src_hi > src_lo).all():
            for k, grid in enumerate(layers):
                out[k, src_lo[0] - lo[0]: src_hi[0] - lo[0], src_lo[1] - lo[1]: src_hi[1] - lo[1]] = \
                    grid[src_lo[0]:src_hi[0], src_lo[1]:src_hi[1]]
        if visits_cap is not None:
            out[2] = np.minimum(np.log1p(out[2]) / np.log1p(visits_cap), 1.0)
        # out[:, i, j]: i along +x, j along +y. Facing +x means +x is up: rows = -x ... (flip),
        # then turn by the heading in quarter turns
        img = np.flip(out, axis=1)  # row 0 = largest x (ahead when facing +x); columns = +y (left)
        img = np.flip(img, axis=2)  # columns: left of a +x-facing agent on the left
        quarter = int(round(heading / (math.pi / 2))) % 4
        img = np.rot90(img, k=-quarter, axes=(1, 2))
        return np.ascontiguousarray(np.moveaxis(img, 0, -1))


LOCAL_MAP_CELL = 0.2  # metres per cell of the ``local_map`` observation
LOCAL_MAP_SIZE = 48  # cells per side of it (9.6 m)


class LocalMap:
    """The ``local_map`` observation of one env: a ``GeometricMap`` at ``LOCAL_MAP_CELL`` begun
    at each episode's start (``begin``), updated with every observed depth image and pose
    (``observe``), cropped to (LOCAL_MAP_SIZE, LOCAL_MAP_SIZE, 3) float32 in [0, 1]: occupied,
    explored, visits (log-scaled to 1 at ``visits_cap``); the agent at the centre facing up,
    its heading taken to the nearest 90° (exact under grid motion; continuous motion's 10° turns
    turn the crop in quarter turns).
    Depths that read the renderer's maximum (nothing within range) are left out rather than
    mapped as a surface there."""

    shape = (LOCAL_MAP_SIZE, LOCAL_MAP_SIZE, 3)

    def __init__(self, hfov_deg: float, camera_height: float, visits_cap: int):
        self.hfov_deg, self.camera_height = float(hfov_deg), float(camera_height)
        self.visits_cap = int(visits_cap)
        self.map: GeometricMap | None = None
        self._last_view = None  # the pose of the last depth image mapped (a repeat adds nothing)

    def begin(self, position) -> None:
        self.map = GeometricMap(position, size_m=60.0, cell=LOCAL_MAP_CELL)
        self._last_view = None

    def observe(self, depth_m: np.ndarray, position, heading: float, far: float) -> np.ndarray:
        """Map ``depth_m`` (H, W[, 1]) metres seen from ``position`` at ``heading`` (readings at or
        beyond ``far`` metres are no hit), count the step, and return the crop."""
        if self.map is None:
            raise RuntimeError("LocalMap.observe before begin(): the env starts the map at reset")
        view = (np.asarray(position, np.float64)[:2].tobytes(), float(heading))
        if view != self._last_view:
            d = np.asarray(depth_m)
            self.map.update(np.where(d >= far - 1e-6, 0.0, d), position, heading, self.hfov_deg, self.camera_height)
            self._last_view = view
        self.map.visit(position)
        return self.map.crop(position, heading, LOCAL_MAP_SIZE, visits_cap=self.visits_cap)


__all__ = ["CELL", "CROP", "LOCAL_MAP_CELL", "LOCAL_MAP_SIZE", "GeometricMap", "LocalMap"]

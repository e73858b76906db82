"""The waypoint agent's own maps and planner (AV-WaN, Chen et al., ICLR 2021), built only from
what the agent observes:

- ``GeometricMap`` (``earshot.av_env.egomap``, shared with the env's ``local_map`` observation):
  occupancy at 0.1 m from the agent's own depth images, projected with the camera's intrinsics
  at the pose the simulator's odometry gives (exact here); cells seen as floor are marked
  explored, cells with surfaces between 0.2 m and the agent's height occupied.
- ``AcousticMap``: the sound intensity heard at each visited position, at graph resolution
  (log-compressed, as the policy's spectrogram encoder does).
- ``LatticePlanner``: shortest paths on a lattice at graph spacing whose points and edges are
  kept clear of the map's (inflated) obstacles and of the edges the agent bumped into.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from ..av_env.egomap import CELL, CROP, GeometricMap
from ..av_env.oracles import GRID, waypoint_positions

WINDOW = 10  # lattice points each side of the agent the planner considers (10 x spacing)


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
        out = np.zeros((2, GRID * GRID), np.float32)
        keys = lattice_keys(waypoint_positions(position, heading, self.spacing), self.spacing)
        for k, key in enumerate(map(tuple, keys.tolist())):  # waypoint k = a * GRID + b
            v = self.values.get(key)
            if v is not None:
                out[0, k], out[1, k] = v, 1.0
        return out.reshape(-1)


def lattice_key(xy, spacing: float) -> tuple[int, int]:
    """The (i, j) lattice point (world multiples of ``spacing``) nearest to ``xy``."""
    return int(round(xy[0] / spacing)), int(round(xy[1] / spacing))


def lattice_keys(xy: np.ndarray, spacing: float) -> np.ndarray:
    """(N, 2) int64: ``lattice_key`` of each of the points (N, 2) (round half to even, as
    Python's ``round``)."""
    return np.rint(np.asarray(xy, np.float64)[:, :2] / spacing).astype(np.int64)


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
        """BFS over the window: (hops to each reachable lattice key, parent of each). The window's
        (2 WINDOW + 1)² points are held as arrays (row a, column b: key (s_i + a − WINDOW,
        s_j + b − WINDOW)); neighbours are searched in the order (−1, 0), (0, −1), (+1, 0), (0, +1)."""
        s = self.key(start_xy)
        n, w = 2 * WINDOW + 1, WINDOW
        off = np.arange(-w, w + 1)
        keys = np.stack(np.meshgrid(s[0] + off, s[1] + off, indexing="ij"), axis=-1)  # (n, n, 2)
        pts = keys.astype(np.float64) * self.spacing
        point_ok = self._free(pts)
        point_ok[w, w] = True  # where the agent stands is open
        # its 4 neighbours may lie where it has not looked yet (behind it, at the start): it can turn
        # and look, so they count unless a seen obstacle is there (a wall it then sees stops the move)
        around = (np.array([w + 1, w - 1, w, w]), np.array([w, w, w + 1, w - 1]))
        point_ok[around] |= ~self._inflated_at(pts[around])
        # each edge's segment sampled every ~0.05 m; down[a, b]: (a, b)–(a + 1, b), right[a, b]: (a, b)–(a, b + 1)
        t = np.linspace(0.0, 1.0, max(2, int(self.spacing / 0.05) + 1))[1:-1]
        usable = []
        for a_pts, b_pts, a_ok, b_ok, touches in (
                (pts[:-1], pts[1:], point_ok[:-1], point_ok[1:], [(w - 1, w), (w, w)]),
                (pts[:, :-1], pts[:, 1:], point_ok[:, :-1], point_ok[:, 1:], [(w, w - 1), (w, w)])):
            seg = a_pts[..., None, :] + (b_pts - a_pts)[..., None, :] * t[:, None]
            seg_ok = self._free(seg).all(axis=-1)
            for i, j in touches:  # edges from where the agent stands: clear of seen obstacles is enough
                seg_ok[i, j] = (~self._inflated_at(seg[i, j])).all()
            usable.append(seg_ok & a_ok & b_ok)
        down, right = usable
        for p, q in self.blocked:  # edges the agent bumped into (either direction)
            (pi, pj), (qi, qj) = (p[0] - s[0] + w, p[1] - s[1] + w), (q[0] - s[0] + w, q[1] - s[1] + w)
            i, j = min(pi, qi), min(pj, qj)
            if pj == qj and abs(pi - qi) == 1 and 0 <= i < n - 1 and 0 <= j < n:
                down[i, j] = False
            elif pi == qi and abs(pj - qj) == 1 and 0 <= i < n and 0 <= j < n - 1:
                right[i, j] = False
        down, right = down.tolist(), right.tolist()
        seen = [[False] * n for _ in range(n)]
        seen[w][w] = True
        dist, parent = {s: 0}, {s: None}
        queue = deque([(w, w, s)])
        while queue:
            i, j, k = queue.popleft()
            d = dist[k] + 1
            for ok, ni, nj in ((i > 0 and down[i - 1][j], i - 1, j), (j > 0 and right[i][j - 1], i, j - 1),
                               (i < n - 1 and down[i][j], i + 1, j), (j < n - 1 and right[i][j], i, j + 1)):
                if ok and not seen[ni][nj]:
                    seen[ni][nj] = True
                    key = (s[0] + ni - w, s[1] + nj - w)
                    dist[key], parent[key] = d, k
                    queue.append((ni, nj, key))
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


__all__ = ["ACOUSTIC_FLOOR", "CELL", "CROP", "WINDOW", "AcousticMap", "GeometricMap", "LatticePlanner", "lattice_key",
           "lattice_keys"]

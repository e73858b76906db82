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
from ..av_env.oracles import GRID, waypoint_position

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

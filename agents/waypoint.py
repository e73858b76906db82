"""AV-WaN-style hierarchical navigation (Chen et al., ICLR 2021): the policy picks a waypoint on a
9 x 9 grid around the agent (or STOP), a planner on the agent's own map walks there with
primitive actions.

- ``GeometricMap``: occupancy at 0.1 m from the agent's own depth images, projected with the
  camera's intrinsics at the pose the simulator's odometry gives (exact here); cells seen as
  floor are marked explored, cells with surfaces between 0.2 m and the agent's height occupied.
- ``AcousticMap``: the sound intensity heard at each visited position, at graph resolution
  (log-compressed, as the policy's spectrogram encoder does).
- ``WaypointEnv``: a wrapper of a grid-motion navigation env. Action k < 81 is the waypoint
  (k // 9 − 4, k % 9 − 4) graph steps (forward, left) of the agent; 81 is STOP. ``action_masks()``
  marks waypoints the map shows as unreachable. A step plans a shortest path on a lattice at
  graph spacing whose points and edges are kept clear of the map's (inflated) obstacles, and
  executes up to 10 primitive actions along it, replanning when a move is blocked (a blocked
  move is remembered as a wall: that collision is the only thing the agent learns from the
  simulator's own motion model); it returns the summed reward. Primitive steps count towards the
  env's step budget and metrics, so comparisons with flat agents are fair.

Nothing here reads the ground-truth NavGraph: grid motion itself moves along its edges (the
simulator's physics), and the agent learns a blocked edge only by bumping into it.
"""

from __future__ import annotations

import math
from collections import deque

import gymnasium as gym
import numpy as np
from gymnasium import spaces

GRID = 9  # waypoints per side
STOP = GRID * GRID  # the STOP action's index
MAX_PRIMITIVES = 10  # primitive actions per waypoint step
CELL = 0.1  # metres per geometric map cell
CROP = 64  # cells per side of the egocentric map observation (6.4 m)
WINDOW = 10  # lattice points each side of the agent the planner considers (10 x spacing)
MOVE_FORWARD, TURN_LEFT, TURN_RIGHT, STOP_ACTION = 1, 2, 3, 0


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


def waypoint_offset(action: int) -> tuple[int, int]:
    """(forward, left) graph steps of waypoint ``action``."""
    return action // GRID - GRID // 2, action % GRID - GRID // 2


def waypoint_position(position, heading: float, action: int, spacing: float) -> np.ndarray:
    """World xy of waypoint ``action`` for an agent at ``position`` facing ``heading``."""
    fwd, left = waypoint_offset(action)
    c, s = math.cos(heading), math.sin(heading)
    return np.array([position[0] + spacing * (fwd * c - left * s), position[1] + spacing * (fwd * s + left * c)])


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


class WaypointEnv(gym.Wrapper):
    """Waypoint actions over a grid-motion navigation env (see the module docstring).

    Observations: the inner env's, plus ``geometric_map`` (64, 64, 2) float32 (occupied,
    explored; agent at the centre facing up) and ``acoustic_map`` (162,) float32 (intensity and
    visited flags on the waypoint grid). ``info["primitive_steps"]`` counts the inner steps."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        base = env.unwrapped
        if getattr(base, "motion", "grid") != "grid":
            raise ValueError("WaypointEnv needs grid motion (waypoints and turns on the graph's lattice); "
                             "make the env with motion='grid'")
        if "depth" not in base.sensors:
            raise ValueError("WaypointEnv builds its map from depth: include 'depth' in the env's sensors")
        self.base = base
        self.spacing = float(base.spacing)
        self.action_space = spaces.Discrete(STOP + 1)
        obs = dict(env.observation_space.spaces)
        obs["geometric_map"] = spaces.Box(0.0, 1.0, (CROP, CROP, 2), np.float32)
        obs["acoustic_map"] = spaces.Box(0.0, 1.0, (2 * GRID * GRID,), np.float32)
        self.observation_space = spaces.Dict(obs)
        self._obs = None
        self._plan = self._path = None
        self.target = None  # the lattice key of the waypoint being walked to (for pictures)
        self.last_observation = None  # what the last reset or step returned
        # called after every primitive step (videos record one frame per primitive action)
        self.primitive_hook = None

    # ------------------------------------------------------------------ state
    def _pose(self):
        sim = self.base.sim
        return sim.position.copy(), float(sim.heading)

    def _update(self, obs) -> None:
        from ..scenes.render.camera import DEFAULT_CAMERA_HEIGHT, MAX_DEPTH

        pos, heading = self._pose()
        self.gmap.update(np.asarray(obs["depth"]) * MAX_DEPTH, pos, heading, self.base.hfov_deg, DEFAULT_CAMERA_HEIGHT)
        if "spectrogram" in obs:
            self.amap.update(pos, obs["spectrogram"])
        self._plan = None  # the map changed (and the agent may have moved): search again when asked

    def _observe(self, obs) -> dict:
        pos, heading = self._pose()
        out = dict(obs)
        out["geometric_map"] = self.gmap.crop(pos, heading)
        out["acoustic_map"] = self.amap.crop(pos, heading)
        return out

    def observation(self) -> dict:
        """What the agent would observe now, also between decisions (from a ``primitive_hook``:
        DAgger labels the states it walks through)."""
        return self._observe(self.base.last_observation)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        pos, _ = self._pose()
        self.gmap = GeometricMap(pos)
        self.amap = AcousticMap(self.spacing)
        self.planner = LatticePlanner(self.gmap, self.spacing)
        self._path = None
        self._update(obs)
        self._obs = obs
        self.target = None
        info = dict(info, primitive_steps=0)
        self.last_observation = self._observe(obs)
        return self.last_observation, info

    # ------------------------------------------------------------------ masks and plans
    def _reachable(self):
        """(hops, parents) of the lattice search from the agent, kept until the next observation."""
        if self._plan is None:
            self._plan = self.planner.distances(self._pose()[0])
        return self._plan

    def action_masks(self) -> np.ndarray:
        """(82,) bool: waypoints with a path on the agent's map, and STOP."""
        pos, heading = self._pose()
        dist, _ = self._reachable()
        mask = np.zeros(STOP + 1, bool)
        here = self.planner.key(pos)
        for k in range(STOP):
            key = self.planner.key(waypoint_position(pos, heading, k, self.spacing))
            mask[k] = key in dist and key != here
        mask[STOP] = True
        return mask

    def primitive_action(self, target: tuple[int, int]) -> int | None:
        """The next primitive action towards lattice ``target`` (None when there or unreachable).
        The path is planned once and kept while the agent follows it and the map keeps it clear."""
        pos, heading = self._pose()
        here = self.planner.key(pos)
        if target == here:
            return None
        path = self._path
        if not path or path[0] != here or path[-1] != target or not self.planner.path_clear(path):
            dist, parent = self._reachable()
            if target not in dist:
                return None
            path = self._path = self.planner.path(parent, target)
        nxt = path[1]
        want = math.atan2(nxt[1] - here[1], nxt[0] - here[0])
        turn = math.remainder(want - heading, 2 * math.pi)
        if abs(turn) < 1e-3:
            return MOVE_FORWARD
        return TURN_LEFT if turn > 0 else TURN_RIGHT

    # ------------------------------------------------------------------ stepping
    def step(self, action):
        a = np.asarray(action)
        message = f"action must be one integer in 0..{STOP} (a waypoint, or {STOP} for STOP), got {action!r}"
        if a.size != 1 or not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
            raise ValueError(message)
        value = a.reshape(()).item()
        if value != int(value) or not 0 <= int(value) <= STOP:
            raise ValueError(message)
        action = int(value)
        total, steps = 0.0, 0
        obs, terminated, truncated, info = self._obs, False, False, {}
        if action == STOP:
            self.target = None
            obs, reward, terminated, truncated, info = self.env.step(STOP_ACTION)
            total, steps = float(reward), 1
            if self.primitive_hook is not None:
                self.primitive_hook()
        else:
            pos, heading = self._pose()
            target = self.target = self.planner.key(waypoint_position(pos, heading, action, self.spacing))
            self._path = None
            while steps < MAX_PRIMITIVES:
                prim = self.primitive_action(target)
                if prim is None:
                    break
                before = self._pose()[0]
                obs, reward, terminated, truncated, info = self.env.step(prim)
                total += float(reward)
                steps += 1
                if prim == MOVE_FORWARD:
                    if np.allclose(self._pose()[0], before):
                        # bumped: that edge is a wall the map did not show; remember it, plan again
                        here = self.planner.key(before)
                        self.planner.blocked.add((here, self._path[1]))
                        self._path = None
                    else:
                        self._path = self._path[1:]
                self._update(obs)
                if self.primitive_hook is not None:
                    self.primitive_hook()
                if terminated or truncated:
                    break
        self._obs = obs
        info = dict(info, primitive_steps=steps)
        self.last_observation = self._observe(obs)
        return self.last_observation, total, terminated, truncated, info

    # ------------------------------------------------------------------ pictures
    def map_image(self, size: int = CROP) -> np.ndarray:
        """uint8 (size, size, 3): the agent's own map as its policy sees it (egocentric, facing
        up): obstacles black, seen floor light, unknown grey; the allowed waypoints green, the
        one being walked to red, the planned path blue, the agent a yellow dot at the centre."""
        pos, heading = self._pose()
        m = self.gmap.crop(pos, heading, size)
        img = np.full((size, size, 3), 128, np.uint8)
        img[m[..., 1] > 0] = (235, 235, 235)
        img[m[..., 0] > 0] = (0, 0, 0)
        c, s = math.cos(heading), math.sin(heading)

        def pixel(xy):  # world xy -> (row, col) of the egocentric crop
            dx, dy = xy[0] - pos[0], xy[1] - pos[1]
            fwd, left = c * dx + s * dy, -s * dx + c * dy
            return int(round(size / 2 - 0.5 - fwd / self.gmap.cell)), int(round(size / 2 - 0.5 - left / self.gmap.cell))

        def dot(rc, color, r=1):
            i, j = rc
            img[max(i - r, 0):max(min(i + r + 1, size), 0), max(j - r, 0):max(min(j + r + 1, size), 0)] = color

        for a in np.flatnonzero(self.action_masks()[:STOP]):
            dot(pixel(waypoint_position(pos, heading, int(a), self.spacing)), (40, 170, 40), 0)
        if self._path:
            for k in self._path:
                dot(pixel(np.array(k, np.float64) * self.spacing), (40, 90, 230), 0)
        if self.target is not None:
            dot(pixel(np.array(self.target, np.float64) * self.spacing), (220, 30, 30))
        dot((size // 2 - 1, size // 2 - 1), (250, 210, 0))
        return img

    # ------------------------------------------------------------------ oracle
    def oracle_scores(self) -> np.ndarray:
        """(82,) the geodesic distance (m) to the goal from each allowed waypoint (inf where masked
        or off the navigable points), plus a tiny cost per graph step of the waypoint; STOP scores
        0 on the goal, else inf. Within the success distance but off the goal, STOP scores 0 only
        when no allowed waypoint is nearer the goal. Ground truth: for the oracle and imitation.

        Like the flat agents' shortest-path oracle, it stops on the goal itself, not anywhere
        within the success distance: at the source the sound is unmistakable, while 1.0 m and
        1.5 m from it sound alike, and a policy taught to stop anywhere within 1 m learned to stop
        at 1.5 m too (half of its failures were such early stops)."""
        base = self.base
        scores = np.full(STOP + 1, np.inf)
        here = base.distance_to_goal()
        if here <= 1e-6:
            scores[STOP] = 0.0
            return scores
        g = base.sim.graph
        to_goal = g.distances_from(base._nearest_goal())
        mask = self.action_masks()
        pos, heading = self._pose()
        ks = np.flatnonzero(mask[:STOP])
        if len(ks):
            pts = np.array([waypoint_position(pos, heading, int(k), self.spacing) for k in ks])
            nodes = np.atleast_1d(g.nearest_node(np.c_[pts, np.full(len(pts), pos[2])]))
            on_node = np.linalg.norm(g.positions[nodes, :2] - pts, axis=1) <= 0.01  # a navigable point
            hops = np.array([np.hypot(*waypoint_offset(int(k))) for k in ks])
            scores[ks] = np.where(on_node, to_goal[nodes] + 1e-3 * hops, np.inf)
        if here <= base.success_distance and not (scores[:STOP] < here).any():
            scores[:] = np.inf  # as near as the agent's map lets it get: a success
            scores[STOP] = 0.0
        return scores

    def oracle_label(self, tolerance: float = 0.25) -> tuple[int, np.ndarray]:
        """(``oracle_action()``, ``oracle_targets(tolerance)``) from one ``oracle_scores()`` (for
        imitation, which needs both at every state)."""
        scores = self.oracle_scores()
        out = np.zeros(STOP + 1, np.float32)
        if not np.isfinite(scores).any():
            out[STOP] = 1.0
            return STOP, out
        good = scores <= scores.min() + tolerance
        out[good] = 1.0 / good.sum()
        return int(np.argmin(scores)), out

    def oracle_action(self) -> int:
        """The waypoint nearest the goal along the geodesic (ground truth: a baseline and a test
        of the planner, not something a learned agent sees); STOP within the success distance
        (or when no waypoint is left)."""
        return self.oracle_label()[0]

    def oracle_targets(self, tolerance: float = 0.25) -> np.ndarray:
        """(82,) float32: the oracle's choice as a distribution, uniform over the waypoints within
        ``tolerance`` metres of the best one's distance to the goal (near-ties: several waypoints
        are often as good), for imitation."""
        return self.oracle_label(tolerance)[1]

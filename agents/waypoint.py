"""AV-WaN-style hierarchical navigation (Chen et al., ICLR 2021): the policy picks a waypoint on a
9 x 9 grid around the agent (or STOP), a planner on the agent's own map walks there with
primitive actions.

- ``GeometricMap``, ``AcousticMap`` and ``LatticePlanner`` (``earshot.agents.maps``): occupancy
  from the agent's own depth images, the sound intensity heard where it has been, and the
  planner on its map.
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

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..av_env import oracles
from ..av_env.oracles import GRID, STOP, waypoint_offset, waypoint_position, waypoint_positions
from ..scenes.render.camera import DEFAULT_CAMERA_HEIGHT, depth_metres
from .maps import (ACOUSTIC_FLOOR, CELL, CROP, WINDOW, AcousticMap, GeometricMap, LatticePlanner, lattice_key,
                   lattice_keys)

MAX_PRIMITIVES = 10  # primitive actions per waypoint step
MOVE_FORWARD, TURN_LEFT, TURN_RIGHT, STOP_ACTION = 1, 2, 3, 0


class WaypointEnv(gym.Wrapper):
    """Waypoint actions over a grid-motion navigation env (see the module docstring).

    Observations: the inner env's, plus ``geometric_map`` (64, 64, 2) float32 (occupied,
    explored; agent at the centre facing up) and ``acoustic_map`` (162,) float32 (intensity and
    visited flags on the waypoint grid). ``info["primitive_steps"]`` counts the inner steps; with
    ``keep_passed`` set, ``passed`` lists the observations of the states walked through in the
    last step before the one it returned (the recurrent waypoint agent's GRU steps through them)."""

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
        # with keep_passed, ``passed`` holds the observations of the states walked through in the
        # last step before the one it returned (a recurrent policy steps its state through them)
        self.keep_passed, self.passed = False, []
        # called after every primitive step (videos record one frame per primitive action)
        self.primitive_hook = None

    # ------------------------------------------------------------------ state
    def _pose(self):
        sim = self.base.sim
        return sim.position.copy(), float(sim.heading)

    def _update(self, obs) -> None:
        pos, heading = self._pose()
        self.gmap.update(depth_metres(obs["depth"]), pos, heading, self.base.hfov_deg, DEFAULT_CAMERA_HEIGHT)
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
        self.passed = []
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
        keys = lattice_keys(waypoint_positions(pos, heading, self.spacing), self.spacing)
        mask[:STOP] = [key in dist and key != here for key in map(tuple, keys.tolist())]
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
        total, steps, passed = 0.0, 0, []
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
                if self.keep_passed:
                    passed.append(self._observe(obs))
                if self.primitive_hook is not None:
                    self.primitive_hook()
                if terminated or truncated:
                    break
        self._obs = obs
        self.passed = passed[:-1]  # the last state walked to is the observation returned
        info = dict(info, primitive_steps=steps)
        self.last_observation = passed[-1] if passed else self._observe(obs)  # the maps have not changed since
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
    def oracle_scores(self, allowed: np.ndarray | None = None) -> np.ndarray:
        """(82,) the waypoint oracle's scores of the state now (``oracles.waypoint_scores``: the
        geodesic distance to the goal from each allowed waypoint, STOP 0 on the goal); ``allowed``
        defaults to ``action_masks()``. Ground truth: for the oracle and imitation."""
        base, sim = self.base, self.base.sim
        pos, heading = self._pose()
        goal = oracles.nearest_goal(sim.graph, sim.node, base.goal_nodes())
        allowed = self.action_masks() if allowed is None else allowed
        return oracles.waypoint_scores(sim.graph, pos, heading, goal, base.distance_to_goal(), allowed, self.spacing,
                                       base.success_distance)

    def oracle_label(self, tolerance: float = 0.25, allowed: np.ndarray | None = None) -> tuple[int, np.ndarray]:
        """(``oracle_action()``, ``oracle_targets(tolerance)``) from one ``oracle_scores()`` (for
        imitation, which needs both at every state)."""
        return oracles.waypoint_label(self.oracle_scores(allowed), tolerance)

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


# names the agent's users import from here
__all__ = ["ACOUSTIC_FLOOR", "CELL", "CROP", "GRID", "MAX_PRIMITIVES", "STOP", "WINDOW", "AcousticMap", "GeometricMap",
           "LatticePlanner", "WaypointEnv", "lattice_key", "waypoint_offset", "waypoint_position"]

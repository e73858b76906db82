"""Oracles: the ground-truth actions of the navigation tasks, as functions of (graph, agent
state, goal). The env's ``oracle_action()``, imitation (DAgger labels), the oracle baseline of
evaluation and the waypoint agent's labels all call these; none lives on an env class.

- ``shortest_path_action``: grid motion, SoundSpaces' oracle (``NavGraph.best_action``);
- ``continuous_action``: continuous motion, greedy descent of a cost-to-go field;
- ``waypoint_scores`` / ``waypoint_label``: the AV-WaN-style waypoint agent's oracle over its
  9 × 9 grid of waypoints (``GRID``) plus STOP.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..scenes import Action, NavGraph

# The waypoint action grid (AV-WaN): GRID × GRID waypoints centred on the agent, then STOP.
GRID = 9
STOP = GRID * GRID


def nearest_goal(graph: NavGraph, node: int, goals) -> int:
    """The goal node geodesically nearest to ``node`` (first on ties)."""
    return min(goals, key=lambda n: graph.distances_from(n)[node])


def shortest_path_action(graph: NavGraph, node: int, heading: float, goal: int, turn_angle_deg: float) -> int:
    """Grid motion: STOP on the goal, else forward along a shortest path or the fewest turns."""
    return int(graph.best_action(node, heading, goal, turn_angle_deg))


def continuous_action(graph: NavGraph, position: np.ndarray, heading: float, goal: int, turn_angle_deg: float,
                      forward_step: float, distance: float, success_distance: float,
                      free_segments: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> int:
    """Continuous motion: STOP once ``distance`` (the geodesic distance to the goal, m) is within
    both the success distance and one forward step; else greedy descent of a cost-to-go field:
    cost(p) = min over NavGraph nodes n within reach of p by a free straight move of
    |p − n| + geodesic(n, goal). Among the headings reachable by turns, the one whose free forward
    step lowers the cost most is chosen; the agent moves when it already faces it, else turns
    towards it (the fewest turns, left on ties). The choice depends on the position only, so
    turning converges on it and every forward move lowers the cost: the agent cannot loop
    against a wall. ``free_segments(a, b)`` tests straight moves (default: the graph's own)."""
    if distance <= min(success_distance, forward_step):
        return int(Action.STOP)
    free = free_segments or graph.segments_free
    turn = np.radians(turn_angle_deg)
    n_turns = int(round(2 * np.pi / turn))
    ks = np.arange(-(n_turns // 2), n_turns - n_turns // 2)
    ks = ks[np.lexsort((-np.sign(ks), np.abs(ks)))]  # 0, +1, -1, +2, -2, ...
    headings = heading + ks * turn
    here = np.asarray(position)[:2]
    targets = here[None] + forward_step * np.c_[np.cos(headings), np.sin(headings)]
    ok_moves = free(np.repeat(here[None], len(targets), axis=0), targets)
    dist = graph.distances_from(goal)

    def cost(points: np.ndarray) -> np.ndarray:
        out = np.full(len(points), np.inf)
        # the 8 nearest nodes within 2.5 spacings (a point near a corner may see none closer)
        _, near = graph._tree2d.query(points, k=min(8, len(graph)), distance_upper_bound=2.5 * graph.spacing)
        near = np.asarray(near).reshape(len(points), -1)
        owner = np.repeat(np.arange(len(points)), near.shape[1])
        nodes = near.reshape(-1)
        real = nodes < len(graph)
        owner, nodes = owner[real], nodes[real]
        if len(nodes) == 0:
            return out
        ok = free(points[owner], graph.positions[nodes, :2])
        total = np.linalg.norm(graph.positions[nodes, :2] - points[owner], axis=1) + dist[nodes]
        np.minimum.at(out, owner[ok], total[ok])
        return out

    costs = np.full(len(ks), np.inf)
    costs[ok_moves] = cost(targets[ok_moves])
    if not np.isfinite(costs).any():
        return int(Action.TURN_LEFT)  # boxed in on every side: nothing better to do
    best = int(np.flatnonzero(costs <= costs.min() + 1e-9)[0])  # fewest turns among the best
    if ks[best] == 0:
        return int(Action.MOVE_FORWARD)
    return int(Action.TURN_LEFT if ks[best] > 0 else Action.TURN_RIGHT)


# ---------------------------------------------------------------------- waypoints
def waypoint_offset(action: int) -> tuple[int, int]:
    """(forward, left) graph steps of waypoint ``action``."""
    return action // GRID - GRID // 2, action % GRID - GRID // 2


def _waypoint_xy(position, heading: float, spacing: float, fwd, left):
    """World (x, y) of the waypoint(s) ``fwd`` graph steps ahead and ``left`` to the left (numbers
    or arrays: the same floating-point operations either way)."""
    c, s = math.cos(heading), math.sin(heading)
    return position[0] + spacing * (fwd * c - left * s), position[1] + spacing * (fwd * s + left * c)


def waypoint_position(position, heading: float, action: int, spacing: float) -> np.ndarray:
    """World xy of waypoint ``action`` for an agent at ``position`` facing ``heading``."""
    return np.array(_waypoint_xy(position, heading, spacing, *waypoint_offset(action)))


_OFFSETS = np.array([waypoint_offset(k) for k in range(GRID * GRID)], np.int64)  # (81, 2) forward, left
_HOPS = np.hypot(_OFFSETS[:, 0], _OFFSETS[:, 1])  # graph steps to each waypoint, as the crow flies


def waypoint_positions(position, heading: float, spacing: float) -> np.ndarray:
    """(GRID², 2) world xy of every waypoint: ``waypoint_position`` of each action at once (the
    same values to the last bit)."""
    return np.stack(_waypoint_xy(position, heading, spacing, _OFFSETS[:, 0], _OFFSETS[:, 1]), axis=1)


def waypoint_scores(graph: NavGraph, position: np.ndarray, heading: float, goal: int, distance: float,
                    allowed: np.ndarray, spacing: float, success_distance: float) -> np.ndarray:
    """(GRID² + 1,) the geodesic distance (m) to ``goal`` from each ``allowed`` waypoint (inf
    where masked or off the navigable points), plus a tiny cost per graph step of the waypoint;
    STOP scores 0 on the goal (``distance`` ≤ 1 µm), else inf. Within the success distance but off
    the goal, STOP scores 0 only when no allowed waypoint is nearer the goal.

    Like the flat agents' shortest-path oracle, it stops on the goal itself, not anywhere within
    the success distance: at the source the sound is unmistakable, while 1.0 m and 1.5 m from it
    sound alike, and a policy taught to stop anywhere within 1 m learned to stop at 1.5 m too."""
    scores = np.full(STOP + 1, np.inf)
    if distance <= 1e-6:
        scores[STOP] = 0.0
        return scores
    to_goal = graph.distances_from(goal)
    ks = np.flatnonzero(np.asarray(allowed)[:STOP])
    if len(ks):
        pts = waypoint_positions(position, heading, spacing)[ks]
        nodes = np.atleast_1d(graph.nearest_node(np.c_[pts, np.full(len(pts), position[2])]))
        on_node = np.linalg.norm(graph.positions[nodes, :2] - pts, axis=1) <= 0.01  # a navigable point
        scores[ks] = np.where(on_node, to_goal[nodes] + 1e-3 * _HOPS[ks], np.inf)
    if distance <= success_distance and not (scores[:STOP] < distance).any():
        scores[:] = np.inf  # as near as the agent's map lets it get: a success
        scores[STOP] = 0.0
    return scores


def waypoint_label(scores: np.ndarray, tolerance: float = 0.25) -> tuple[int, np.ndarray]:
    """(the best action, the near-ties as a distribution) of ``waypoint_scores``: uniform over the
    waypoints within ``tolerance`` metres of the best one's distance (several are often as good);
    STOP when nothing is reachable."""
    out = np.zeros(len(scores), np.float32)
    if not np.isfinite(scores).any():
        out[STOP] = 1.0
        return STOP, out
    good = scores <= scores.min() + tolerance
    out[good] = 1.0 / good.sum()
    return int(np.argmin(scores)), out


__all__ = ["GRID", "STOP", "continuous_action", "nearest_goal", "shortest_path_action", "waypoint_label",
           "waypoint_offset", "waypoint_position", "waypoint_positions", "waypoint_scores"]

"""The oracles as functions of (graph, agent state, goal), without an env."""

import numpy as np

from earshot.av_env import oracles
from earshot.scenes import Action, NavGraph, shoebox


def _room():
    scene = shoebox(6.0, 4.0, 2.8, "plaster")
    return NavGraph.build(scene, spacing=0.5, agent_radius=0.2)


def _walk(graph, node, heading, goal, turn_deg=90.0, limit=100):
    """Follow the grid oracle; returns (path length m, stopped on the goal)."""
    length = 0.0
    for _ in range(limit):
        a = oracles.shortest_path_action(graph, node, heading, goal, turn_deg)
        if a == Action.STOP:
            return length, node == goal
        if a == Action.MOVE_FORWARD:
            nxt = graph.neighbor_in_direction(node, heading, tolerance=np.radians(1.0))
            length += float(np.linalg.norm(graph.positions[nxt, :2] - graph.positions[node, :2]))
            node = nxt
        else:
            heading += np.radians(turn_deg) * (1 if a == Action.TURN_LEFT else -1)
    return length, False


def test_shortest_path_oracle_walks_the_geodesic():
    g = _room()
    rng = np.random.default_rng(0)
    for _ in range(10):
        start, goal = (int(v) for v in rng.choice(len(g), 2, replace=False))
        length, ok = _walk(g, start, 0.0, goal)
        assert ok
        assert abs(length - g.geodesic_distance(start, goal)) < 1e-9  # SPL 1


def test_continuous_oracle_stops_only_near_the_goal_and_otherwise_moves_downhill():
    g = _room()
    goal = int(g.nearest_node([5.0, 2.0, 0.0]))
    here = g.positions[int(g.nearest_node([1.0, 2.0, 0.0]))]
    d = float(g.distances_from(goal)[g.nearest_node(here)])
    # facing the goal (+x) in an empty room: move; facing away: turn
    assert oracles.continuous_action(g, here, 0.0, goal, 10.0, 0.25, d, 1.0) == Action.MOVE_FORWARD
    assert oracles.continuous_action(g, here, np.pi, goal, 10.0, 0.25, d, 1.0) in (Action.TURN_LEFT, Action.TURN_RIGHT)
    assert oracles.continuous_action(g, g.positions[goal], 0.0, goal, 10.0, 0.25, 0.0, 1.0) == Action.STOP


def test_waypoint_geometry_and_label():
    # waypoint k = forward * 9 + left offsets, centred: the one straight ahead lies along the heading
    ahead = (oracles.GRID // 2 + 2) * oracles.GRID + oracles.GRID // 2
    assert oracles.waypoint_offset(ahead) == (2, 0)
    np.testing.assert_allclose(oracles.waypoint_position([1.0, 1.0, 0.0], np.pi / 2, ahead, 0.5), [1.0, 2.0], atol=1e-12)
    g = _room()
    pos = g.positions[int(g.nearest_node([1.0, 2.0, 0.0]))]
    goal = int(g.nearest_node([4.0, 2.0, 0.0]))
    allowed = np.ones(oracles.STOP + 1, bool)
    d = float(g.distances_from(goal)[g.nearest_node(pos)])
    scores = oracles.waypoint_scores(g, pos, 0.0, goal, d, allowed, 0.5, 1.0)
    best, targets = oracles.waypoint_label(scores)
    assert np.isfinite(scores[best]) and scores[best] < d
    assert abs(targets.sum() - 1.0) < 1e-6 and targets[best] > 0
    on_goal = oracles.waypoint_scores(g, g.positions[goal], 0.0, goal, 0.0, allowed, 0.5, 1.0)
    assert oracles.waypoint_label(on_goal)[0] == oracles.STOP

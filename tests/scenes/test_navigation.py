import numpy as np
import pytest
import trimesh
from scipy.sparse import csgraph

from earshot.scenes import Action, NavGraph, Scene, generate_apartment, get_material, shoebox


def test_shoebox_nodes_keep_agent_radius_from_walls():
    """In a 5 m x 4 m room, lattice nodes within 0.2 m of a wall are excluded: x in 0.5..4.5, y in 0.5..3.5."""
    graph = NavGraph.build(shoebox(5.0, 4.0, 2.5), spacing=0.5, agent_radius=0.2)
    xs, ys = np.unique(graph.positions[:, 0]), np.unique(graph.positions[:, 1])
    np.testing.assert_allclose(xs, np.arange(0.5, 4.51, 0.5))
    np.testing.assert_allclose(ys, np.arange(0.5, 3.51, 0.5))
    assert len(graph) == 9 * 7
    assert len(graph.edges) == 8 * 7 + 9 * 6  # 4-connected grid
    # on the floor: to a micrometre (the floor height is found by ray casting in float32, whose
    # rounding near 0 is ~1e-7 m and differs between CPUs)
    np.testing.assert_allclose(graph.positions[:, 2], 0.0, atol=1e-6)
    # a wider agent loses the outer ring
    wide = NavGraph.build(shoebox(5.0, 4.0, 2.5), spacing=0.5, agent_radius=0.55)
    assert np.isclose(wide.positions[:, 0].min(), 1.0) and np.isclose(wide.positions[:, 0].max(), 4.0)


def test_obstacles_block_nodes_and_overhangs_count():
    """A table top at 0.75 m (no legs) blocks the floor under it; a shelf above the agent's head does not."""
    room = shoebox(6.0, 4.0, 3.0)
    table = trimesh.creation.box((1.0, 1.0, 0.05), trimesh.transformations.translation_matrix((3.0, 2.0, 0.75)))
    shelf = trimesh.creation.box((1.0, 1.0, 0.05), trimesh.transformations.translation_matrix((1.5, 2.0, 2.2)))
    mesh = trimesh.util.concatenate([room.mesh, table, shelf])
    scene = Scene(mesh, np.zeros(len(mesh.faces), np.int32), [get_material("plaster")])
    graph = NavGraph.build(scene)
    xy = graph.positions[:, :2]
    under_table = (np.abs(xy[:, 0] - 3.0) <= 0.7) & (np.abs(xy[:, 1] - 2.0) <= 0.7)
    assert not under_table.any()
    assert np.any(np.all(np.isclose(xy, [1.5, 2.0]), axis=1))  # under the high shelf is walkable


def test_graph_is_one_component(apartment_graph):
    n, _ = csgraph.connected_components(apartment_graph.adjacency, directed=False)
    assert n == 1


def test_geodesic_at_least_euclidean_and_symmetric(apartment_graph, rng):
    g = apartment_graph
    for _ in range(40):
        a, b = (int(v) for v in rng.integers(len(g), size=2))
        d_ab, d_ba = g.geodesic_distance(a, b), g.geodesic_distance(b, a)
        assert d_ab == pytest.approx(d_ba)
        assert d_ab >= np.linalg.norm(g.positions[a] - g.positions[b]) - 1e-9
        path = g.shortest_path(a, b)
        assert path[0] == a and path[-1] == b
        steps = np.linalg.norm(np.diff(g.positions[path], axis=0), axis=1)
        assert steps.sum() == pytest.approx(d_ab)
        assert np.allclose(steps, g.spacing)  # consecutive path nodes are graph neighbours
    np.testing.assert_allclose(g.distance_matrix, g.distance_matrix.T)
    np.testing.assert_allclose(g.distance_matrix[3], g.distances_from(3))


@pytest.mark.parametrize("seed", [7, 19, 2_000_005])
def test_no_edge_passes_through_geometry(seed):
    """Horizontal rays along every edge at several body heights, and offset by the agent radius, hit nothing."""
    scene = generate_apartment(seed)
    g = NavGraph.build(scene)
    a, b = g.positions[g.edges[:, 0]], g.positions[g.edges[:, 1]]
    d = b - a
    side = np.c_[-d[:, 1], d[:, 0], np.zeros(len(d))] / np.linalg.norm(d, axis=1, keepdims=True)
    for h in (0.25, 0.6, 1.0, 1.45):
        for offset in (-0.19, 0.0, 0.19):
            origins = a + side * offset + [0, 0, h]
            t = scene.ray_caster.first_hit_distance(origins, d)
            assert np.all(t > 1.0), f"an edge is blocked at height {h}, offset {offset}"


def test_nearest_node(apartment_graph):
    g = apartment_graph
    p = g.positions[5] + [0.1, -0.05, 0.0]
    assert g.nearest_node(p) == 5
    assert g.nearest_node(p[:2]) == 5
    np.testing.assert_array_equal(g.nearest_node(g.positions[:4]), [0, 1, 2, 3])
    with pytest.raises(ValueError, match="coordinates"):
        g.nearest_node([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(IndexError):
        g.geodesic_distance(0, len(g) + 10)


def _walk_oracle(g, start, heading, goal, turn_deg=90.0, limit=500):
    node, length, actions = start, 0.0, 0
    for _ in range(limit):
        action = g.best_action(node, heading, goal, turn_angle_deg=turn_deg)
        actions += 1
        if action == Action.STOP:
            return node, length, actions
        if action == Action.MOVE_FORWARD:
            nxt = g.neighbor_in_direction(node, heading)
            assert nxt is not None
            length += np.linalg.norm(g.positions[nxt] - g.positions[node])
            node = nxt
        else:
            heading += np.radians(turn_deg) * (1 if action == Action.TURN_LEFT else -1)
    raise AssertionError("oracle did not stop")


def test_oracle_follows_a_shortest_path(apartment_graph, rng):
    """SPL = 1: the oracle stops on the goal having walked exactly the geodesic distance."""
    g = apartment_graph
    for _ in range(25):
        start, goal = (int(v) for v in rng.integers(len(g), size=2))
        heading = float(rng.integers(4)) * np.pi / 2
        end, length, _ = _walk_oracle(g, start, heading, goal)
        assert end == goal
        assert length == pytest.approx(g.geodesic_distance(start, goal), abs=1e-9)


def test_oracle_turn_choice():
    g = NavGraph.build(shoebox(3.0, 3.0, 2.5))  # nodes at 0.5..2.5
    start, goal = g.nearest_node([1.5, 1.5]), g.nearest_node([1.5, 2.5])  # goal straight "north" (+y)
    assert g.best_action(start, np.pi / 2, goal) == Action.MOVE_FORWARD
    assert g.best_action(start, 0.0, goal) == Action.TURN_LEFT  # facing +x, +y is to the left
    assert g.best_action(start, np.pi, goal) == Action.TURN_RIGHT
    assert g.best_action(goal, 0.0, goal) == Action.STOP


def test_no_walkable_floor_is_a_clear_error():
    wall = trimesh.Trimesh([[0, 0, 0], [4, 0, 0], [4, 0, 3], [0, 0, 3]], [[0, 1, 2], [0, 2, 3]])
    scene = Scene(wall, np.zeros(2, np.int32), [get_material("plaster")])
    with pytest.raises(ValueError, match="no walkable floor"):
        NavGraph.build(scene)
    with pytest.raises(ValueError, match="connectivity"):
        NavGraph.build(shoebox(3, 3, 3), connectivity=6)
    with pytest.raises(ValueError, match="agent_radius"):
        NavGraph.build(shoebox(3, 3, 3), agent_radius=-1)


def test_eight_connectivity_has_diagonals():
    g = NavGraph.build(shoebox(3.0, 3.0, 2.5), connectivity=8)
    lengths = np.round(g.edge_lengths, 6)
    assert set(lengths) == {0.5, round(0.5 * np.sqrt(2), 6)}
    assert g.geodesic_distance(g.nearest_node([0.5, 0.5]), g.nearest_node([2.5, 2.5])) == pytest.approx(4 * 0.5 * np.sqrt(2))


def test_topdown_map_marks_agent_goal_and_path(apartment_graph):
    g = apartment_graph
    a, b = 0, int(np.argmax(g.distances_from(0)))
    img = g.topdown_map(agent=g.positions[a], heading=0.0, goal=g.positions[b], path=g.shortest_path(a, b),
                        legend=False)  # the legend has a red goal disc too (see tests/av_env/test_visualize.py)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    (x0, y0, _), (x1, y1, _) = g.scene.bounds
    assert img.shape[1] >= (x1 - x0) * 30 and img.shape[0] >= (y1 - y0) * 30
    red = np.all(img == [220, 30, 30], axis=-1)
    green = np.all(img == [30, 180, 60], axis=-1)
    assert red.sum() > 20 and green.sum() > 20
    # the goal disc is drawn where the goal is
    ppm = img.shape[1] / (g.occupancy["floor"].shape[0] * g.occupancy["cell"])
    rows, cols = np.nonzero(red)
    u = (g.positions[b, 0] - g.occupancy["origin"][0]) * ppm
    v = img.shape[0] - (g.positions[b, 1] - g.occupancy["origin"][1]) * ppm
    assert abs(cols.mean() - u) < 3 and abs(rows.mean() - v) < 3


def test_zero_thickness_partition_is_only_crossed_at_its_door():
    """A scanned-style wall (one plane, no thickness) across a 6 x 4 m room with a 1 m opening at
    y in [1.5, 2.5]: the graph crosses x = 3 only through the opening."""
    room = shoebox(6.0, 4.0, 2.5)
    quads = [((3.0, 0.0), (3.0, 1.5)), ((3.0, 2.5), (3.0, 4.0))]
    verts, faces = [], []
    for (x0, y0), (x1, y1) in quads:
        k = len(verts)
        verts += [[x0, y0, 0.0], [x1, y1, 0.0], [x1, y1, 2.5], [x0, y0, 2.5]]
        faces += [[k, k + 1, k + 2], [k, k + 2, k + 3]]
    mesh = trimesh.util.concatenate([room.mesh, trimesh.Trimesh(verts, faces)])
    scene = Scene(mesh, np.zeros(len(mesh.faces), np.int32), [get_material("plaster")])
    g = NavGraph.build(scene)
    a, b = g.positions[g.edges[:, 0]], g.positions[g.edges[:, 1]]
    crossing = (np.minimum(a[:, 0], b[:, 0]) < 3.0) & (np.maximum(a[:, 0], b[:, 0]) > 3.0) | \
               np.isclose(a[:, 0], 3.0) | np.isclose(b[:, 0], 3.0)
    ys = np.r_[a[crossing, 1], b[crossing, 1]]
    assert len(ys) and np.all((ys > 1.5 + 0.2 - 1e-9) & (ys < 2.5 - 0.2 + 1e-9))
    left, right = g.nearest_node([1.0, 0.5]), g.nearest_node([5.0, 0.5])
    # 4 m across plus 1.5 m up to the opening (y = 2) and 1.5 m back down
    assert g.geodesic_distance(left, right) == pytest.approx(4.0 + 2 * 1.5)


@pytest.mark.parametrize("turn_deg", [90.0, 30.0])
def test_oracle_action_count_equals_stepping_the_oracle(turn_deg):
    """The closed count (turns per node + moves + STOP) equals stepping best_action to STOP."""
    from earshot.scenes import Action, generate_apartment

    rng = np.random.default_rng(0)
    for seed in (11, 12):
        g = NavGraph.build(generate_apartment(seed))
        for _ in range(15):
            node, goal = (int(v) for v in rng.integers(len(g), size=2))
            heading = float(rng.integers(8) * np.pi / 2 if turn_deg == 90 else rng.integers(12) * np.radians(30))
            n, h, steps = node, heading, 0
            while True:
                a = g.best_action(n, h, goal, turn_deg)
                steps += 1
                if a == Action.STOP:
                    break
                if a == Action.MOVE_FORWARD:
                    n = g.neighbor_in_direction(n, h)
                else:
                    h += np.radians(turn_deg) * (1 if a == Action.TURN_LEFT else -1)
            assert g.oracle_action_count(node, heading, goal, turn_deg) == steps

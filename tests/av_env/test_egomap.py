"""The ``local_map`` observation: an occupancy map the agent builds from its own depth images and
pose. In a box room every occupied cell lies on a wall, the wall straight ahead is mapped at its
distance, what was seen stays mapped after the agent turns away, and the visits channel counts the
steps that ended in each cell."""

import math

import gymnasium as gym
import numpy as np
import pytest

import earshot.av_env  # noqa: F401  (registers the envs)
from earshot.av_env.egomap import LOCAL_MAP_CELL, LOCAL_MAP_SIZE
from earshot.av_env.observations import VISITS_CAP
from earshot.scenes import shoebox

W, D = 4.0, 3.0  # the box's width (x) and depth (y), metres


@pytest.fixture(scope="module")
def box_env(tmp_path_factory):
    mesh = shoebox(W, D, 2.8, "plaster").export(tmp_path_factory.mktemp("box") / "box.ply")
    return gym.make("earshot/PointGoal-v0", split="test", scenes=[str(mesh)], resolution=64, renderer="raycast",
                    sensors=["pointgoal_with_gps_compass", "local_map"]).unwrapped


def _visit_value(n: int) -> float:
    return min(math.log1p(n) / math.log1p(VISITS_CAP), 1.0)


def _world(cells: np.ndarray, agent_cell, position, heading: float) -> np.ndarray:
    """World (x, y) of crop cells (row, column): rows count ahead upwards, columns to the right."""
    ahead = (agent_cell[0] - cells[:, 0]) * LOCAL_MAP_CELL
    left = (agent_cell[1] - cells[:, 1]) * LOCAL_MAP_CELL
    h = round(heading / (math.pi / 2)) * (math.pi / 2)
    return np.stack([position[0] + ahead * math.cos(h) - left * math.sin(h),
                     position[1] + ahead * math.sin(h) + left * math.cos(h)], axis=1)


def _wall_distance(xy: np.ndarray) -> np.ndarray:
    return np.minimum.reduce([np.abs(xy[:, 0]), np.abs(xy[:, 0] - W), np.abs(xy[:, 1]), np.abs(xy[:, 1] - D)])


def _agent_cell(m: np.ndarray, value: float) -> tuple[int, int]:
    cells = np.argwhere(np.isclose(m[..., 2], value))
    assert len(cells) == 1, cells
    return tuple(cells[0])


def test_local_map_maps_the_walls_where_they_are_and_remembers_them(box_env):
    env = box_env
    assert env.observation_space["local_map"].shape == (LOCAL_MAP_SIZE, LOCAL_MAP_SIZE, 3)
    assert "depth" not in env.observation_space.spaces  # built from depth without observing it
    tol = 1.5 * LOCAL_MAP_CELL  # a cell, and the crop's half-cell offset
    for index in range(3):
        obs, _ = env.reset(options={"episode_index": index})
        m = obs["local_map"]
        assert env.observation_space.contains(obs) and m[..., 2].sum() == pytest.approx(_visit_value(1))
        pos, heading = env.sim.position.copy(), env.sim.heading
        agent = _agent_cell(m, _visit_value(1))
        occupied = np.argwhere(m[..., 0] > 0)
        assert len(occupied) > 10
        assert (_wall_distance(_world(occupied, agent, pos, heading)) <= tol).all()
        # straight ahead, the first occupied cell is the wall, at its distance
        c, s = math.cos(heading), math.sin(heading)
        ahead = min(t for t in ((W - pos[0]) / c if c > 0.5 else -pos[0] / c if c < -0.5 else np.inf,
                                (D - pos[1]) / s if s > 0.5 else -pos[1] / s if s < -0.5 else np.inf))
        column = [r for r in range(agent[0] - 1, -1, -1) if m[r, agent[1], 0] > 0]
        assert column and abs((agent[0] - column[0]) * LOCAL_MAP_CELL - ahead) <= tol
        assert (m[column[0] + 1:agent[0], agent[1], 1] > 0).sum() > 0  # the floor before it explored
        # turn left: that wall now lies to the right, still mapped, and nothing is forgotten
        obs, *_ = env.step(2)
        m2 = obs["local_map"]
        agent2 = _agent_cell(m2, _visit_value(2))  # a second step ended here
        occupied2 = np.argwhere(m2[..., 0] > 0)
        assert len(occupied2) >= len(occupied)
        world2 = _world(occupied2, agent2, pos, env.sim.heading)
        assert (_wall_distance(world2) <= tol).all()
        right = [cl for cl in range(agent2[1] + 1, LOCAL_MAP_SIZE) if m2[agent2[0], cl, 0] > 0]
        assert right and abs((right[0] - agent2[1]) * LOCAL_MAP_CELL - ahead) <= tol
    # a step that moves leaves the cell it left visited, behind the agent
    for _ in range(4):
        obs, *_ = env.step(1)
        if not env.sim.blocked:
            break
        obs, *_ = env.step(2)
    else:
        raise AssertionError("every direction was blocked")
    m3 = obs["local_map"]
    here = _agent_cell(m3, _visit_value(1))
    behind = m3[here[0] + 1:, here[1], 2]
    assert behind.max() > _visit_value(1)  # the start, where several steps ended
    # a new episode starts a new map
    obs, _ = env.reset(options={"episode_index": 0})
    assert obs["local_map"][..., 2].sum() == pytest.approx(_visit_value(1))


def test_local_map_is_deterministic_and_opt_in(box_env):
    env = box_env
    runs = []
    for _ in range(2):
        obs, _ = env.reset(options={"episode_index": 1})
        maps = [obs["local_map"]]
        for a in (2, 1, 1, 3, 1, 2, 2, 1):
            maps.append(env.step(a)[0]["local_map"])
        runs.append(np.stack(maps))
    np.testing.assert_array_equal(runs[0], runs[1])
    plain = gym.make("earshot/PointGoal-v0", scenes=1, resolution=32)
    assert "local_map" not in plain.observation_space.spaces

"""The waypoint agent's parts: depth projected into the right map cells, masks that keep waypoints
out of walls, a planner that gets to a reachable waypoint within 10 primitive steps, the
shortest-path waypoint oracle, and a masked PPO run (the DD-PPO trainer) that trains, saves and evaluates."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import earshot.av_env  # noqa: F401
from earshot.agents.waypoint import STOP, GeometricMap, WaypointEnv, waypoint_offset, waypoint_position
from earshot.scenes import shoebox
from earshot.scenes.render import make_renderer

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture(scope="module")
def box_mesh(tmp_path_factory):
    return shoebox(6.0, 4.0, 2.8, "plaster").export(tmp_path_factory.mktemp("box") / "box.ply")


@pytest.mark.parametrize("heading, wall", [(0.0, ("x", 6.0)), (math.pi / 2, ("y", 4.0)), (math.pi, ("x", 0.0))])
def test_depth_projection_puts_a_seen_wall_in_its_cells(heading, wall):
    room = shoebox(6.0, 4.0, 2.8, "plaster")
    renderer = make_renderer("raycast", room, width=64, height=64, hfov_deg=90)
    pos = np.array([3.0, 2.0, 0.0])
    _, depth = renderer.render(pos, heading)
    m = GeometricMap(pos)
    m.update(depth, pos, heading, 90.0, 1.5, stride=1)
    ij = np.argwhere(m.occupied > 0)
    centres = m.origin + (ij + 0.5) * m.cell
    assert len(centres) > 20
    # every occupied cell lies on a wall of the box (within a cell)
    on_wall = np.minimum.reduce([np.abs(centres[:, 0] - 0), np.abs(centres[:, 0] - 6), np.abs(centres[:, 1] - 0),
                                 np.abs(centres[:, 1] - 4)]) <= m.cell
    assert on_wall.all()
    # the wall straight ahead is mapped where it is, across the view's centre
    axis, value = wall
    a = 0 if axis == "x" else 1
    ahead = centres[np.abs(centres[:, a] - value) <= m.cell]
    assert len(ahead) >= 10 and np.abs(ahead[:, 1 - a] - pos[1 - a]).min() < 0.1
    # the floor in front is explored and free
    c, s = math.cos(heading), math.sin(heading)
    for dist in (1.6, 1.8):  # the camera (1.5 m up, 90° field) first sees the floor 1.5 m ahead
        cell = m.cells(np.array([[pos[0] + dist * c, pos[1] + dist * s]]))[0]
        assert m.explored[cell[0], cell[1]] and not m.occupied[cell[0], cell[1]]


def _look_around(env: WaypointEnv) -> None:
    """Turn on the spot once around, mapping each view (the inner env's primitive turns)."""
    for _ in range(4):
        obs, *_ = env.env.step(2)
        env._update(obs)


def test_the_mask_keeps_waypoints_out_of_walls(box_mesh):
    env = WaypointEnv(gym.make("earshot/PointGoal-v0", split="test", scenes=[str(box_mesh)], resolution=64,
                               renderer="raycast", sensors=["depth", "pointgoal_with_gps_compass"]))
    for index in range(3):
        env.reset(options={"episode_index": index})
        _look_around(env)
        pos, heading = env._pose()
        mask = env.action_masks()
        assert mask[STOP]
        allowed = [waypoint_position(pos, heading, k, env.spacing) for k in np.flatnonzero(mask[:STOP])]
        assert len(allowed) >= 8
        for p in allowed:  # inside the box, clear of its walls
            assert 0.15 < p[0] < 5.85 and 0.15 < p[1] < 3.85, p
        for k in range(STOP):  # and every waypoint beyond a wall is masked
            p = waypoint_position(pos, heading, k, env.spacing)
            if not (0 < p[0] < 6 and 0 < p[1] < 4):
                assert not mask[k]
    env.close()


def test_the_planner_reaches_a_reachable_waypoint_within_10_steps():
    env = WaypointEnv(gym.make("earshot/PointGoal-v0", split="test", scenes=3, resolution=64, renderer="raycast",
                               sensors=["depth", "pointgoal_with_gps_compass"]))
    rng = np.random.default_rng(0)
    tried = 0
    for index in range(12):
        env.reset(options={"episode_index": index})
        _look_around(env)
        pos, heading = env._pose()
        mask = env.action_masks()
        g = env.unwrapped.sim.graph
        near = [k for k in np.flatnonzero(mask[:STOP]) if sum(map(abs, waypoint_offset(int(k)))) <= 3]
        # only waypoints the true graph can reach in 10 primitive actions (3 moves + up to 4 turns)
        near = [k for k in near if np.linalg.norm(g.positions[g.nearest_node(np.r_[waypoint_position(pos, heading, int(k),
                env.spacing), 0.0])][:2] - waypoint_position(pos, heading, int(k), env.spacing)) < 0.01]
        if not near:
            continue
        k = int(near[rng.integers(len(near))])
        target = waypoint_position(pos, heading, k, env.spacing)
        here = int(g.nearest_node(np.r_[pos[:2], 0.0]))
        there = int(g.nearest_node(np.r_[target, 0.0]))
        if g.geodesic_distance(here, there) > sum(map(abs, waypoint_offset(k))) * env.spacing + 1e-6:
            continue  # the straight lattice path is not open in the real scene: not "reachable" in 10 steps
        _, _, terminated, truncated, info = env.step(k)
        tried += 1
        assert info["primitive_steps"] <= 10
        assert np.allclose(env._pose()[0][:2], target, atol=1e-6), (index, k)
    assert tried >= 5
    env.close()


def test_the_waypoint_oracle_succeeds_on_test_episodes():
    from earshot.agents.evaluation import episode_order, eval_env

    env = eval_env("earshot/AudioGoal-v0", "test", 24, {"resolution": 64, "sensors": ["depth"], "renderer": "raycast"},
                   agent="waypoint")
    results, stopped_at = [], []
    for index in episode_order(env, 24):
        env.reset(options={"episode_index": index})
        while True:
            action = env.oracle_action()
            if action == STOP:
                stopped_at.append(env.unwrapped.distance_to_goal())
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        results.append((info["success"], info["spl"]))
    sr = np.mean([r[0] for r in results])
    assert sr >= 0.95, results
    assert np.mean([r[1] for r in results]) > 0.9
    # like the flat oracle it stops on the goal (within the success distance only where its map
    # lets it get no nearer)
    assert np.mean(np.asarray(stopped_at) < 1e-6) >= 0.9, stopped_at
    env.close()


def test_bad_use_is_one_clear_error(box_mesh):
    base = dict(split="test", scenes=[str(box_mesh)], resolution=32, renderer="raycast")
    with pytest.raises(ValueError, match="needs grid motion"):
        WaypointEnv(gym.make("earshot/PointGoal-v0", motion="continuous", **base))
    with pytest.raises(ValueError, match="include 'depth' in the env's sensors"):
        WaypointEnv(gym.make("earshot/PointGoal-v0", sensors=["pointgoal_with_gps_compass"], **base))
    env = WaypointEnv(gym.make("earshot/PointGoal-v0", **base))
    env.reset(seed=0)
    for bad in (82, -1, 2.5, "x"):
        with pytest.raises(ValueError, match="action must be one integer in 0..81"):
            env.step(bad)
    env.close()


def test_a_short_masked_ppo_run_trains_and_evaluates(tmp_path):
    pytest.importorskip("torch")
    run = tmp_path / "run"
    kwargs = json.dumps({"resolution": 64, "sensors": ["depth", "pointgoal_with_gps_compass"], "renderer": "raycast"})

    def train(total: int) -> dict:
        out = subprocess.run([sys.executable, str(SCRIPTS / "train.py"), "--task", "earshot/PointGoal-v0", "--agent",
                              "waypoint", "--total-steps", str(total), "--n-envs", "1", "--scenes", "2", "--n-steps", "16",
                              "--eval-every", "0", "--checkpoint-every", "1000", "--run-dir", str(run), "--no-progress",
                              "--env-kwargs", kwargs], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads((run / "checkpoints" / "latest" / "meta.json").read_text())

    meta = train(64)
    assert meta["agent"] == "waypoint" and meta["actions"] == 82 and "geometric_map" in meta["observation"]
    # --total-steps counts primitive steps: training ends after the rollout (16 decisions of up to 10
    # primitive steps each) in which 64 were reached
    first = meta["steps"]
    assert 64 <= first < 64 + 16 * 10 and meta["updates"] == 1
    meta = train(first + 1)  # resumed: the primitive count goes on from the checkpoint
    assert first + 1 <= meta["steps"] <= first + 16 * 10 and meta["updates"] == 2
    ev = subprocess.run([sys.executable, str(SCRIPTS / "evaluate.py"), "--checkpoint", str(run / "checkpoints" / "latest"),
                         "--task", "earshot/PointGoal-v0", "--episodes", "3", "--out", str(tmp_path / "eval"), "--no-progress",
                         "--videos", "1"],
                        capture_output=True, text=True, timeout=600)
    assert ev.returncode == 0, ev.stderr[-2000:]
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["agent"].startswith("waypoint") and 0.0 <= summary["spl"]["mean"] <= 1.0
    rows = (tmp_path / "eval" / "episodes.csv").read_text().splitlines()
    assert len(rows) == 4  # the same fixed episodes as flat agents, counted in primitive steps
    # the video holds each primitive step (and the start) for its second of audio: FPS frames
    # (a 1 s step at 10 frames per second), with the agent's map as a panel
    import imageio.v2 as imageio

    from earshot.av_env.visualize import FPS

    first = dict(zip(rows[0].split(","), rows[1].split(",")))
    video = tmp_path / "eval" / "videos" / f"episode_{int(first['episode']):05d}.mp4"
    frames = sum(1 for _ in imageio.get_reader(video))
    assert frames == (int(first["num_steps"]) + 1) * round(FPS * 1.0)  # AudioGoal's steps last 1 s


def test_dagger_warm_start_works_for_the_waypoint_agent():
    torch = pytest.importorskip("torch")
    from earshot.agents.ddppo.policy import ActorCritic
    from earshot.agents.imitation import ImitationConfig, imitate
    from earshot.agents.kinds import AGENT_KINDS

    waypoint = AGENT_KINDS["waypoint"]
    kwargs = dict(split="train", scenes=2, resolution=64, renderer="raycast", sensors=["depth", "spectrogram"])
    env = WaypointEnv(gym.make("earshot/AudioGoal-v0", **kwargs))
    torch.manual_seed(0)
    model = ActorCritic(env.observation_space, int(env.action_space.n), hidden=32)
    out = imitate(waypoint, model, env, ImitationConfig(120, rounds=2), progress=False)
    assert out["steps"] >= 120 and out["decisions"] < out["steps"]  # primitive steps, fewer waypoint decisions
    # every state it walked through is labelled: one per primitive step, not one per decision
    assert out["samples"] == out["steps"]
    assert out["rounds"][0]["oracle_share"] == 1.0 and out["rounds"][0]["success"] > 0.5
    # labelling the states between decisions does not change the walk: the oracle's round is the same
    only = imitate(waypoint, model, env, ImitationConfig(120, rounds=1, every_primitive=False), progress=False)
    both = imitate(waypoint, model, env, ImitationConfig(120, rounds=1, every_primitive=True), progress=False)
    assert only["samples"] == only["decisions"] < both["samples"] == both["steps"]
    assert (only["steps"], only["decisions"]) == (both["steps"], both["decisions"])
    assert only["rounds"][0]["episodes"] == both["rounds"][0]["episodes"]
    assert env.primitive_hook is None  # handed back
    env.close()


def test_the_acoustic_map_records_log_intensity_where_the_agent_heard_it():
    from earshot.agents.waypoint import ACOUSTIC_FLOOR, GRID, AcousticMap

    amap = AcousticMap(0.5)
    loud, quiet = np.full((65, 26, 2), 0.1, np.float32), np.full((65, 26, 2), 0.001, np.float32)
    amap.update(np.array([1.0, 1.0, 0.0]), quiet)
    amap.update(np.array([1.5, 1.0, 0.0]), loud)
    # log compression: a level ratio is the same difference wherever it is heard
    expected = [math.log((m + ACOUSTIC_FLOOR) / ACOUSTIC_FLOOR) / -math.log(ACOUSTIC_FLOOR) for m in (0.001, 0.1)]
    assert amap.values[(2, 2)] == pytest.approx(expected[0]) and amap.values[(3, 2)] == pytest.approx(expected[1])
    assert 0.0 < amap.values[(2, 2)] < amap.values[(3, 2)] <= 1.0
    # the crop is in the agent's frame: standing at (1.0, 1.0) facing +x, the loud point is one step ahead
    crop = amap.crop(np.array([1.0, 1.0, 0.0]), 0.0).reshape(2, GRID, GRID)
    centre = GRID // 2
    assert crop[0, centre, centre] == pytest.approx(expected[0]) and crop[1, centre, centre] == 1.0
    assert crop[0, centre + 1, centre] == pytest.approx(expected[1]) and crop[1, centre + 1, centre] == 1.0
    assert crop[1].sum() == 2  # nothing else was visited
    # facing +y, the same point is one step to the right (waypoint offsets are (forward, left))
    crop = amap.crop(np.array([1.0, 1.0, 0.0]), math.pi / 2).reshape(2, GRID, GRID)
    assert crop[1, centre, centre - 1] == 1.0


def test_the_planner_counts_lattice_hops_and_detours_around_a_bumped_edge():
    from earshot.agents.maps import WINDOW, LatticePlanner, lattice_key, lattice_keys
    from earshot.av_env.oracles import GRID as G
    from earshot.av_env.oracles import waypoint_positions

    spacing = 0.5
    gmap = GeometricMap(np.zeros(3))
    gmap.free[:] = True  # all seen as open floor, nothing occupied
    planner = LatticePlanner(gmap, spacing)
    here = np.array([1.0, -0.5, 0.0])
    s = lattice_key(here, spacing)
    dist, parent = planner.distances(here)
    # on open floor a lattice point is as many hops away as its Manhattan distance, the whole window reachable
    assert len(dist) == (2 * WINDOW + 1) ** 2
    assert all(d == abs(k[0] - s[0]) + abs(k[1] - s[1]) for k, d in dist.items())
    path = planner.path(parent, (s[0] + 3, s[1] - 2))
    assert path[0] == s and len(path) == 6 and all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(path, path[1:]))
    # an edge the agent bumped into (stored either way round) is not used: the neighbour is 3 hops round it
    ahead = (s[0] + 1, s[1])
    for near, other in ((ahead, (s[0], s[1] + 1)), ((s[0], s[1] - 1), (s[0] - 1, s[1]))):
        for bumped in ((s, near), (near, s)):
            planner.blocked = {bumped}
            dist, parent = planner.distances(here)
            assert dist[near] == 3 and dist[other] == 1
            assert planner.path(parent, near)[1] != near
    # an obstacle grown over the point ahead takes it (and only it) out of reach
    planner.blocked = set()
    i, j = gmap.cells(np.array([(s[0] + 2) * spacing, s[1] * spacing]))
    gmap.inflated[i, j] = True
    dist, _ = planner.distances(here)
    assert (s[0] + 2, s[1]) not in dist and dist[(s[0] + 3, s[1])] == 5
    # the vectorised helpers agree exactly with the one-waypoint functions (half-way points round to even)
    for heading in (0.0, 0.3, math.pi / 2, -2.0):
        pts = waypoint_positions(here, heading, spacing)
        assert pts.shape == (G * G, 2)
        assert all(np.array_equal(pts[k], waypoint_position(here, heading, k, spacing)) for k in range(G * G))
    xy = np.array([[1.25, -0.75], [0.75, 0.25], [-1.25, 2.0], [0.2501, -0.2499]])
    assert [tuple(k) for k in lattice_keys(xy, spacing).tolist()] == [lattice_key(p, spacing) for p in xy]

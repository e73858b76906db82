import os
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import trimesh

import earshot.av_env as av_env
from earshot.av_env import metrics
from earshot.av_env.episodes import load_episodes
from earshot.scenes import split_seeds

FAST = dict(scenes=1, episodes_per_scene=4, resolution=32)


def _make(env_id, **kw):
    return gym.make(env_id, **{**FAST, **kw})


@pytest.mark.parametrize("motion", ["grid", "continuous"])
@pytest.mark.parametrize("env_id", list(av_env.ENV_IDS))
def test_env_checkers_pass(env_id, motion):
    from gymnasium.utils.env_checker import check_env

    env = _make(env_id, motion=motion)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)
    sb3 = pytest.importorskip("stable_baselines3.common.env_checker", reason="SB3 is installed with the dev extra")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb3.check_env(env.unwrapped)


def _rollout(env, seed, actions):
    obs, info = env.reset(seed=seed)
    out = [(obs, info)]
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        out.append((obs, r, term, trunc, info))
        if term or trunc:
            break
    return out


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            if isinstance(u, dict):
                assert u.keys() == v.keys()
                for k in u:
                    np.testing.assert_array_equal(np.asarray(u[k]), np.asarray(v[k]))
            else:
                assert u == v


@pytest.mark.parametrize("env_id", ["earshot/AudioGoal-v0", "earshot/MovingSource-v0"])
def test_same_seed_same_rollout_bit_for_bit(env_id):
    actions = [1, 2, 1, 1, 3, 1, 1, 1]
    a = _rollout(_make(env_id), 7, actions)
    b = _rollout(_make(env_id), 7, actions)
    _assert_same(a, b)
    c = _rollout(_make(env_id), 8, actions)
    assert not np.array_equal(c[0][0]["rgb"], a[0][0]["rgb"]) or c[0][1] != a[0][1]


@pytest.mark.parametrize("env_id", list(av_env.ENV_IDS))
def test_vectorized_rollout_equals_single_process(env_id):
    """Every task: two spawned worker processes give, bit for bit, the single-process rollouts."""
    actions = [1, 2, 1, 3, 1, 1]
    single = [_rollout(_make(env_id), s, actions) for s in (3, 4)]
    vec = gym.vector.AsyncVectorEnv([lambda: _make(env_id) for _ in range(2)], context="spawn",
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    try:
        obs, _ = vec.reset(seed=[3, 4])
        for k in range(2):
            for key in obs:
                np.testing.assert_array_equal(obs[key][k], single[k][0][0][key])
        for t, a in enumerate(actions, start=1):
            if any(t >= len(s) for s in single):
                break
            obs, rew, term, trunc, _ = vec.step(np.array([a, a]))
            for k in range(2):
                if single[k][t][2] or single[k][t][3]:
                    continue
                for key in obs:
                    np.testing.assert_array_equal(obs[key][k], single[k][t][0][key])
                assert rew[k] == single[k][t][1]
    finally:
        vec.close()


def _run_oracle(env, index):
    env.reset(options={"episode_index": index})
    u = env.unwrapped
    while True:
        _, _, term, trunc, info = env.step(u.oracle_action())
        if term or trunc:
            return info


@pytest.mark.parametrize("env_id", ["earshot/AudioGoal-v0", "earshot/PointGoal-v0", "earshot/SemanticAudioGoal-v0"])
def test_oracle_scores_perfectly_on_test_split(env_id):
    env = gym.make(env_id, split="test", scenes=2, episodes_per_scene=4, resolution=32)
    infos = [_run_oracle(env, i) for i in range(len(env.unwrapped.episodes))]
    assert np.mean([i["success"] for i in infos]) == 1.0
    assert np.mean([i["spl"] for i in infos]) == pytest.approx(1.0, abs=1e-6)
    assert np.mean([i["sna"] for i in infos]) == pytest.approx(1.0, abs=1e-6)
    assert all(i["distance_to_goal"] <= env.unwrapped.success_distance for i in infos)


def test_random_agent_scores_far_lower():
    env = gym.make("earshot/AudioGoal-v0", split="test", scenes=2, episodes_per_scene=5, resolution=32, max_steps=60)
    rng = np.random.default_rng(0)
    spl = []
    for i in range(len(env.unwrapped.episodes)):
        env.reset(options={"episode_index": i})
        while True:
            _, _, term, trunc, info = env.step(int(rng.integers(4)))
            if term or trunc:
                spl.append(info["spl"])
                break
    assert np.mean(spl) < 0.3


def test_continuous_oracle_reaches_the_goal():
    env = gym.make("earshot/AudioGoal-v0", split="test", scenes=1, episodes_per_scene=3, resolution=32,
                   motion="continuous", max_steps=400)
    infos = [_run_oracle(env, i) for i in range(3)]
    assert all(i["success"] == 1.0 for i in infos)
    assert np.mean([i["spl"] for i in infos]) > 0.7


def test_metrics_by_hand():
    # a 4 m shortest path walked in 5 m, success
    assert metrics.spl(True, 4.0, 5.0) == pytest.approx(0.8)
    assert metrics.spl(False, 4.0, 4.0) == 0.0
    assert metrics.spl(True, 4.0, 3.0) == 1.0  # stopping early within the success radius
    # halfway there, walked 6 m of a 4 m path
    assert metrics.softspl(2.0, 4.0, 4.0, 6.0) == pytest.approx(0.5 * 4 / 6)
    assert metrics.softspl(5.0, 4.0, 4.0, 6.0) == 0.0  # ended farther than it started
    assert metrics.sna(True, 10, 20) == pytest.approx(0.5)
    assert metrics.normalized_distance_to_goal(1.0, 4.0) == pytest.approx(0.25)


def test_rewards_follow_soundspaces():
    env = _make("earshot/AudioGoal-v0")
    env.reset(options={"episode_index": 0})
    u = env.unwrapped
    before = u.distance_to_goal()
    _, r, *_ = env.step(2)  # turning changes nothing but time
    assert r == pytest.approx(-0.01)
    a = u.oracle_action()
    while a != 1:
        env.step(a)
        a = u.oracle_action()
    before = u.distance_to_goal()
    _, r, *_ = env.step(1)
    assert r == pytest.approx(-0.01 + before - u.distance_to_goal())
    while (a := u.oracle_action()) != 0:
        env.step(a)
    _, r, term, _, info = env.step(0)
    assert term and info["success"] == 1.0 and r == pytest.approx(10.0 - 0.01)


@pytest.mark.parametrize("penalty", [0.0, -2.5])
def test_failed_stop_reward_applies_only_to_a_stop_away_from_the_goal(penalty):
    env = _make("earshot/AudioGoal-v0", failed_stop_reward=penalty)
    u = env.unwrapped
    env.reset(options={"episode_index": 0})
    assert u.distance_to_goal() > u.success_distance
    _, r, term, _, info = env.step(0)  # STOP at the start, far from the goal
    assert term and info["success"] == 0.0 and r == pytest.approx(-0.01 + penalty)
    env.reset(options={"episode_index": 0})
    while (a := u.oracle_action()) != 0:
        env.step(a)
    _, r, _, _, info = env.step(0)  # STOP at the goal: the usual +10
    assert info["success"] == 1.0 and r == pytest.approx(10.0 - 0.01)
    env.close()


@pytest.mark.parametrize("motion", ["grid", "continuous"])
def test_revisit_reward_applies_to_a_repeated_pose_only(motion):
    """revisit_reward: a full turn in place ends in the start's pose (penalised on its last turn
    only); a forward step blocked by a wall repeats the pose; the oracle's shortest path never
    repeats one, so it earns exactly what it earns without the option."""
    penalty = -0.3
    env = _make("earshot/AudioGoal-v0", revisit_reward=penalty, motion=motion)
    plain = _make("earshot/AudioGoal-v0", motion=motion)
    u = env.unwrapped
    env.reset(options={"episode_index": 0})
    turns = round(360 / u.turn_angle_deg)
    for i in range(turns):
        before = u.distance_to_goal()
        _, r, *_ = env.step(2)
        repeated = i == turns - 1  # back to the start's heading
        assert r == pytest.approx(-0.01 + before - u.distance_to_goal() + (penalty if repeated else 0.0)), i
    blocked = False
    for _ in range(turns):  # face a wall and walk into it: the blocked step repeats the pose
        for _ in range(200):
            _, r, *_ = env.step(1)
            if u.sim.blocked:
                assert r == pytest.approx(-0.01 + penalty)
                blocked = True
                break
        if blocked:
            break
        env.step(2)
    assert blocked
    rewards = []
    for e in (env, plain):
        e.reset(options={"episode_index": 1})
        total = 0.0
        while (a := e.unwrapped.oracle_action()) != 0:
            total += e.step(a)[1]
        rewards.append(total + e.step(0)[1])
    assert rewards[0] == rewards[1]
    env.close()
    plain.close()


def test_spl_reward_scales_the_success_bonus_by_the_detour():
    """spl_reward: the oracle's success pays the full +10; a success after a detour pays
    10 × geodesic / walked, the walked length summed here from the agent's own positions."""
    env = _make("earshot/AudioGoal-v0", spl_reward=True)
    u = env.unwrapped
    env.reset(options={"episode_index": 0})
    while (a := u.oracle_action()) != 0:
        env.step(a)
    _, r, _, _, info = env.step(0)
    assert info["success"] == 1.0 and r == pytest.approx(10.0 - 0.01)
    env.reset(options={"episode_index": 0})
    geodesic, walked, pos = u.distance_to_goal(), 0.0, u.sim.position.copy()
    for _ in range(4):  # turn until a step forward leads away from the goal, and take it
        env.step(2)
        before = u.distance_to_goal()
        env.step(1)
        walked, pos = walked + float(np.linalg.norm(u.sim.position - pos)), u.sim.position.copy()
        if u.distance_to_goal() > before:
            break
    while (a := u.oracle_action()) != 0:
        env.step(a)
        walked, pos = walked + float(np.linalg.norm(u.sim.position - pos)), u.sim.position.copy()
    assert walked > geodesic + 0.2  # the detour was walked
    _, r, _, _, info = env.step(0)
    assert info["success"] == 1.0 and r == pytest.approx(10.0 * geodesic / walked - 0.01, rel=1e-5)
    env.close()
    # a STOP away from the goal pays no bonus either way
    env = _make("earshot/AudioGoal-v0", spl_reward=True)
    env.reset(options={"episode_index": 0})
    assert env.step(0)[1] == pytest.approx(-0.01)
    env.close()


def test_held_out_scenes_and_sounds_never_in_training():
    train = gym.make("earshot/AudioGoal-v0", split="train", scenes=3, episodes_per_scene=10, resolution=32).unwrapped
    test_seeds = {f"procedural:{s}" for s in split_seeds("test")}
    from earshot.acoustics import sound_names

    unheard = set(sound_names("unheard"))
    for e in train.episodes:
        assert e.scene not in test_seeds
        assert e.sound not in unheard
    test = gym.make("earshot/AudioGoal-v0", split="test", scenes=2, sounds="unheard", episodes_per_scene=5,
                    resolution=32).unwrapped
    assert all(e.sound in unheard and e.scene in test_seeds for e in test.episodes)


def test_episodes_save_and_reload(tmp_path):
    env = _make("earshot/AudioGoal-v0").unwrapped
    path = env.save_episodes(tmp_path / "episodes.json.gz")
    again = gym.make("earshot/AudioGoal-v0", scenes=1, resolution=32, episodes=path).unwrapped
    assert [e.episode_id for e in again.episodes] == [e.episode_id for e in env.episodes]
    obs_a, _ = env.reset(options={"episode_index": 2})
    obs_b, _ = again.reset(options={"episode_index": 2})
    np.testing.assert_array_equal(obs_a["spectrogram"], obs_b["spectrogram"])
    # an episode file that does not match its scene
    episodes = load_episodes(path)
    episodes[0].scene_hash = "0" * 64
    from earshot.av_env import save_episodes

    save_episodes(tmp_path / "bad.json.gz", episodes, split="train", spacing=0.5)
    with pytest.raises(ValueError, match="regenerate the episode file"):
        gym.make("earshot/AudioGoal-v0", scenes=1, resolution=32, episodes=tmp_path / "bad.json.gz")


def test_semantic_sound_stops_and_moving_source_moves():
    env = _make("earshot/SemanticAudioGoal-v0")
    obs, _ = env.reset(options={"episode_index": 0})
    u = env.unwrapped
    assert obs["category"].sum() == 1.0 and obs["spectrogram"].max() > 0
    u.sim.sources[0].until_step = 1  # the sound stops after one step
    obs, *_ = env.step(2)
    assert obs["spectrogram"].max() == 0.0
    env = _make("earshot/MovingSource-v0", p_move=1.0)
    env.reset(options={"episode_index": 0})
    u = env.unwrapped
    assert len(u.sim.sources) == 3  # the goal and two distractors
    start = u.sim.sources[0].node
    for _ in range(3):
        env.step(2)
    assert u.sim.sources[0].node != start


def _distractor_trace(env, steps=60):
    """(on flags, nodes) of the distractors after each of ``steps`` turns (the agent stays on its node)."""
    u = env.unwrapped
    on, nodes = [], []
    for _ in range(steps):
        env.step(2)
        on.append([s.on for s in u.sim.sources[1:]])
        nodes.append([s.node for s in u.sim.sources[1:]])
        assert all(n not in (u.sim.node, u.sim.sources[0].node) for n in nodes[-1])  # never on the agent or the goal
    return np.array(on), np.array(nodes)


def test_moving_source_distractors_transient_by_default_static_on_request():
    env = _make("earshot/MovingSource-v0", max_steps=500)
    env.reset(seed=3, options={"episode_index": 0})
    u = env.unwrapped
    assert u.task_obj.distractor_mode == "transient" and len(u.sim.sources) == 3
    on, nodes = _distractor_trace(env)
    # each sounds in a step with probability 1/2: 120 draws, 0.3-0.7 is beyond 4 standard deviations
    assert 0.3 < on.mean() < 0.7
    assert len({tuple(n) for n in nodes}) > 30  # drawn anew every step
    # the audio is the goal's alone exactly when no distractor sounds, and more when one does
    sim = u.sim
    everyone = sim.sources
    heard = sim.audio()
    sim.sources = everyone[:1]
    goal_only = sim.audio()
    sim.sources = everyone
    if on[-1].any():
        assert np.sum((heard - goal_only) ** 2) > 0
    else:
        np.testing.assert_array_equal(heard, goal_only)
    for src in everyone[1:]:
        src.on = False
    np.testing.assert_array_equal(sim.audio(), goal_only)
    # the same seed draws the same distractors
    again = _make("earshot/MovingSource-v0", max_steps=500)
    again.reset(seed=3, options={"episode_index": 0})
    on2, nodes2 = _distractor_trace(again)
    np.testing.assert_array_equal(on, on2)
    np.testing.assert_array_equal(nodes, nodes2)
    # static: always sounding, from the episode's nodes
    static = _make("earshot/MovingSource-v0", distractor_mode="static", max_steps=500)
    static.reset(seed=3, options={"episode_index": 0})
    episode_nodes = [d[0] for d in static.unwrapped.episode.distractors]
    for _ in range(10):
        static.step(2)
        assert [s.node for s in static.unwrapped.sim.sources[1:]] == episode_nodes
        assert all(s.sounding(static.unwrapped.sim.steps) for s in static.unwrapped.sim.sources[1:])


def test_pose_is_the_displacement_and_turn_from_the_start():
    """``pose``: (0, 0, 1, 0) at the start; after k left turns of 90° and one unblocked grid step
    of s metres, (s cos(k·90°), s sin(k·90°)) / 10 and the turn's cosine and sine."""
    env = _make("earshot/SemanticAudioGoal-v0", sensors=["depth", "spectrogram", "category", "pose"])
    assert env.observation_space["pose"].shape == (4,)
    for k in range(4):
        obs, _ = env.reset(options={"episode_index": 0})
        np.testing.assert_allclose(obs["pose"], [0, 0, 1, 0], atol=1e-6)
        u = env.unwrapped
        start = u.sim.position.copy()
        for _ in range(k):
            obs, *_ = env.step(2)
        turn = np.radians(90 * k)
        np.testing.assert_allclose(obs["pose"], [0, 0, np.cos(turn), np.sin(turn)], atol=1e-6)
        obs, *_ = env.step(1)
        if u.sim.blocked:
            continue
        step = float(np.linalg.norm(u.sim.position[:2] - start[:2]))
        assert step > 0
        np.testing.assert_allclose(obs["pose"], [step * np.cos(turn) / 10, step * np.sin(turn) / 10,
                                                 np.cos(turn), np.sin(turn)], atol=1e-5)
        assert env.observation_space["pose"].contains(obs["pose"])
        break
    else:
        raise AssertionError("every direction from the start was blocked")


def test_goal_vector_follows_the_agent_and_ends_at_zero():
    """``goal_vector`` (DAgger's goal-location label): the sounding goal seen from the agent,
    (ahead, left) / 10 m. Its length is the straight-line distance to the goal's node; a left
    turn of 90° takes (a, l) to (l, −a); an unblocked grid step of s m ahead takes a to a − s;
    it is 0 where the oracle stops. Semantic episodes: the sounding object, not another instance."""
    for env_id in ("earshot/AudioGoal-v0", "earshot/SemanticAudioGoal-v0"):
        env = _make(env_id)
        env.reset(options={"episode_index": 0})
        u = env.unwrapped
        goal = u.sim.graph.positions[u.episode.goal_node]
        v = u.goal_vector()
        assert v.shape == (2,) and v.dtype == np.float32
        np.testing.assert_allclose(10 * np.linalg.norm(v), np.linalg.norm(goal[:2] - u.sim.position[:2]), atol=1e-4)
        env.step(2)  # left
        np.testing.assert_allclose(u.goal_vector(), [v[1], -v[0]], atol=1e-5)
        for _ in range(4):
            before, at = u.goal_vector(), u.sim.position.copy()
            env.step(1)
            if not u.sim.blocked:
                step = float(np.linalg.norm(u.sim.position[:2] - at[:2]))
                np.testing.assert_allclose(u.goal_vector(), [before[0] - step / 10, before[1]], atol=1e-5)
                break
            env.step(2)
        else:
            raise AssertionError("no unblocked step in four directions")
        for _ in range(500):  # the oracle walks to a goal node: the sounding one on AudioGoal
            action = u.oracle_action()
            if action == 0:
                break
            env.step(action)
        if env_id == "earshot/AudioGoal-v0":
            np.testing.assert_allclose(u.goal_vector(), [0, 0], atol=1e-6)
        env.close()


def test_render_frame_and_video(tmp_path):
    env = _make("earshot/AudioGoal-v0", render_mode="rgb_array")
    env.reset(options={"episode_index": 1})
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[1] > 3 * frame.shape[0]
    from earshot.av_env.visualize import record_episode

    info = record_episode(env, lambda e: e.unwrapped.oracle_action(), tmp_path / "oracle.mp4", options={"episode_index": 1})
    assert info["success"] == 1.0
    assert (tmp_path / "oracle.mp4").stat().st_size > 1000 and (tmp_path / "oracle.wav").exists()


def test_sb3_subproc_workers_share_the_rir_cache(tmp_path):
    vec_env = pytest.importorskip("stable_baselines3.common.vec_env", reason="SB3 is installed with the dev extra")
    kw = dict(FAST, rir_cache=str(tmp_path / "rirs"))
    # "av_env:" makes a spawned worker import av_env (which registers the ids) before making the env
    venv = vec_env.SubprocVecEnv([lambda: gym.make("earshot.av_env:earshot/AudioGoal-v0", **kw) for _ in range(2)],
                                 start_method="spawn")
    try:
        venv.seed(5)
        obs = venv.reset()
        for _ in range(3):
            obs, rewards, dones, infos = venv.step(np.array([1, 2]))
    finally:
        venv.close()
    entries = list((tmp_path / "rirs").rglob("*.npz"))
    assert len(entries) > 0  # written by the workers
    # a fresh single process reading that cache sees the same audio as computing it itself
    cached = gym.make("earshot/AudioGoal-v0", **kw)
    plain = _make("earshot/AudioGoal-v0")
    a = _rollout(cached, 11, [1, 2, 1])
    b = _rollout(plain, 11, [1, 2, 1])
    for x, y in zip(a, b):
        np.testing.assert_allclose(x[0]["spectrogram"], y[0]["spectrogram"], atol=1e-4)
    assert obs["spectrogram"].shape == (2, 65, 26, 2)


def test_user_mesh_scene(tmp_path):
    """A user's y-up mesh file works as a scene: episodes, audio, and the oracle succeeds."""
    from earshot.scenes import generate_apartment

    scene = generate_apartment(42)
    v = np.asarray(scene.mesh.vertices)
    y_up = trimesh.Trimesh(np.c_[v[:, 0], v[:, 2], -v[:, 1]], scene.mesh.faces, process=False)
    y_up.export(tmp_path / "home.ply")
    env = gym.make("earshot/AudioGoal-v0", scenes=[str(tmp_path / "home.ply")], mesh_kwargs={"up_axis": "y"},
                   episodes_per_scene=3, resolution=32)
    infos = [_run_oracle(env, i) for i in range(3)]
    assert all(i["success"] == 1.0 and i["spl"] == pytest.approx(1.0) for i in infos)
    obs, _ = env.reset(options={"episode_index": 0})
    assert obs["spectrogram"].max() > 0


def test_user_meshes_assigned_by_split_file(tmp_path):
    import json

    from earshot.scenes import generate_apartment

    for name, seed in (("a", 1), ("b", 2), ("c", 3)):
        generate_apartment(seed).export(tmp_path / f"{name}.glb")
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["a.glb", "b.glb"], "test": ["c.glb"]}))
    test = gym.make("earshot/AudioGoal-v0", split="test", scenes=str(tmp_path / "splits.json"),
                    episodes_per_scene=2, resolution=32).unwrapped
    assert {e.scene for e in test.episodes} == {str((tmp_path / "c.glb").resolve())}
    train = gym.make("earshot/AudioGoal-v0", split="train", scenes=str(tmp_path / "splits.json"),
                     episodes_per_scene=2, resolution=32).unwrapped
    assert {e.scene for e in train.episodes} == {str((tmp_path / n).resolve()) for n in ("a.glb", "b.glb")}
    with pytest.raises(ValueError, match="lists no meshes"):
        gym.make("earshot/AudioGoal-v0", split="val", scenes=str(tmp_path / "splits.json"))
    (tmp_path / "overlap.json").write_text(json.dumps({"train": ["a.glb"], "test": ["a.glb"]}))
    with pytest.raises(ValueError, match="in both"):
        gym.make("earshot/AudioGoal-v0", split="test", scenes=str(tmp_path / "overlap.json"))


@pytest.mark.parametrize("motion", ["grid", "continuous"])
def test_level_at_the_goal_within_12_db_of_one_step_away(motion):
    """Walking the oracle onto a steady source (a fan), the received level on arrival stays within
    12 dB of the level one step earlier: no near-field spike that would deafen the rest of the
    episode (sources have a size: AudioConfig.source_radius)."""
    env = gym.make("earshot/AudioGoal-v0", split="test", scenes=2, sounds=["fan"], audio="waveform", motion=motion,
                   resolution=16, renderer="raycast", episodes_per_scene=3)
    u = env.unwrapped
    for index in range(len(u.episodes)):
        obs, _ = env.reset(options={"episode_index": index})
        levels, positions = [], []
        while True:
            obs, _, terminated, truncated, info = env.step(u.oracle_action())
            if terminated or truncated:
                break
            levels.append(10 * np.log10(np.mean(obs["audiogoal"] ** 2)))
            positions.append(u.sim.position.copy())
        assert info["success"] == 1.0
        # the last step that moved, against the step before it
        moved = [k for k in range(1, len(positions)) if np.linalg.norm(positions[k] - positions[k - 1]) > 1e-6]
        last = moved[-1]
        assert abs(levels[last] - levels[last - 1]) <= 12.0, (index, levels[-6:])
        assert max(levels) - np.median(levels) < 20.0  # nothing dwarfs the rest of the episode
    env.close()


def _oracle_successes(motion, scenes, per_scene):
    env = gym.make("earshot/PointGoal-v0", split="test", scenes=scenes, motion=motion, resolution=8, renderer="raycast",
                   episodes_per_scene=per_scene)
    u = env.unwrapped
    out = []
    for index in range(len(u.episodes)):
        env.reset(options={"episode_index": index})
        while True:
            _, _, terminated, truncated, info = env.step(u.oracle_action())
            if terminated or truncated:
                break
        out.append((info["success"], info["collisions"]))
    env.close()
    return np.array(out)


def _check_continuous_oracle(scenes, per_scene):
    grid = _oracle_successes("grid", scenes, per_scene)
    cont = _oracle_successes("continuous", scenes, per_scene)
    solved = grid[:, 0] == 1.0
    assert solved.mean() == 1.0
    failed = np.flatnonzero(solved & (cont[:, 0] < 1.0))
    assert len(failed) == 0, f"continuous oracle failed episodes {failed.tolist()} that the grid oracle solves"
    assert cont[:, 1].sum() == 0  # it never walks into a wall


def test_continuous_oracle_solves_what_the_grid_oracle_solves():
    _check_continuous_oracle(scenes=6, per_scene=4)


@pytest.mark.slow
def test_continuous_oracle_solves_every_test_episode_the_grid_oracle_solves():
    _check_continuous_oracle(scenes=100, per_scene=3)


def test_episode_iteration_groups_scenes_and_is_seeded():
    env = gym.make("earshot/PointGoal-v0", scenes=4, episodes_per_scene=6, episodes_per_visit=3, resolution=8,
                   renderer="raycast")
    u = env.unwrapped

    def scenes_of(seed, n=24):
        env.reset(seed=seed)
        out = [u.episode.episode_id]
        for _ in range(n - 1):
            env.reset()
            out.append(u.episode.episode_id)
        return out

    a, b, c = scenes_of(3), scenes_of(3), scenes_of(4)
    assert a == b and a != c  # the seed fixes the sequence
    visits = [e.split("#")[0] for e in a]
    runs = [visits[i:i + 3] for i in range(0, 24, 3)]
    assert all(len(set(r)) == 1 for r in runs)  # 3 episodes of one scene per visit
    assert len(set(a)) == 24  # one pass covers every episode once
    env.close()


def test_scene_shards_are_disjoint_and_cover_the_scenes():
    ids = []
    for k in range(3):
        env = gym.make("earshot/PointGoal-v0", scenes=7, episodes_per_scene=1, scene_shard=(k, 3), resolution=8).unwrapped
        ids.append(set(env.scene_refs))
        env.close()
    assert sum(len(s) for s in ids) == 7 and len(set().union(*ids)) == 7


def test_sensors_skip_the_work_they_should(monkeypatch):
    from earshot.av_env import simulator

    calls = {"rgbd": 0, "audio": 0}
    for name in calls:
        original = getattr(simulator.Simulator, name)

        def counted(self, _name=name, _original=original):
            calls[_name] += 1
            return _original(self)

        monkeypatch.setattr(simulator.Simulator, name, counted)
    env = gym.make("earshot/AudioGoal-v0", sensors=["spectrogram"], **FAST)
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"spectrogram"} and set(env.observation_space.spaces) == {"spectrogram"}
    for _ in range(3):
        env.step(2)
    assert calls == {"rgbd": 0, "audio": 4}
    assert env.unwrapped.sim.ctx.renderer is None  # no renderer was even made
    env.close()
    calls.update(rgbd=0, audio=0)
    env = gym.make("earshot/AudioGoal-v0", sensors=["depth"], **FAST)
    obs, _ = env.reset(seed=0)
    env.step(2)
    assert set(obs) == {"depth"} and calls == {"rgbd": 2, "audio": 0}
    env.close()


@pytest.mark.parametrize("sound, computed", [("beeping", 5), ("telephone", 9)])
def test_revisits_reuse_the_spectrogram_only_when_the_signal_is_the_same(monkeypatch, sound, computed):
    """Turning in place 8 times revisits every heading. With a 1 s sound (one step) the second
    round hears exactly what the first heard, so 4 spectrograms are reused; with a 6 s sound
    the loop is elsewhere each time and nothing may be reused. Every observation must equal
    the spectrogram of the audio heard at that step."""
    from earshot.acoustics import spectrogram
    from earshot.av_env import simulator

    calls = []
    original = simulator.Simulator.audio
    monkeypatch.setattr(simulator.Simulator, "audio", lambda self: calls.append(1) or original(self))
    env = gym.make("earshot/AudioGoal-v0", sounds=[sound], sensors=["spectrogram"], **FAST)
    u = env.unwrapped
    obs, _ = env.reset(seed=0)
    observed = [obs["spectrogram"]]
    for _ in range(8):
        obs, *_ = env.step(2)  # turn left, in place
        observed.append(obs["spectrogram"])
        fresh = np.asarray(spectrogram(original(u.sim), u.cfg, backend="numpy"), np.float32)
        np.testing.assert_array_equal(obs["spectrogram"], np.minimum(fresh / np.float32(u.observer.spectrogram_scale), 1))
    assert len(calls) == computed
    assert not np.array_equal(observed[1], observed[2])  # another heading, another signal
    env.close()


def test_observation_bounds_are_honest():
    env = gym.make("earshot/AudioGoal-v0", split="test", sounds=["alarm", "telephone"], **{**FAST, "scenes": 2})
    u = env.unwrapped
    space = env.observation_space["spectrogram"]
    assert space.low.min() == 0.0 and space.high.max() == 1.0
    peak = 0.0
    for index in range(len(u.episodes)):
        obs, _ = env.reset(options={"episode_index": index})
        while True:
            assert env.observation_space.contains(obs)
            peak = max(peak, float(obs["spectrogram"].max()))
            obs, _, terminated, truncated, _ = env.step(u.oracle_action())
            if terminated or truncated:
                break
    assert 0.2 < peak <= 1.0  # a stated scale that real observations use, not a tiny corner of it
    env.close()


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads RSS from /proc (Linux)")
@pytest.mark.parametrize("renderer", ["raycast", "gl"])
def test_rss_stays_flat_over_many_resets_across_scenes(renderer, monkeypatch):
    """12 scenes cycled through a 3-scene LRU (renderers closed on eviction), one episode per
    visit, random actions: once the (here small) budgets have filled, resident memory stays flat."""
    if renderer == "gl":
        from tests.conftest import gl_or_skip

        gl_or_skip()
    import dataclasses

    from earshot.av_env import simulator
    from earshot.scenes.lru import BUDGETS

    # the budgets are frozen: the simulator is given smaller ones
    monkeypatch.setattr(simulator, "BUDGETS", dataclasses.replace(BUDGETS, step_spectra=48, source_segments=32,
                                                                  rendered_rirs=16))
    env = gym.make("earshot/AudioGoal-v0", scenes=12, episodes_per_scene=3, episodes_per_visit=1, scene_memory=3,
                   renderer=renderer, resolution=64)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    samples = []
    for episode in range(240):
        for _ in range(6):
            _, _, terminated, truncated, _ = env.step(int(rng.integers(1, 4)))
            if terminated or truncated:
                break
        env.reset()
        if episode % 40 == 39:
            samples.append(_rss_mb())
    env.close()
    growth = samples[-1] - samples[1]  # after 80 resets the shared banks and budgets have filled
    assert growth < 25.0, samples


def test_sound_variants_are_drawn_per_episode_from_the_heard_sounds_only():
    from earshot.acoustics import sound_names
    from earshot.agents.evaluation import eval_env

    heard = set(sound_names("heard"))
    env = gym.make("earshot/AudioGoal-v0", scenes=2, episodes_per_scene=30, sound_variants=50, resolution=32).unwrapped
    sounds = [e.sound for e in env.episodes]
    bases = {s.split("~")[0] for s in sounds}
    variants = [s for s in sounds if "~" in s]
    assert bases <= heard and len(set(variants)) > 15 and 0.3 < len(variants) / len(sounds) < 0.7  # half are variants
    env.reset(seed=0)
    assert env.sim.sources[0].sound == env.episode.sound
    np.testing.assert_array_equal(env.sim.sources[0].audio, av_env.simulator.make_sound(env.episode.sound, 16_000))
    # an evaluation of a checkpoint trained with variants plays the sounds it asks for, never variants
    ev = eval_env("earshot/AudioGoal-v0", "val", 4, {"sound_variants": 50, "resolution": 32}, sounds="unheard").unwrapped
    assert {e.sound for e in ev.episodes} <= set(sound_names("unheard"))
    with pytest.raises(ValueError, match="sound_variants"):
        gym.make("earshot/AudioGoal-v0", scenes=1, sound_variants=-1)
    with pytest.raises(ValueError, match="unknown names"):
        gym.make("earshot/AudioGoal-v0", scenes=1, sounds=["alarm~x"])


def test_visits_sensor_counts_the_steps_that_ended_where_the_agent_stands():
    """``visits`` (opt-in): 0 at the start; each turn in place adds one step ended here
    (log(1 + n) / log(65)); a step to a new place reads 0 again; walking back reads the steps
    that ended there before; a blocked step counts like a turn; a reset starts afresh."""
    from earshot.av_env.observations import VISITS_CAP

    def value(n):
        return min(np.log1p(n) / np.log1p(VISITS_CAP), 1.0)

    env = _make("earshot/AudioGoal-v0", sensors=["spectrogram", "visits"]).unwrapped
    assert "visits" not in _make("earshot/AudioGoal-v0").observation_space.spaces  # opt-in only
    obs, _ = env.reset(seed=0)
    assert obs["visits"][0] == 0.0
    for n in range(1, 4):  # turning in place
        obs, *_ = env.step(2)
        assert obs["visits"][0] == pytest.approx(value(n)) and env.observation_space.contains(obs)
    start, n = env.sim.node, 3
    for _ in range(4):  # find a direction that moves
        obs, *_ = env.step(1)
        if env.sim.node != start:
            break
        n += 1
        assert obs["visits"][0] == pytest.approx(value(n))  # blocked: still here, one more step ended here
        obs, *_ = env.step(2)
        n += 1
    assert env.sim.node != start and obs["visits"][0] == 0.0  # a new place
    assert env.sim.visits[start] == n + 1
    env.step(2), env.step(2)  # about turn (90 degree turns), and back
    obs, *_ = env.step(1)
    assert env.sim.node == start and obs["visits"][0] == pytest.approx(value(n + 1))
    for _ in range(100):
        obs, *_ = env.step(3)
    assert obs["visits"][0] == 1.0  # capped
    obs, _ = env.reset(seed=1)
    assert obs["visits"][0] == 0.0


def test_last_action_sensor_reports_the_action_and_each_blocked_step():
    env = _make("earshot/AudioGoal-v0", sensors=["depth", "spectrogram", "last_action"]).unwrapped
    assert "last_action" not in _make("earshot/AudioGoal-v0").observation_space.spaces  # opt-in only
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs["last_action"], [0, 0, 0, 0, 1, 0])  # nothing done yet
    rng = np.random.default_rng(0)
    blocked = 0
    for _ in range(60):
        action = int(rng.choice([1, 1, 1, 2, 3]))
        collisions = env.sim.collisions
        obs, *_ = env.step(action)
        assert env.observation_space.contains(obs)
        assert obs["last_action"][:5].argmax() == action and obs["last_action"][:5].sum() == 1
        hit = env.sim.collisions > collisions  # the simulator counted a collision: the flag says so
        assert obs["last_action"][5] == float(hit)
        blocked += hit
    assert 0 < blocked < 60


def test_semantic_sensor_labels_lie_on_objects_of_their_category():
    """Every pixel the ``semantic`` sensor labels, put back in the world by its depth, lies on the
    bounding box of an object of that category (the scene's own semantics, not the labels'
    source); the sensor is opt-in and uint8 like rgb."""
    from earshot.scenes import CATEGORIES
    from earshot.scenes.render.camera import MAX_DEPTH

    assert "semantic" not in _make("earshot/SemanticAudioGoal-v0").observation_space.spaces
    # the ray caster's depth: the labels are cast by Embree whatever the renderer, so a GL frame's
    # depth may disagree with them at an object's silhouette by a pixel
    env = _make("earshot/SemanticAudioGoal-v0", sensors=["depth", "semantic", "category"], resolution=48,
                renderer="raycast")
    space = env.observation_space["semantic"]
    assert space.shape == (48, 48, 1) and space.dtype == np.uint8
    obs, _ = env.reset(seed=3)
    sim = env.unwrapped.sim
    camera = sim.ctx.renderer.camera
    rng = np.random.default_rng(0)
    checked, seen = 0, set()
    for _ in range(40):
        labels, depth = obs["semantic"][..., 0], obs["depth"][..., 0] * MAX_DEPTH
        assert space.contains(obs["semantic"]) and labels.max() <= len(CATEGORIES)
        pick = (labels > 0) & (depth < MAX_DEPTH * 0.999)
        rays = camera.ray_directions.reshape(48, 48, 3)[pick] * depth[pick][:, None]
        points = camera.eye(sim.position, sim.ctx.scene.floor_height) + rays @ camera.rotation(sim.heading).T
        for point, label in zip(points, labels[pick]):
            boxes = [o for o in sim.ctx.scene.objects if o.category == CATEGORIES[label - 1]]
            gap = min(np.max(np.r_[o.bbox_min - point, point - o.bbox_max, 0.0]) for o in boxes)
            assert gap < 0.02, (CATEGORIES[label - 1], point)
        checked += len(points)
        seen |= set(labels[pick].tolist())
        obs, _, term, trunc, _ = env.step(int(rng.integers(1, 4)))  # moves and turns
        if term or trunc:
            obs, _ = env.reset()
    assert checked > 500 and len(seen) >= 3

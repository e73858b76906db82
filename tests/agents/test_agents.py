"""Agents as a researcher uses them: train from the script with tiny budgets, resume, evaluate
a checkpoint and the baselines on the same held-out episodes, and refuse unsafe checkpoints."""

import json
import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

import earshot.av_env  # noqa: E402,F401
from earshot.agents.evaluation import METRICS, EvalConfig, evaluate  # noqa: E402
from earshot.agents.extractor import AVNavExtractor  # noqa: E402
from earshot.agents.training import TrainConfig, train  # noqa: E402
from earshot.cli import parse_config  # noqa: E402

SENSORS = {"earshot/AudioGoal-v0": ["depth", "spectrogram"], "earshot/PointGoal-v0": ["depth", "pointgoal_with_gps_compass"]}


def _train(run: Path, agent: str, steps: int, task: str = "earshot/AudioGoal-v0", n_envs: int = 1):
    cfg = parse_config(TrainConfig, "", [
        "--task", task, "--agent", agent, "--total-steps", str(steps), "--n-envs", str(n_envs), "--scenes", "2",
        "--n-steps", str(64 // n_envs), "--eval-every", "128", "--eval-episodes", "2", "--checkpoint-every", "128",
        "--run-dir", str(run), "--env-kwargs", json.dumps({"resolution": 64, "sensors": SENSORS[task]}), "--no-progress", "--hidden", "32", "--gru-hidden", "32"])
    return train(cfg)["checkpoint"]


def _evaluate(out: Path, *args):
    cfg = parse_config(EvalConfig, "", ["--episodes", "2", "--out", str(out), *args])
    return evaluate(cfg)


@pytest.mark.parametrize("agent", ["ppo", "recurrent-ppo"])
def test_train_resume_and_evaluate(tmp_path, agent):
    run = tmp_path / "run"
    # two envs in the rank (the GRU's minibatch holds both sequences) or one
    latest = _train(run, agent, 128, n_envs=2 if agent == "recurrent-ppo" else 1)
    meta = json.loads((latest / "meta.json").read_text())
    assert meta["steps"] == 128 and meta["agent"] == agent and meta["world_size"] == 1
    assert meta["policy"] == {"hidden": 32, "gru_hidden": 32 if agent == "recurrent-ppo" else 0}
    assert (run / "config.json").is_file() and (run / "checkpoints" / "step_0000000128").is_dir()
    events = list((run / "tb").rglob("events.out.tfevents.*"))
    assert events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"eval/success", "eval/spl", "eval/premature_stops", "eval/step_limit"} <= tags and any(t.startswith("train/") for t in tags)
    # rerunning with a larger budget resumes: the step counter continues from 128
    _train(run, agent, 256, n_envs=2 if agent == "recurrent-ppo" else 1)
    assert json.loads((latest / "meta.json").read_text())["steps"] == 256
    assert (run / "checkpoints" / "step_0000000256").is_dir()
    # checkpoints/best holds the policy of the best val SPL so far
    rows = [line.split(",") for line in (run / "eval.csv").read_text().splitlines()[1:]]
    best = json.loads((run / "checkpoints" / "best" / "meta.json").read_text())["val"]
    assert len(rows) >= 2 and best["spl"] == pytest.approx(max(float(r[2]) for r in rows), abs=1e-4)
    assert best["steps"] in [int(r[0]) for r in rows if float(r[2]) == pytest.approx(best["spl"], abs=1e-4)]
    with pytest.raises(ValueError, match="was trained with --agent"):  # resuming needs the same options
        _train(run, "ppo" if agent == "recurrent-ppo" else "recurrent-ppo", 512, n_envs=2)
    # the checkpoint loads (weights only) and runs on held-out test episodes
    results = _evaluate(tmp_path / "eval", "--checkpoint", str(latest), "--task", "earshot/AudioGoal-v0", "--videos", "1")
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    for k in METRICS:
        assert set(summary[k]) == {"mean", "ci95"} and np.isfinite(summary[k]["mean"])
    assert summary["episodes"] == 2 and len(results) == 1
    rows = (tmp_path / "eval" / "episodes.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("episode,scene,geodesic_distance,start_room,success,spl")
    assert list((tmp_path / "eval" / "videos").glob("*.mp4"))


def test_oracle_scores_one_and_random_scores_low_on_the_same_episodes(tmp_path):
    results = _evaluate(tmp_path / "o", "--baseline", "oracle", "--task", "earshot/AudioGoal-v0", "--compare",
                        "--episodes", "8")
    oracle, random = results["oracle"], results["random"]
    assert oracle["success"]["mean"] == 1.0 and oracle["spl"]["mean"] == pytest.approx(1.0)
    assert random["spl"]["mean"] < 0.3
    # the same episodes: both CSVs list the same episode indices
    a = [r.split(",")[0] for r in (tmp_path / "o" / "episodes.csv").read_text().splitlines()[1:]]
    b = [r.split(",")[0] for r in (tmp_path / "o" / "baselines" / "random" / "episodes.csv").read_text().splitlines()[1:]]
    assert a == b and len(a) == 8


def test_evaluate_on_user_meshes(tmp_path, capsys):
    """--meshes runs the episodes on the user's mesh files (a y-up apartment and an L-shaped room),
    spread over them: the oracle walks every shortest path (SPL 1), the episodes' scenes are the
    meshes, the summary records them, and a missing file is one clear error."""
    import trimesh

    from earshot.acoustics.reference import L_OUTLINE
    from earshot.scenes import generate_apartment, polygon_room_mesh

    mesh = generate_apartment(7).mesh
    v = np.asarray(mesh.vertices)
    home = tmp_path / "home.ply"
    trimesh.Trimesh(np.c_[v[:, 0], v[:, 2], -v[:, 1]], mesh.faces, process=False).export(home)
    l_room = tmp_path / "l.ply"
    polygon_room_mesh(L_OUTLINE, 2.8).export(l_room)
    mesh.export(tmp_path / "home_z.glb")  # z-up, as the L-shaped room
    home_z = tmp_path / "home_z.glb"
    results = _evaluate(tmp_path / "both", "--baseline", "oracle", "--meshes", str(home_z), str(l_room), "--episodes", "4")
    scenes = [r.split(",")[1] for r in (tmp_path / "both" / "episodes.csv").read_text().splitlines()[1:]]
    assert sorted(set(scenes)) == sorted({str((tmp_path / "home_z.glb").resolve()), str(l_room.resolve())})
    assert len(scenes) == 4 and results["oracle"]["spl"]["mean"] == pytest.approx(1.0)
    results = _evaluate(tmp_path / "o", "--baseline", "oracle", "--meshes", str(home), "--up-axis", "y",
                        "--episodes", "6", "--compare")
    assert results["oracle"]["spl"]["mean"] == pytest.approx(1.0) and results["random"]["spl"]["mean"] < 0.5
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["meshes"] == [str(home)] and summary["up_axis"] == "y"
    scenes = {r.split(",")[1] for r in (tmp_path / "o" / "episodes.csv").read_text().splitlines()[1:]}
    assert scenes == {str(home.resolve())}, scenes
    results = _evaluate(tmp_path / "l", "--baseline", "oracle", "--meshes", str(l_room), "--episodes", "4")
    assert results["oracle"]["success"]["mean"] == 1.0
    assert "on 1 mesh (l.ply)" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="missing.glb"):
        _evaluate(tmp_path / "m", "--baseline", "oracle", "--meshes", str(tmp_path / "missing.glb"), "--episodes", "2")


def test_extra_split_and_first_scene_evaluate_other_unseen_apartments(tmp_path):
    """--split extra --first-scene K runs the episodes on the extra split's apartments from its
    K-th on (seeds no train, val or test apartment has), one per scene, and the oracle scores SPL 1
    there; --first-scene 0 is the split's first apartments, as without it; a K past the split's
    end is one clear error."""
    import csv

    from earshot.scenes import split_of, split_seeds

    extra = split_seeds("extra")
    assert len(extra) >= 100_000 and all(split_of(s) == "extra" for s in (extra[0], extra[-1]))
    results = _evaluate(tmp_path / "k", "--baseline", "oracle", "--split", "extra", "--first-scene", "250", "--episodes", "3")
    rows = list(csv.DictReader((tmp_path / "k" / "episodes.csv").open()))
    assert [r["scene"] for r in rows] == [f"procedural:{extra[250 + i]}" for i in range(3)]
    assert results["oracle"]["success"]["mean"] == 1.0 and results["oracle"]["spl"]["mean"] == pytest.approx(1.0)
    assert results["oracle"]["first_scene"] == 250 and results["oracle"]["split"] == "extra"
    _evaluate(tmp_path / "z", "--baseline", "oracle", "--split", "extra", "--first-scene", "0")
    first = list(csv.DictReader((tmp_path / "z" / "episodes.csv").open()))
    assert [r["scene"] for r in first] == [f"procedural:{extra[0]}", f"procedural:{extra[1]}"]
    with pytest.raises(ValueError, match="first_scene 100 is past the last of the 100 apartments of split 'val'"):
        _evaluate(tmp_path / "v", "--baseline", "oracle", "--split", "val", "--first-scene", "100")


def test_an_evaluation_uses_its_own_split_not_the_training_episode_file(tmp_path):
    """A checkpoint trained on an episode file (train split) with its own episodes per scene is
    evaluated on the evaluation's split: those training settings are dropped, as sound variants are."""
    import gymnasium as gym

    from earshot.agents.evaluation import eval_env
    from earshot.scenes import split_of
    from earshot.scenes.refs import procedural_seed

    train = gym.make("earshot/AudioGoal-v0", scenes=1, episodes_per_scene=3, resolution=32).unwrapped
    path = train.save_episodes(tmp_path / "train.json.gz")
    train.close()
    kwargs = {"episodes": str(path), "episodes_per_scene": 3, "episodes_per_visit": 2, "resolution": 32}
    env = eval_env("earshot/AudioGoal-v0", "val", 4, kwargs, episodes_per_scene=2)
    try:
        episodes = list(env.unwrapped.episodes)
        assert len(episodes) >= 4 and all(split_of(procedural_seed(e.scene)) == "val" for e in episodes)
        assert len({e.scene for e in episodes}) == 2  # 4 episodes, 2 per scene
    finally:
        env.close()


def test_start_in_another_room_keeps_only_episodes_whose_start_and_goal_rooms_differ(tmp_path):
    """--start other-room / goal-room run only episodes whose start lies in another room than the
    goal / in the goal's room (checked here on the rooms' rectangles), the oracle still scores 1,
    and episodes.csv says each episode's start room."""
    import csv

    from earshot.agents.evaluation import episode_order, eval_env

    env = eval_env("earshot/AudioGoal-v0", "val", 6)
    try:
        source = env.unwrapped.source
        rooms = {}
        for start in ("other-room", "goal-room"):
            for index in episode_order(env, 6, start):
                e = source.episodes[index]
                ctx = source.context(e.scene)
                a, b = (ctx.scene.room_at(ctx.graph.positions[n]) for n in (e.start_node, e.goal_node))
                if a >= 0 and b >= 0:  # neither in a doorway: the rectangles decide
                    assert (a != b) == (start == "other-room"), (start, index, a, b)
                rooms.setdefault(start, []).append(e.geodesic_distance)
        assert np.mean(rooms["other-room"]) > np.mean(rooms["goal-room"])  # other rooms lie farther
        with pytest.raises(ValueError, match="fewer than the 1000 asked for"):
            episode_order(env, 1000, "other-room")
        with pytest.raises(ValueError, match="unknown start 'hall'"):
            episode_order(env, 2, "hall")
    finally:
        env.close()
    results = _evaluate(tmp_path / "far", "--baseline", "oracle", "--split", "val", "--start", "other-room",
                        "--episodes", "4")
    assert results["oracle"]["spl"]["mean"] == pytest.approx(1.0)
    rows = list(csv.DictReader((tmp_path / "far" / "episodes.csv").open()))
    assert [r["start_room"] for r in rows] == ["other"] * 4
    assert json.loads((tmp_path / "far" / "summary.json").read_text())["start"] == "other-room"


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


@pytest.fixture(scope="module")
def pointgoal_run(tmp_path_factory) -> Path:
    """A PointGoal run folder of 64 steps (ppo), with its latest and best checkpoints."""
    run = tmp_path_factory.mktemp("pointgoal") / "run"
    _train(run, "ppo", 64, task="earshot/PointGoal-v0")
    return run


def test_evaluate_infers_the_task_from_a_checkpoint(pointgoal_run, tmp_path, capsys):
    """No --task: the run folder, checkpoints/best or the weights file brings its task, agent
    kind and env settings, and evaluate says what it used."""
    env_kwargs = json.dumps({"resolution": 64, "sensors": SENSORS["earshot/PointGoal-v0"]}, sort_keys=True)
    for given in (pointgoal_run, pointgoal_run / "checkpoints" / "best", pointgoal_run / "checkpoints" / "latest" / "policy.pt"):
        capsys.readouterr()
        _evaluate(tmp_path / "inferred", "--checkpoint", str(given), "--no-progress")
        assert json.loads((tmp_path / "inferred" / "summary.json").read_text())["task"] == "earshot/PointGoal-v0"
        said = capsys.readouterr().out
        assert (f"checkpoint {given}: task earshot/PointGoal-v0 (the checkpoint's), agent ppo, env settings {env_kwargs}"
                in said), said
    with pytest.raises(ValueError, match="trained on earshot/PointGoal-v0, not earshot/AudioGoal-v0"):
        _evaluate(tmp_path / "wrong", "--checkpoint", str(pointgoal_run), "--task", "earshot/AudioGoal-v0")


def test_evaluating_a_checkpoint_gives_the_torch_thread_count_back(pointgoal_run, tmp_path):
    """The policy runs on one thread while it is evaluated; the caller's count comes back after,
    so what runs next in the process (a test in the same worker) keeps its own."""
    import torch

    from earshot.jobs import torch_threads

    with torch_threads(2):
        _evaluate(tmp_path / "threads", "--checkpoint", str(pointgoal_run), "--no-progress")
        assert torch.get_num_threads() == 2


def test_best_checkpoint_follows_val_spl(pointgoal_run, tmp_path, monkeypatch, capsys):
    """checkpoints/best is rewritten exactly when a val evaluation's SPL beats every earlier one
    (SPL 0.2, 0.5, 0.3, 0.5 at steps 100..400: best from step 200), a console line per val
    evaluation says so, and eval.csv and TensorBoard's eval/spl get every evaluation."""
    import shutil

    from earshot.agents import callbacks, checkpoints
    from earshot.agents.ddppo.distributed import World
    from earshot.agents.ddppo.trainer import DDPPOTrainer

    run = tmp_path / "run"
    shutil.copytree(pointgoal_run, run)
    shutil.rmtree(run / "checkpoints" / "best")
    latest = checkpoints.read_meta(run / "checkpoints" / "latest")
    config = parse_config(TrainConfig, "", ["--run-dir", str(run), "--no-progress",
                                            *[a for k, v in json.loads((run / "config.json").read_text()).items()
                                              if k in ("task", "agent", "hidden", "gru_hidden")
                                              for a in (f"--{k.replace('_', '-')}", str(v))],
                                            "--env-kwargs", json.dumps(latest["env_kwargs"])])
    trainer = DDPPOTrainer(config, world=World())
    trainer.meta = {k: latest[k] for k in ("actions", "observation", "policy") if k in latest}
    trainer.simulator = latest["simulator"]
    env = gym.make(config.task, scenes=1, **latest["env_kwargs"])
    from earshot.agents.checkpoints import load_policy

    policy, _ = load_policy(run / "checkpoints" / "latest", env.observation_space, env.action_space)
    env.close()
    spls = iter([0.2, 0.5, 0.3, 0.5])

    def fake_eval(cfg, pol, split="val"):
        spl = next(spls)
        return {**{k: {"mean": spl, "ci95": 0.0} for k in METRICS}, "episodes": 2,
                **{k: {"count": 0, "share": 0.0} for k in ("premature_stops", "step_limit")}}

    monkeypatch.setattr(callbacks, "evaluate_on", fake_eval)
    (run / "eval.csv").unlink(missing_ok=True)
    capsys.readouterr()
    best_steps = []
    for k, steps in enumerate((100, 200, 300, 400)):
        trainer._evaluate(policy, steps, k + 1)
        best_steps.append(checkpoints.read_meta(run / "checkpoints" / "best")["val"]["steps"])
    trainer.writer.close()
    assert best_steps == [100, 200, 200, 200]
    best = checkpoints.read_meta(run / "checkpoints" / "best")
    assert best["val"]["spl"] == pytest.approx(0.5) and best["steps"] == 200 and best["task"] == config.task
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("val at")]
    assert len(lines) == 4 and [("the best so far" in line) for line in lines] == [True, True, False, False]
    assert lines[1].startswith("val at 200 steps: success 0.50, SPL 0.500 (2 episodes)")
    rows = (run / "eval.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["100", "200", "300", "400"]


def test_checkpoints_never_unpickle(pointgoal_run, tmp_path, capsys):
    import shutil

    shutil.copytree(pointgoal_run, tmp_path / "run")  # this test damages its checkpoint
    latest = tmp_path / "run" / "checkpoints" / "latest"
    # the checkpoint records the simulator it was trained in; evaluating under another one says what differs
    meta = json.loads((latest / "meta.json").read_text())
    assert meta["simulator"]["audio"]["sample_rate"] == 16000 and meta["simulator"]["earshot"]
    assert "warning" not in capsys.readouterr().out
    meta["simulator"]["audio"]["rays"] = 12345
    (latest / "meta.json").write_text(json.dumps(meta))
    _evaluate(tmp_path / "inferred", "--checkpoint", str(latest), "--no-progress")
    assert "warning: audio.rays: trained with 12345" in capsys.readouterr().out
    torch.save({"weights": _Evil()}, latest / "policy.pt")  # an object, not tensors
    with pytest.raises(ValueError, match="could not be read as weights"):
        _evaluate(tmp_path / "e", "--checkpoint", str(latest), "--task", "earshot/PointGoal-v0")
    (latest / "meta.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        _evaluate(tmp_path / "e", "--checkpoint", str(latest), "--task", "earshot/PointGoal-v0")
    with pytest.raises(FileNotFoundError, match="not an earshot checkpoint"):
        _evaluate(tmp_path / "e", "--checkpoint", str(tmp_path), "--task", "earshot/PointGoal-v0")
    assert pickle  # (the module is used by torch.save above)


def test_extractor_encodes_every_task_observation():
    from earshot.agents.ddppo.policy import policy_space, preprocess

    for env_id in earshot.av_env.ENV_IDS:
        env = gym.make(env_id, scenes=1, episodes_per_scene=2, resolution=64)
        space = policy_space(env.observation_space)
        extractor = AVNavExtractor(space, hidden=16, vector_hidden=8)
        obs, _ = env.reset(seed=0)
        batch = {k: torch.as_tensor(np.asarray(v)[None]) for k, v in obs.items()}
        features = extractor(preprocess(env.observation_space, batch))
        assert features.shape == (1, extractor.features_dim) and torch.isfinite(features).all()
        env.close()
    with pytest.raises(ValueError, match="too small"):
        AVNavExtractor(gym.spaces.Dict({"depth": gym.spaces.Box(0, 1, (16, 16, 1), np.float32)}))


def test_bad_options_are_one_clear_error():
    with pytest.raises(SystemExit):
        parse_config(TrainConfig, "", ["--env-kwargs", "[1]"])
    with pytest.raises(SystemExit):
        parse_config(EvalConfig, "", [])  # neither --checkpoint nor --baseline
    with pytest.raises(ValueError, match="unknown agent"):
        from earshot.agents.kinds import agent_kind

        agent_kind("dqn")
    with pytest.raises(SystemExit):  # a GRU's minibatches are whole env sequences
        parse_config(TrainConfig, "", ["--agent", "recurrent-ppo", "--n-envs", "1", "--minibatches", "2"])


def _policy(env, gru_hidden: int = 0, hidden: int = 16):
    from earshot.agents.ddppo.policy import ActorCritic

    torch.manual_seed(0)
    return ActorCritic(env.observation_space, int(env.action_space.n), hidden, gru_hidden)


def _first_probs(policy, obs) -> np.ndarray:
    batch = {k: torch.as_tensor(np.asarray(v)[None]) for k, v in obs.items()}
    dist, _ = policy.sequence({k: v[None] for k, v in batch.items()}, torch.ones(1, 1, dtype=torch.bool),
                              policy.initial_state(1))
    return dist.probs.detach().numpy()[0, 0]


@pytest.mark.parametrize("gru", [0, 16])
def test_stop_prior_sets_the_first_policy(gru):
    env = gym.make("earshot/AudioGoal-v0", scenes=1, episodes_per_scene=2, resolution=64,
                   sensors=["depth", "spectrogram"])
    policy = _policy(env, gru)
    policy.set_stop_prior(0.02)
    probs = _first_probs(policy, env.reset(seed=0)[0])
    assert probs[0] == pytest.approx(0.02, abs=0.002) and np.allclose(probs[1:], probs[1], atol=0.003)
    with pytest.raises(ValueError, match="stop_prior"):
        policy.set_stop_prior(1.5)
    env.close()


def test_spectrogram_encoder_sees_the_ild_at_every_distance():
    """The env's log1p spectrogram is linear for quiet bins: a 3 dB ILD of a far source is a
    difference 1/30 of a near one's. After the encoder's log compression the ILD channel is the
    same at both distances (a level ratio), and the level itself still says which is nearer."""
    from earshot.agents.extractor import ILD_GAIN, _MapEncoder, log_compress

    ratio = 10 ** (3 / 20)  # 3 dB
    far, near = 1e-3, 3e-2  # env values (log1p |STFT| / scale) of quiet bins
    raw_far, raw_near = far * (ratio - 1), near * (ratio - 1)
    assert raw_near / raw_far == pytest.approx(30)  # what a CNN on the env's values sees
    x = torch.tensor([far, far * ratio, near, near * ratio])
    c = log_compress(x)
    ild_far, ild_near = float(c[1] - c[0]), float(c[3] - c[2])
    assert ild_near == pytest.approx(ild_far, rel=0.02)
    assert ild_far == pytest.approx(np.log(ratio) / -np.log(1e-5), rel=0.02)
    assert c[2] > c[0]  # louder is still larger
    assert float(log_compress(torch.tensor(0.0))) == 0.0 and float(log_compress(torch.tensor(1.0))) == pytest.approx(1, abs=1e-4)
    # the encoder's third channel is ILD_GAIN x that difference, left minus right
    enc = _MapEncoder((2, 65, 26), 8, spectrogram=True)
    seen = []
    enc.net[0][0].register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    spec = torch.full((1, 2, 65, 26), far)
    spec[:, 0] *= ratio  # left ear louder
    enc(spec)
    assert seen[0].shape[1] == 3
    assert float(seen[0][0, 2].mean()) == pytest.approx(ILD_GAIN * ild_far, rel=0.02)


def test_shipped_agent_beats_random_on_held_out_episodes(tmp_path):
    """The AudioGoal agent the README runs, on 8 fixed test-split episodes (held-out scenes),
    sampled actions, against the random baseline on the same episodes."""
    from earshot.agents.checkpoints import pretrained_agents, read_meta

    assert "audiogoal" in pretrained_agents()
    meta = read_meta("audiogoal")
    assert meta["task"] == "earshot/AudioGoal-v0" and "training_command" in meta
    results = _evaluate(tmp_path / "shipped", "--checkpoint", "audiogoal", "--task", "earshot/AudioGoal-v0",
                        "--split", "test", "--episodes", "8", "--compare", "--no-progress")
    agent = next(v for k, v in results.items() if k not in ("random", "oracle"))
    random = results["random"]
    assert agent["success"]["mean"] >= random["success"]["mean"] + 0.25
    assert agent["spl"]["mean"] > random["spl"]["mean"] + 0.1
    assert results["oracle"]["spl"]["mean"] == pytest.approx(1.0)
    assert json.loads((tmp_path / "shipped" / "summary.json").read_text())["episodes"] == 8


@pytest.mark.parametrize("gru", [0, 32])
def test_imitation_warm_start_learns_the_oracles_actions(tmp_path, gru):
    """DAgger on PointGoal for 2k steps: the policy's argmax agrees with the shortest-path
    oracle on states of other (val) scenes far more often than before, feed-forward or with a
    GRU state (fitted on sequences, acting with its state carried); the run writes the
    ``imitation`` checkpoint and an evaluation at step 0, and a PPO-free run is allowed."""
    from earshot.agents.actors import PolicyActor
    from earshot.agents.imitation import ImitationConfig, imitate
    from earshot.agents.kinds import AGENT_KINDS

    kw = dict(resolution=64, sensors=["depth", "pointgoal_with_gps_compass"])

    def agreement(act, n=200):
        env = gym.make("earshot/PointGoal-v0", split="val", scenes=2, **kw)
        obs, _ = env.reset(seed=1)
        act.reset()
        hits = 0
        rng = np.random.default_rng(0)
        for _ in range(n):
            expert = env.unwrapped.oracle_action()
            hits += act(obs) == expert
            obs, _, term, trunc, _ = env.step(expert if rng.random() < 0.5 else int(rng.integers(1, 4)))
            if term or trunc:
                obs, _ = env.reset()
                act.reset()
        env.close()
        return hits / n

    def forward(_obs):  # "always forward", the most common oracle action
        return 1

    forward.reset = lambda: None
    torch.set_num_threads(1)  # as train.py runs it (and the same result whichever test ran before)
    env = gym.make("earshot/PointGoal-v0", split="train", scenes=3, **kw)
    policy = _policy(env, gru, hidden=32)
    before = agreement(PolicyActor(policy, deterministic=True))
    kind = AGENT_KINDS["recurrent-ppo" if gru else "ppo"]
    out = imitate(kind, policy, env, ImitationConfig(2000, rounds=4, epochs=10, batch_size=64, learning_rate=1e-3,
                                                     sequence_length=32), progress=False)
    after = agreement(PolicyActor(policy, deterministic=True))
    env.close()
    assert out["steps"] == 2000 and out["rounds"][0]["oracle_share"] == 1.0 and out["rounds"][0]["success"] == 1.0
    always = agreement(forward)
    print(f"agreement with the oracle: before {before:.3f}, always forward {always:.3f}, after {after:.3f}")
    assert after >= before + 0.1 and after >= always + 0.15 and after >= 0.6, (before, always, after)
    if gru:
        return
    # through the script: warm start only (no PPO steps)
    cfg = parse_config(TrainConfig, "", [
        "--task", "earshot/PointGoal-v0", "--agent", "ppo", "--total-steps", "0", "--imitation-steps", "64",
        "--imitation-rounds", "2", "--n-envs", "1", "--scenes", "2", "--eval-every", "1000", "--eval-episodes", "2", "--n-steps", "32",
        "--run-dir", str(tmp_path / "run"), "--env-kwargs", json.dumps(kw), "--no-progress", "--hidden", "32"])
    latest = train(cfg)["checkpoint"]
    meta = json.loads((latest / "meta.json").read_text())
    assert meta["imitation"]["steps"] == 64 and meta["steps"] == 0
    assert (tmp_path / "run" / "checkpoints" / "imitation" / "policy.pt").is_file()
    assert (tmp_path / "run" / "eval.csv").read_text().splitlines()[1].startswith("0,")
    assert "--imitation-steps 64" in meta["training_command"]
    # PPO on top, resumed from that checkpoint: the warm start stays on record
    cfg.total_steps = 64
    latest = train(cfg)["checkpoint"]
    meta = json.loads((latest / "meta.json").read_text())
    assert meta["steps"] == 64 and meta["imitation"]["steps"] == 64
    # more DAgger from that policy (--init): the checkpoint counts the imitation steps behind both, and evaluate says so
    more = parse_config(TrainConfig, "", [
        "--task", "earshot/PointGoal-v0", "--agent", "ppo", "--total-steps", "0", "--imitation-steps", "32",
        "--imitation-rounds", "2", "--imitation-greedy", "0.5", "--n-envs", "1", "--scenes", "2", "--eval-every", "0",
        "--run-dir", str(tmp_path / "more"), "--env-kwargs", json.dumps(kw), "--no-progress", "--hidden", "32",
        "--init", str(tmp_path / "run" / "checkpoints" / "imitation")])
    meta = json.loads((train(more)["checkpoint"] / "meta.json").read_text())
    assert meta["imitation"]["steps"] == 32 and meta["init"]["imitation_steps"] == 64
    summary = _evaluate(tmp_path / "more_eval", "--checkpoint", str(tmp_path / "more"), "--no-progress")
    assert "ppo @ 96 imitation + 0 PPO steps (sampled)" in summary
    # PPO alone from that policy (--init): its imitation steps are counted once, not again as this run's
    ppo = parse_config(TrainConfig, "", [
        "--task", "earshot/PointGoal-v0", "--agent", "ppo", "--total-steps", "32", "--n-envs", "1", "--scenes", "2",
        "--eval-every", "0", "--n-steps", "16", "--run-dir", str(tmp_path / "ppo_from"), "--env-kwargs", json.dumps(kw),
        "--no-progress", "--hidden", "32", "--init", str(tmp_path / "more")])
    meta = json.loads((train(ppo)["checkpoint"] / "meta.json").read_text())
    assert "imitation" not in meta and meta["init"]["imitation_steps"] == 96 and meta["steps"] == 32
    summary = _evaluate(tmp_path / "ppo_eval", "--checkpoint", str(tmp_path / "ppo_from"), "--no-progress")
    assert "ppo @ 96 imitation + 32 PPO steps (sampled)" in summary
    # DAgger again from that PPO policy (--init): its 32 PPO steps stay counted, with every imitation step
    again = parse_config(TrainConfig, "", [
        "--task", "earshot/PointGoal-v0", "--agent", "ppo", "--total-steps", "0", "--imitation-steps", "32",
        "--imitation-rounds", "1", "--n-envs", "1", "--scenes", "2", "--eval-every", "0",
        "--run-dir", str(tmp_path / "again"), "--env-kwargs", json.dumps(kw), "--no-progress", "--hidden", "32",
        "--init", str(tmp_path / "ppo_from")])
    meta = json.loads((train(again)["checkpoint"] / "meta.json").read_text())
    assert meta["steps"] == 0 and meta["init"]["ppo_steps"] == 32 and meta["init"]["imitation_steps"] == 96
    summary = _evaluate(tmp_path / "again_eval", "--checkpoint", str(tmp_path / "again"), "--no-progress")
    assert "ppo @ 128 imitation + 32 PPO steps (sampled)" in summary
    # its learning curves: both DAgger rounds and the PPO episodes are read back and drawn
    from earshot.agents.curves import plot_learning_curves, scalars

    curves = scalars(tmp_path / "run", ("imitation/success", "imitation/accuracy", "rollout/ep_len_mean"))
    assert curves["imitation/success"][0] == [32, 64] and len(curves["imitation/accuracy"][1]) == 2
    png = plot_learning_curves([str(tmp_path / "run")], ["run"], tmp_path / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit):
        parse_config(TrainConfig, "", ["--total-steps", "0"])


def test_stop_penalty_lowers_stop_away_from_the_goal_more_than_at_it():
    """``--imitation-stop-penalty``: its loss is -log(1 - p(STOP)) on the states the oracle does
    not stop in and 0 where it does; DAgger on PointGoal with it leaves a policy whose STOP
    probability on val states away from the goal is several times lower than without it (the
    same data, seeds and fit), while STOP stays several times likelier at the goal than away."""
    from earshot.agents.imitation import ImitationConfig, false_stop_loss, imitate
    from earshot.agents.kinds import AGENT_KINDS

    logits = torch.tensor([[2.0, 0.0, 1.0, -1.0], [0.5, 0.5, 0.5, 0.5], [-3.0, 1.0, 0.0, 0.0]])
    p_stop = torch.softmax(logits, -1)[:, 0]
    loss = false_stop_loss(logits, torch.tensor([1, 0, 3]))
    assert torch.allclose(loss, torch.stack([-torch.log1p(-p_stop[0]), torch.tensor(0.0), -torch.log1p(-p_stop[2])]))

    kw = dict(resolution=64, sensors=["depth", "pointgoal_with_gps_compass"])

    def stop_probs(policy):  # mean p(STOP) on the oracle's path: (away from the goal, at it)
        env = gym.make("earshot/PointGoal-v0", split="val", scenes=2, **kw)
        obs, _ = env.reset(seed=1)
        away, at = [], []
        for _ in range(300):
            expert = env.unwrapped.oracle_action()
            (at if expert == 0 else away).append(float(_first_probs(policy, obs)[0]))
            obs, _, term, trunc, _ = env.step(expert)
            if term or trunc:
                obs, _ = env.reset()
        env.close()
        assert len(at) >= 10
        return np.mean(away), np.mean(at)

    torch.set_num_threads(1)
    probs = {}
    for penalty in (0.0, 5.0):
        env = gym.make("earshot/PointGoal-v0", split="train", scenes=3, **kw)
        policy = _policy(env, 0, hidden=32)
        imitate(AGENT_KINDS["ppo"], policy, env, ImitationConfig(1000, rounds=2, epochs=10, batch_size=64,
                                                                 learning_rate=1e-3, stop_penalty=penalty),
                progress=False)
        env.close()
        probs[penalty] = stop_probs(policy)
    (away0, at0), (away5, at5) = probs[0.0], probs[5.0]
    print(f"p(STOP) away / at the goal: no penalty {away0:.4f} / {at0:.3f}, penalty 5 {away5:.4f} / {at5:.3f}")
    assert away5 < away0 / 3, probs
    assert at5 > 5 * away5 and at5 / away5 >= 0.8 * at0 / away0, probs
    with pytest.raises(ValueError, match="stop penalty"):
        imitate(AGENT_KINDS["waypoint"], policy, None, ImitationConfig(10, stop_penalty=1.0), progress=False)
    with pytest.raises(SystemExit):
        parse_config(TrainConfig, "", ["--agent", "waypoint", "--imitation-steps", "10", "--imitation-stop-penalty", "1"])
    with pytest.raises(SystemExit):
        parse_config(TrainConfig, "", ["--imitation-steps", "10", "--imitation-stop-penalty", "-1"])


def test_goal_loss_teaches_the_goal_head_where_the_goal_is(tmp_path):
    """``--imitation-goal-coef``: DAgger fits the policy's goal head to the env's ``goal_vector``.
    On PointGoal, whose observation holds the goal, two rounds bring the head's error on val
    states under the error of predicting the mean goal (seeds 0–2: 0.47–0.67 of it; an untrained
    head is off by 16–54 m); the head is recorded in the
    checkpoint, evaluation rebuilds it, and ``--init`` moves weights between policies with and
    without one, acting as before."""
    from earshot.agents import checkpoints
    from earshot.agents.ddppo.policy import ActorCritic
    from earshot.agents.imitation import ImitationConfig, imitate
    from earshot.agents.kinds import AGENT_KINDS

    kw = dict(resolution=64, sensors=["depth", "pointgoal_with_gps_compass"])
    torch.set_num_threads(1)
    env = gym.make("earshot/PointGoal-v0", split="train", scenes=3, **kw)
    torch.manual_seed(0)
    policy = ActorCritic(env.observation_space, int(env.action_space.n), 32, 0, goal_head=True)
    out = imitate(AGENT_KINDS["ppo"], policy, env, ImitationConfig(1000, rounds=2, epochs=10, batch_size=64,
                                                                   learning_rate=1e-3, goal_coef=1.0), progress=False)
    env.close()
    assert all(np.isfinite(r["goal_error_m"]) for r in out["rounds"])
    val = gym.make("earshot/PointGoal-v0", split="val", scenes=2, **kw)
    obs, _ = val.reset(seed=1)
    predicted, truth = [], []
    for _ in range(200):
        batch = {k: torch.as_tensor(np.asarray(v)[None, None]) for k, v in obs.items()}
        *_, goal = policy.sequence(batch, torch.ones(1, 1, dtype=torch.bool), policy.initial_state(1), goal=True)
        predicted.append(goal.detach().numpy()[0, 0])
        truth.append(val.unwrapped.goal_vector())
        obs, _, term, trunc, _ = val.step(val.unwrapped.oracle_action())
        if term or trunc:
            obs, _ = val.reset()
    val.close()
    predicted, truth = np.array(predicted), np.array(truth)
    error = 10 * np.linalg.norm(predicted - truth, axis=1).mean()
    baseline = 10 * np.linalg.norm(truth - truth.mean(0), axis=1).mean()
    print(f"goal head error on val {error:.2f} m; predicting the mean goal {baseline:.2f} m")
    assert error < 0.8 * baseline, (error, baseline)
    # the checkpoint records the head; evaluation rebuilds it
    folder = checkpoints.save_checkpoint(tmp_path / "goal", policy, None, {
        "agent": "ppo", "task": "earshot/PointGoal-v0", "env_kwargs": kw, "steps": 0})
    meta = checkpoints.read_meta(folder)
    assert meta["policy"] == {"hidden": 32, "gru_hidden": 0, "goal_head": True}
    loaded, _ = checkpoints.load_policy(folder, policy.env_space, gym.spaces.Discrete(policy.n_actions))
    assert loaded.goal_head is not None
    probe = {k: torch.as_tensor(np.asarray(v)[None, None]) for k, v in obs.items()}
    starts = torch.ones(1, 1, dtype=torch.bool)
    # --init: into a policy without the head, and back into one with a fresh head: the same actions
    plain = ActorCritic(policy.env_space, policy.n_actions, 32, 0)
    assert checkpoints.load_init_weights(plain, folder, meta) == []
    want = policy.sequence(probe, starts, policy.initial_state(1))[0].logits
    torch.testing.assert_close(plain.sequence(probe, starts, plain.initial_state(1))[0].logits, want)
    plain_folder = checkpoints.save_checkpoint(tmp_path / "plain", plain, None, {
        "agent": "ppo", "task": "earshot/PointGoal-v0", "env_kwargs": kw, "steps": 0})
    headed = ActorCritic(policy.env_space, policy.n_actions, 32, 0, goal_head=True)
    checkpoints.load_init_weights(headed, plain_folder, checkpoints.read_meta(plain_folder))
    torch.testing.assert_close(headed.sequence(probe, starts, headed.initial_state(1))[0].logits, want)
    with pytest.raises(ValueError, match="goal head"):
        plain.sequence(probe, starts, plain.initial_state(1), goal=True)
    with pytest.raises(ValueError, match="goal"):
        imitate(AGENT_KINDS["ppo"], plain, None, ImitationConfig(10, goal_coef=1.0), progress=False)


def test_stored_state_fits_each_sequence_with_the_memory_it_was_acted_on_with():
    """``--imitation-stored-state``: a recurrent policy's DAgger data keep the GRU state each
    state was acted on with, and a training sequence that starts mid-episode starts from it, so
    the fit computes exactly the logits the policy acted with (the whole stream run with its state
    carried); from zeros (the default) those sequences see less memory and other logits. A
    feed-forward agent is refused the option."""
    from earshot.agents.imitation import ImitationConfig, _collect, _Dataset, imitate
    from earshot.agents.kinds import AGENT_KINDS

    torch.set_num_threads(1)
    env = gym.make("earshot/PointGoal-v0", split="train", scenes=2, resolution=64,
                   sensors=["depth", "pointgoal_with_gps_compass"])
    policy = _policy(env, 32, hidden=32)
    policy.set_stop_prior(0.02)  # episodes of tens of steps: most sequences start mid-episode
    config = ImitationConfig(400, rounds=1, sequence_length=16, beta=0.0, stored_state=True)
    data = _Dataset()
    obs, _ = env.reset(seed=0)
    _collect(AGENT_KINDS["recurrent-ppo"], policy, env, obs, data, [], 1, 400, {"steps": 0}, config,
             np.random.default_rng(0), torch.Generator().manual_seed(0), "cpu", None, 1)
    env.close()
    n, length = len(data.labels), config.sequence_length
    assert data.hidden is not None and data.hidden.view().shape == (n, 32)
    obs = {k: torch.as_tensor(v.view().astype(np.float32) if v.view().dtype == np.float16 else v.view())
           for k, v in data.obs.items()}
    starts = torch.as_tensor(np.asarray(data.starts))
    with torch.no_grad():
        acted = policy.sequence({k: v[:, None] for k, v in obs.items()}, starts[:, None], policy.initial_state(1))[0]
        stored_gap, zero_gap = [], []
        for a in range(0, n - length + 1, length):
            if data.starts[a]:
                continue  # a sequence that starts an episode starts from zeros either way
            seq = {k: v[a:a + length, None] for k, v in obs.items()}
            first = starts[a:a + length, None].clone()
            h = torch.as_tensor(data.hidden.view()[a])[None, None]
            stored_gap.append(float((policy.sequence(seq, first, h)[0].logits - acted.logits[a:a + length]).abs().max()))
            first[0] = True
            zero = policy.sequence(seq, first, policy.initial_state(1))[0].logits
            zero_gap.append(float((zero - acted.logits[a:a + length]).abs().max()))
    assert len(stored_gap) >= 10, "too few sequences start mid-episode to compare"
    print(f"largest logit gap to acting: stored state {max(stored_gap):.2e}, zero state {max(zero_gap):.2e}")
    assert max(stored_gap) < 1e-5
    assert max(zero_gap) > 100 * max(max(stored_gap), 1e-7)
    with pytest.raises(SystemExit):
        parse_config(TrainConfig, "", ["--agent", "ppo", "--imitation-steps", "10", "--imitation-stored-state"])
    with pytest.raises(ValueError, match="GRU state"):
        imitate(AGENT_KINDS["ppo"], _policy(env), None, ImitationConfig(10, stored_state=True), progress=False)


def test_temperature_moves_sampling_between_the_policy_and_its_argmax():
    from earshot.agents.actors import PolicyActor

    kw = dict(resolution=64, sensors=["depth", "pointgoal_with_gps_compass"])
    env = gym.make("earshot/PointGoal-v0", scenes=1, episodes_per_scene=2, **kw)
    policy = _policy(env)
    policy.set_stop_prior(0.4)
    obs, _ = env.reset(seed=0)
    torch.manual_seed(0)
    argmax = PolicyActor(policy, deterministic=True)(obs)
    assert argmax == 0  # STOP has prior 0.4 against 0.2 each
    cold = PolicyActor(policy, deterministic=False, temperature=0.01)
    assert all(cold(obs) == argmax for _ in range(50))
    hot = PolicyActor(policy, deterministic=False, temperature=100.0)
    counts = np.bincount([hot(obs) for _ in range(400)], minlength=4) / 400
    assert np.allclose(counts, 0.25, atol=0.07)  # ~uniform
    own = PolicyActor(policy, deterministic=False)
    counts = np.bincount([own(obs) for _ in range(400)], minlength=4) / 400
    assert counts[0] == pytest.approx(0.4, abs=0.07)
    with pytest.raises(ValueError, match="temperature"):
        PolicyActor(policy, deterministic=False, temperature=0)
    env.close()


def test_stable_baselines3_trains_on_the_envs():
    """SB3 stays a consumer of the envs: the example trains SB3's PPO with earshot's extractor
    (its env checker passing first) and evaluates it on val episodes."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sb3_example", Path(__file__).resolve().parents[2] / "examples" / "sb3_ppo.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    success = example.main(steps=128, workers=1, episodes=1)
    assert success in (0.0, 1.0)


def test_the_results_table_fits_in_100_columns():
    from earshot.agents.evaluation import format_table

    row = {k: {"mean": 12.345, "ci95": 0.123} for k in METRICS}
    names = ["oracle", "ppo @ 100,000 imitation + 2,000,000 PPO steps (sampled, T=0.5)"]
    table = format_table({n: row for n in names})
    assert max(len(line) for line in table.splitlines()) <= 100, table
    assert all(n in table for n in names) and table.count("12.345 ± 0.123") == 2 * len(METRICS)


def test_a_moving_source_walks_the_same_way_in_every_evaluation_of_an_episode():
    """The world's own random motion (MovingSource: the goal's walk, the transient distractors'
    nodes and sounding) is fixed per evaluation seed and episode: the same in a second run, the
    same when the episode runs alone, and another with another seed. Unseeded, every evaluation
    drew it anew, so one policy's argmax scored differently in every run."""
    from earshot.agents.evaluation import eval_env, episode_order, run_episodes
    from earshot.scenes import Action

    env = eval_env("earshot/MovingSource-v0", "val", 3, {"max_steps": 40, "resolution": 32})
    walks = []

    def turn(_obs):  # the agent stays put; what moves is the world
        sim = env.unwrapped.sim
        walks[-1].append((sim.sources[0].node, *((s.node, s.on) for s in sim.sources[1:])))
        return int(Action.TURN_LEFT)

    turn.reset = lambda: walks.append([])

    def run(indices, seed=0):
        walks.clear()
        run_episodes(env, turn, indices, seed=seed)
        return list(walks)

    try:
        indices = episode_order(env, 3)
        first, second = run(indices), run(indices)
        alone = run(indices[-1:])
        other = run(indices, seed=1)
    finally:
        env.close()
    assert all(len({w[0] for w in walk}) > 1 for walk in first)  # the source walked in every episode
    assert first == second
    assert alone == first[-1:]
    assert other != first


def test_evaluation_tells_a_premature_stop_from_the_step_limit():
    """Each episode's row says how it ended, read from the env's last info (``stopped``): an agent
    that presses STOP at once fails by a premature STOP after one step wherever the start is
    farther than the success distance; one that only turns reaches the step limit; the oracle
    succeeds; the summary counts the two kinds of failure and the table shows them."""
    from earshot.agents.evaluation import (baseline_actor, episode_order, eval_env, format_table, run_episodes,
                                           summarize)
    from earshot.scenes import Action

    def always(action):
        act = lambda _obs: int(action)  # noqa: E731
        act.reset = lambda: None
        return act

    env = eval_env("earshot/AudioGoal-v0", "val", 4, {"max_steps": 30, "resolution": 32})
    try:
        indices = episode_order(env, 4)
        stops = run_episodes(env, always(Action.STOP), indices)
        turns = run_episodes(env, always(Action.TURN_LEFT), indices)
        oracle = run_episodes(env, baseline_actor("oracle", env), indices)
        far = env.unwrapped.success_distance
    finally:
        env.close()
    assert all(r["geodesic_distance"] > far for r in stops)  # the episodes start away from the goal
    assert [(r["ended"], r["num_steps"]) for r in stops] == [("stop", 1)] * 4
    assert [(r["ended"], r["num_steps"]) for r in turns] == [("limit", 30)] * 4
    for r in oracle:  # 30 steps are too few for some episodes: those end at the limit, never by a STOP
        assert r["ended"] == ("success" if r["success"] else "limit") and (r["num_steps"] == 30) == (r["ended"] == "limit")
    assert any(r["ended"] == "success" for r in oracle)
    s, t = summarize(stops), summarize(turns)
    assert s["premature_stops"] == {"count": 4, "share": 1.0} and s["step_limit"]["count"] == 0
    assert t["step_limit"] == {"count": 4, "share": 1.0} and t["premature_stops"]["count"] == 0
    table = format_table({"stop at once": s, "turn left": t})
    assert "STOPs / limit" in table and max(len(line) for line in table.splitlines()) <= 100
    assert [line.split()[-3:] for line in table.splitlines() if "±" in line] == [["4", "/", "0"], ["0", "/", "4"]]

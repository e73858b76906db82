"""The learned semantic sensor (earshot.agents.segmenter): its views, its training, its scores,
its files, and its place in a policy (the encoder the ``semantic`` sensor would feed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from earshot.agents import checkpoints  # noqa: E402
from earshot.agents.checkpoints import read_meta  # noqa: E402
from earshot.agents.ddppo import DDPPOTrainer  # noqa: E402
from earshot.agents.ddppo.distributed import World  # noqa: E402
from earshot.agents.ddppo.policy import ActorCritic  # noqa: E402
from earshot.agents.segmenter import (SegmenterConfig, load_segmenter, predict, segmentation_frames,  # noqa: E402
                                      segmentation_metrics, train_segmenter)
from earshot.agents.training import TrainConfig  # noqa: E402
from earshot.cli import parse_config  # noqa: E402
from earshot.jobs import torch_threads  # noqa: E402

RES = 48  # the smallest frames the policy's image CNN takes are 36 x 36
BASE = {"scenes": 1, "resolution": RES, "renderer": "raycast"}
SENSORS = ["depth", "rgb", "category"]


@pytest.fixture(scope="module")
def segmenter_dir(tmp_path_factory) -> Path:
    """A small segmenter trained on views of 16 train apartments (48 x 48, 8 epochs, ~20 s), on one
    torch thread so that its weights do not depend on the machine's cores. (8 apartments and 6
    epochs left its object-pixel accuracy within 0.02 of the bar below, either side of it by
    seed and thread count; 16 and 8 scored 0.58-0.65 in 7 runs over 5 seeds and 1 or 2 threads, bar 0.46.)"""
    run = tmp_path_factory.mktemp("segmenter")
    cfg = SegmenterConfig(run_dir=str(run), scenes=16, per_scene=40, val_scenes=3, val_per_scene=20, resolution=RES,
                          width=16, epochs=8, batch_size=16, workers=1, progress=False, torch_threads=1)
    with torch_threads(2):
        train_segmenter(cfg)
        assert torch.get_num_threads() == 2  # its one thread held only while it trained
    return run


def test_views_do_not_depend_on_the_number_of_workers():
    one = segmentation_frames("train", 3, 4, resolution=36, seed=5, workers=1)
    two = segmentation_frames("train", 3, 4, resolution=36, seed=5, workers=2)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    rgb, depth, labels = one
    assert rgb.shape == (12, 36, 36, 3) and depth.shape == labels.shape == (12, 36, 36)
    assert labels.max() > 0 and (labels > 0).mean() < 0.9  # objects in view, and structure too
    with pytest.raises(ValueError, match="val split has 100 apartments"):
        segmentation_frames("val", 101, 1)


def test_metrics_are_intersection_over_union_per_category():
    truth = np.array([[0, 1, 1, 2], [0, 1, 2, 2]])
    pred = np.array([[0, 1, 2, 2], [1, 1, 2, 0]])
    m = segmentation_metrics(pred, truth)
    assert m["iou"]["bed"] == pytest.approx(2 / 4)  # label 1: both at 2 pixels of the 4 either marks
    assert m["iou"]["sofa"] == pytest.approx(2 / 4)  # label 2: 2 common of 4
    assert m["iou"]["chair"] is None and m["miou"] == pytest.approx(0.5)
    assert m["object_pixel_accuracy"] == pytest.approx(4 / 6)
    assert m["structure_pixel_accuracy"] == pytest.approx(1 / 2)


def test_a_segmenter_learns_the_categories_of_unseen_apartments(segmenter_dir):
    """Its loss falls epoch after epoch, and on the val split's apartments (never trained on) it
    labels object pixels far better than the most common category would."""
    history = json.loads((segmenter_dir / "history.json").read_text())
    losses = [h["loss"] for h in history]
    assert all(b < a for a, b in zip(losses, losses[1:]))
    net, meta = load_segmenter(segmenter_dir)
    rgb, depth, labels = segmentation_frames("val", 3, 20, resolution=RES, seed=0)
    pred = predict(net, rgb, depth)
    m = segmentation_metrics(pred, labels)
    for key in ("miou", "object_pixel_accuracy", "structure_pixel_accuracy"):  # saved with the network read back
        assert m[key] == pytest.approx(meta["val"][key])
    objects = labels[labels > 0]
    majority = np.bincount(objects).max() / objects.size
    assert m["object_pixel_accuracy"] > majority + 0.1 and m["structure_pixel_accuracy"] > 0.85
    assert m["miou"] > 0.1  # labelling at random among the 14 categories: ~0.04
    from PIL import Image

    with Image.open(segmenter_dir / "val_examples.png") as figure:  # RGB | the sensor's labels | its labels, 6 rows
        assert figure.size == (3 * 3 * RES, 6 * 3 * RES)


def test_a_policy_with_a_segmenter_sees_what_the_semantic_sensor_would_show_it(tmp_path, segmenter_dir):
    """A policy that observed the ``semantic`` sensor, given a segmenter by ``--init``
    (load_init_weights), acts step by step exactly as that policy does when the sensor shows
    the segmenter's labels: the segmenter takes the sensor's place, nothing else changes."""
    import earshot.av_env  # noqa: F401  (registers the env ids)

    env = gym.make("earshot/SemanticAudioGoal-v0", sensors=SENSORS, **BASE)
    sensed = gym.make("earshot/SemanticAudioGoal-v0", sensors=["depth", "category", "semantic"], **BASE)
    torch.manual_seed(0)
    old = ActorCritic(sensed.observation_space, 4, 16, 16)
    checkpoints.save_checkpoint(tmp_path / "old", old, None,
                                {"agent": "recurrent-ppo", "task": "earshot/SemanticAudioGoal-v0", "steps": 0})
    net, _ = load_segmenter(segmenter_dir)
    policy = ActorCritic(env.observation_space, 4, 16, 16, segmenter=net.width)
    policy.extractor.segmenter.load_state_dict(net.state_dict())
    assert checkpoints.load_init_weights(policy, tmp_path / "old", read_meta(tmp_path / "old")) == ["rgb"]
    assert torch.equal(policy.extractor.segmenter.out.weight, net.out.weight)  # not the checkpoint's to give
    obs, _ = env.reset(seed=4)
    h_new = h_old = policy.initial_state(1)
    seen = 0
    for t in range(25):
        x = {k: torch.as_tensor(v)[None] for k, v in obs.items()}
        labels = predict(net, obs["rgb"][None], obs["depth"][None, ..., 0])[0]
        seen += int((labels > 0).sum())
        y = {"depth": x["depth"], "category": x["category"], "semantic": torch.as_tensor(labels[None, ..., None])}
        starts = torch.tensor([t == 0])
        a_new, logp_new, v_new, h_new = policy.act(x, starts, h_new, deterministic=True)
        a_old, logp_old, v_old, h_old = old.act(y, starts, h_old, deterministic=True)
        assert a_new.item() == a_old.item() and torch.allclose(logp_new, logp_old, atol=1e-6)
        assert torch.allclose(v_new, v_old, atol=1e-5) and torch.allclose(h_new, h_old, atol=1e-6)
        obs, _, term, trunc, _ = env.step(env.unwrapped.oracle_action() or 2)
        if term or trunc:
            break
    assert seen > 0  # the segmenter labelled objects on the way
    checkpoints.save_checkpoint(tmp_path / "with", policy, None,
                                {"agent": "recurrent-ppo", "task": "earshot/SemanticAudioGoal-v0", "steps": 0})
    again = ActorCritic(env.observation_space, 4, 16, 16, segmenter=net.width)
    assert checkpoints.load_init_weights(again, tmp_path / "with", read_meta(tmp_path / "with")) == []
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), policy.state_dict().values()))


def test_training_with_a_segmenter_keeps_it_frozen_and_records_it(tmp_path, segmenter_dir):
    """DAgger and PPO with ``--segmenter``: the checkpoint carries the segmenter's weights
    unchanged (the rest of the policy moved), its width in the policy settings and its folder in
    the meta; the checkpoint loads for evaluation with the env's RGB-D alone."""
    kwargs = {"resolution": RES, "sensors": SENSORS, "max_steps": 30, "renderer": "raycast"}
    args = ["--task", "earshot/SemanticAudioGoal-v0", "--scenes", "2", "--env-kwargs", json.dumps(kwargs),
            "--n-envs", "1", "--n-steps", "32", "--hidden", "16", "--gru-hidden", "16", "--device", "cpu",
            "--log-every", "1000", "--eval-every", "0", "--no-progress", "--agent", "recurrent-ppo",
            "--total-steps", "64", "--imitation-steps", "64", "--imitation-rounds", "2",
            "--segmenter", str(segmenter_dir), "--run-dir", str(tmp_path / "run")]
    out = DDPPOTrainer(parse_config(TrainConfig, "", args), world=World()).train()
    meta = read_meta(out["checkpoint"])
    assert meta["policy"]["segmenter"] == 16 and meta["segmenter"]["folder"] == str(segmenter_dir / "segmenter")
    state = checkpoints.load_tensors(Path(out["checkpoint"]) / "policy.pt")
    net, _ = load_segmenter(segmenter_dir)
    for name, value in net.state_dict().items():
        assert torch.equal(state[f"extractor.segmenter.{name}"], value), name
    start = checkpoints.load_tensors(tmp_path / "run" / "checkpoints" / "imitation" / "policy.pt")
    assert not torch.equal(state["action_head.weight"], start["action_head.weight"])  # PPO moved the rest
    env = gym.make("earshot/SemanticAudioGoal-v0", scenes=1, **kwargs)
    policy, _ = checkpoints.load_policy(out["checkpoint"], env.observation_space, env.action_space)
    obs, _ = env.reset(seed=0)
    action, *_ = policy.act({k: torch.as_tensor(v)[None] for k, v in obs.items()}, torch.tensor([True]),
                            policy.initial_state(1))
    assert 0 <= action.item() < 4


def test_labels_made_once_feed_the_policy_exactly_as_its_segmenter_does(segmenter_dir):
    """DAgger's fits go over every stored state in every epoch; the frozen segmenter's labels are
    made once per state (``ActorCritic.derive``) and fed in place of ``rgb``. The policy's
    logits, values and GRU states are then bit-identical to its own path through the segmenter,
    from stored (float16) observations as from the env's; and a fit's loss and weights too."""
    import earshot.av_env  # noqa: F401  (registers the env ids)
    from earshot.agents import imitation
    from earshot.agents.kinds import Label

    env = gym.make("earshot/SemanticAudioGoal-v0", sensors=SENSORS, **BASE)
    net, _ = load_segmenter(segmenter_dir)
    torch.manual_seed(0)
    policy = ActorCritic(env.observation_space, 4, 16, 16, segmenter=net.width)
    policy.extractor.segmenter.load_state_dict(net.state_dict())
    data = imitation._Dataset(capacity=8)
    obs, _ = env.reset(seed=3)
    for t in range(40):
        action = env.unwrapped.oracle_action() or 2
        data.record(obs, Label(action), t, start=t == 0)
        data.returns.append(0.0)
        obs, _, term, trunc, _ = env.step(action)
        if term or trunc:
            obs, _ = env.reset()
    stored = {k: torch.as_tensor(b.view()[None].astype(np.float32) if b.view().dtype == np.float16 else b.view()[None])
              for k, b in data.obs.items()}
    data.derive(policy, chunk=16)  # in chunks: the labels do not depend on them
    assert data.derived_size == 40 and data.derived["semantic"].view().dtype == np.uint8
    derived = {k: v for k, v in stored.items() if k != "rgb"}
    derived["semantic"] = torch.as_tensor(data.derived["semantic"].view()[None])
    assert int((derived["semantic"] > 0).sum()) > 0
    starts = torch.zeros(1, 40, dtype=torch.bool)
    starts[0, 0] = True
    h0 = policy.initial_state(40)
    for a, b in zip(policy.sequence(stored, starts, h0), policy.sequence(derived, starts, h0)):
        assert torch.equal(a.logits if hasattr(a, "logits") else a, b.logits if hasattr(b, "logits") else b)
    # a fit from the same start over the same states: the same loss and the same weights
    config = imitation.ImitationConfig(steps=40, epochs=2, batch_size=16, sequence_length=8)
    fits = []
    for use_cache in (True, False):
        torch.manual_seed(1)
        p = ActorCritic(env.observation_space, 4, 16, 16, segmenter=net.width)
        p.extractor.segmenter.load_state_dict(net.state_dict())
        d = imitation._Dataset(capacity=8)
        d.obs, d.labels, d.owner, d.starts, d.returns, d.at_decision = (data.obs, data.labels, data.owner, data.starts,
                                                                        data.returns, data.at_decision)
        if not use_cache:
            d.derive = lambda policy: None  # the segmenter runs in every epoch, as before the cache
        optimizer = torch.optim.Adam(p.trainable(), lr=1e-3)
        loss = imitation._fit(p, optimizer, d, config, np.random.default_rng(0), "cpu", World())
        fits.append((loss, [v.clone() for v in p.state_dict().values()]))
    assert fits[0][0] == fits[1][0]
    assert all(torch.equal(a, b) for a, b in zip(fits[0][1], fits[1][1]))


def test_bad_segmenter_input_gets_one_clear_error(tmp_path, segmenter_dir):
    import earshot.av_env  # noqa: F401

    net, _ = load_segmenter(segmenter_dir)
    both = gym.make("earshot/SemanticAudioGoal-v0", sensors=[*SENSORS, "semantic"], **BASE)
    with pytest.raises(ValueError, match="use one; leave 'semantic' out"):
        ActorCritic(both.observation_space, 4, 16, 16, segmenter=net.width)
    blind = gym.make("earshot/SemanticAudioGoal-v0", sensors=["depth", "category"], **BASE)
    with pytest.raises(ValueError, match="add 'rgb' and 'depth' to the env's sensors"):
        ActorCritic(blind.observation_space, 4, 16, 16, segmenter=net.width)
    with pytest.raises(FileNotFoundError, match="holds no segmenter"):
        load_segmenter(tmp_path)
    kwargs = json.dumps({"resolution": 64, "sensors": SENSORS})
    with pytest.raises(ValueError, match="trained on 48x48 frames, the env renders 64x64"):
        TrainConfig(task="earshot/SemanticAudioGoal-v0", segmenter=str(segmenter_dir), env_kwargs=kwargs).check()
    broken = tmp_path / "broken"
    shutil.copytree(segmenter_dir / "segmenter", broken)
    (broken / "model.pt").write_bytes(b"not weights")
    with pytest.raises(ValueError, match="could not be read as weights"):
        load_segmenter(broken)
    meta = json.loads((broken / "meta.json").read_text())
    (broken / "meta.json").write_text(json.dumps({**meta, "categories": ["bed"]}))
    with pytest.raises(ValueError, match="retrain the segmenter"):
        load_segmenter(broken)


def test_videos_show_what_the_segmenter_sees(segmenter_dir):
    """An agent with a segmenter is filmed with a panel of its labels of the current view: the
    goal's category red exactly where the segmenter labels it so (the semantic sensor's colours)."""
    import earshot.av_env  # noqa: F401
    from earshot.agents.evaluation import _video_options
    from earshot.agents.kinds import agent_kind
    from earshot.av_env.visualize import SEMANTIC_GOAL, compose_frame
    from earshot.scenes.render.raycast import category_label

    env = gym.make("earshot/SemanticAudioGoal-v0", sensors=SENSORS, **BASE)
    net, _ = load_segmenter(segmenter_dir)
    policy = ActorCritic(env.observation_space, 4, 16, 16, segmenter=net.width)
    policy.extractor.segmenter.load_state_dict(net.state_dict())
    actor = agent_kind("recurrent-ppo").actor(policy, env, deterministic=True)
    panels = _video_options(env, actor, "recurrent-ppo")["panels"]
    assert [p.__name__ for p in panels] == ["what_its_segmenter_sees"]
    assert "panels" not in _video_options(env, None, "recurrent-ppo")  # no policy, no panel
    obs, _ = env.reset(seed=1)
    goal = category_label(env.unwrapped.episode.category)
    red = 0
    for _ in range(60):
        labels = predict(net, obs["rgb"][None], obs["depth"][None, ..., 0])[0]
        image = panels[0]()
        np.testing.assert_array_equal((image == SEMANTIC_GOAL).all(axis=-1), labels == goal)
        red += int((labels == goal).sum())
        if red > 20:
            break
        obs, _, term, trunc, _ = env.step(env.unwrapped.oracle_action() or 2)
        if term or trunc:
            obs, _ = env.reset()
            goal = category_label(env.unwrapped.episode.category)
    assert red > 20  # the goal's category was labelled in view
    layout = {}
    frame = compose_frame(env, panels, layout=layout)
    assert len(layout["panels"]) == 4 + 1 and frame.shape[2] == 3  # RGB, depth, map, the segmenter's, hearing

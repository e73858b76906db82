"""Echo-based depth estimation: the echo of a chirp arrives when the walls say it must, the
EchoDepth env serves echo + rgb + depth, depth metrics match hand computation, and a tiny
training run learns, checkpoints and evaluates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import earshot.av_env  # noqa: F401
from earshot.acoustics import AudioConfig, compute_rirs
from earshot.acoustics.echo import ECHO_CONFIG, chirp, echo_audio, echo_rirs, echo_spectrogram
from earshot.av_env.metrics import DepthMetrics, depth_metrics
from earshot.scenes import shoebox

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.mark.parametrize("d", [0.35, 0.6, 1.0])
def test_first_echo_arrives_at_twice_the_wall_distance(room, d):
    """Facing the +x wall of a 6 x 4 x 2.8 m box from d metres (the ceiling is 1.3 m above the
    ears, the other walls farther): the first echo is at 2 d / c after the emission. (Heard with
    the spherical head, whose responses are zero-phase: the onset is the geometric delay to the
    sample; KEMAR's HRIRs rise over ~0.2 ms after the wavefront reaches the head's centre.)"""
    cfg = ECHO_CONFIG.replace(head="sphere")
    expected = 2 * d / cfg.speed_of_sound * cfg.sample_rate
    head = np.array([6.0 - d, 2.0, 1.5])
    rir = echo_rirs(room, head[None], cfg)[0]
    assert abs(rir.delays.min() * cfg.sample_rate - expected) < 1e-3  # no direct path: the wall is first
    b = rir.binaural(0.0)
    for ear in b:
        onset = int(np.argmax(np.abs(ear) > 0.1 * np.abs(b).max()))
        assert abs(onset - expected) <= 2, (onset, expected)
    # what the ears record: the chirp's echo, found by a matched filter at the same time
    x = chirp(cfg)
    audio = echo_audio(rir, 0.0, cfg)
    for ear in audio:
        env = np.abs(np.correlate(ear, x, mode="full")[len(x) - 1:])
        assert abs(int(np.argmax(env > 0.3 * env.max())) - expected) <= 2
        lead = cfg.head_radius / cfg.speed_of_sound * cfg.sample_rate
        assert np.abs(ear[: int(expected - lead - 14)]).max() == 0.0  # silence before any echo can return


def test_the_echo_leaves_out_only_the_direct_path(room):
    p = np.array([2.0, 1.5, 1.5])
    cfg = ECHO_CONFIG
    with_direct = compute_rirs(room, p, p[None], cfg)[0]
    echo = compute_rirs(room, p, p[None], cfg, direct=False)[0]
    assert len(with_direct.delays) == len(echo.delays) + 1
    assert with_direct.delays.min() < 1e-9 and echo.delays.min() > 1e-3
    # the nearest reflector is the ceiling (1.3 m above the ears): 2.6 m of path
    assert abs(echo.delays.min() * cfg.speed_of_sound - 2.6) < 1e-6


def test_nearer_walls_echo_sooner_and_louder_at_the_near_ear(room):
    cfg = ECHO_CONFIG.replace(head="sphere")  # Woodworth's lead, to the sample
    head = np.array([0.5, 2.0, 1.5])  # the -x wall 0.5 m away, on the left of a head facing +y
    b = echo_rirs(room, head[None], cfg)[0].binaural(np.pi / 2)
    onsets = [int(np.argmax(np.abs(ear) > 0.1 * np.abs(b).max())) for ear in b]
    expected = 2 * 0.5 / cfg.speed_of_sound * cfg.sample_rate
    lead = cfg.head_radius / cfg.speed_of_sound * cfg.sample_rate  # the wall's echo reaches the left ear a/c early
    assert onsets[0] < onsets[1] and abs(onsets[0] - (expected - lead)) <= 2, (onsets, expected - lead)
    n = int(expected) + 60
    assert np.sum(b[0, :n] ** 2) > 2 * np.sum(b[1, :n] ** 2)  # and louder (head shadow)


def test_the_emitter_faces_forward_so_front_and_back_echoes_differ(room):
    """A wall 0.5 m ahead echoes loudly; the same wall 0.5 m behind hardly at all (cardioid
    emitter). With an omnidirectional emitter the spherical head hears both alike; KEMAR's pinnae
    tell them apart."""
    cfg = ECHO_CONFIG
    head = np.array([5.5, 2.0, 1.5])
    rir = echo_rirs(room, head[None], cfg)[0]
    n = int(2 * 0.5 / cfg.speed_of_sound * cfg.sample_rate) + 40  # up to just after the wall's echo
    facing = np.sum(echo_audio(rir, 0.0, cfg)[:, :n] ** 2)
    away = np.sum(echo_audio(rir, np.pi, cfg)[:, :n] ** 2)
    assert facing > 100 * away
    omni = cfg.replace(emitter="omni", head="sphere")
    a, b = (np.sum(echo_audio(rir, h, omni)[:, :n] ** 2) for h in (0.0, np.pi))
    assert a == pytest.approx(b, rel=1e-3)
    kemar = cfg.replace(emitter="omni", head="kemar")
    a, b = (echo_audio(rir, h, kemar)[:, :n].astype(np.float64) for h in (0.0, np.pi))
    assert np.abs(a - b).max() > 0.1 * np.abs(a).max()
    with pytest.raises(ValueError, match="emitter must be one of"):
        AudioConfig(emitter="laser")


def test_chirp_is_a_3ms_linear_sweep_and_refuses_an_aliased_top():
    x = chirp(ECHO_CONFIG)
    assert len(x) == round(0.003 * 44_100) and abs(x).max() <= 1.0
    # instantaneous frequency from zero crossings: low at the start, ~20 kHz at the end
    crossings = np.flatnonzero(np.diff(np.signbit(x)))
    gaps = np.diff(crossings)
    assert gaps[0] > 5 * gaps[-1]
    assert 44_100 / (2 * gaps[-4:].mean()) > 15_000
    with pytest.raises(ValueError, match="must be below half the sample rate"):
        chirp(AudioConfig(sample_rate=16_000))
    with pytest.raises(ValueError, match="chirp_high_hz .* must be above chirp_low_hz"):
        AudioConfig(chirp_low_hz=5000.0, chirp_high_hz=1000.0)


def test_depth_metrics_match_hand_computation():
    pred = np.array([[1.0, 2.0], [4.0, 3.0]])
    gt = np.array([[1.0, 1.0], [5.0, 0.0]])  # the last pixel has no ground truth
    m = depth_metrics(pred, gt)
    assert m["pixels"] == 3
    assert m["rmse"] == pytest.approx(np.sqrt(2 / 3))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["rel"] == pytest.approx((0 + 1 + 0.2) / 3)
    assert m["log10"] == pytest.approx((0 + np.log10(2) + np.log10(5 / 4)) / 3)
    # max(p/g, g/p): 1, 2, 1.25 -> below 1.25: 1 of 3; below 1.5625: 2; below 1.953: 2
    assert (m["delta1"], m["delta2"], m["delta3"]) == pytest.approx((1 / 3, 2 / 3, 2 / 3))
    pooled = DepthMetrics()
    pooled.update(pred[:1], gt[:1])
    pooled.update(pred[1:], gt[1:])
    assert pooled.compute() == pytest.approx(m)
    with pytest.raises(ValueError, match="no valid ground-truth pixels"):
        depth_metrics(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="same shape"):
        depth_metrics(np.ones(3), np.ones(4))


def test_echodepth_env_observes_echo_rgb_and_depth(tmp_path):
    mesh = shoebox(6.0, 4.0, 2.8, "plaster").export(tmp_path / "box.ply")
    env = gym.make("earshot/EchoDepth-v0", split="test", scenes=[str(mesh)], resolution=32, renderer="raycast")
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"rgb", "depth", "echo"}
    assert obs["echo"].shape == (257, 166, 2) and obs["echo"].dtype == np.float32
    assert env.observation_space.contains(obs)
    assert 0.0 <= obs["echo"].min() and obs["echo"].max() <= 1.0 and obs["echo"].max() > 0.01
    # the observed echo is the acoustics module's, at the agent's pose
    sim = env.unwrapped.sim
    head = sim.graph.positions[sim.node] + [0, 0, ECHO_CONFIG.ear_height]
    rir = echo_rirs(sim.ctx.scene, head[None])[0]
    assert np.allclose(obs["echo"], echo_spectrogram(echo_audio(rir, sim.heading)), atol=1e-6)
    obs, reward, terminated, truncated, info = env.step(2)
    assert reward == 0.0 and not terminated
    env.close()


def test_navigation_envs_take_echoes_as_an_extra_key():
    env = gym.make("earshot/AudioGoal-v0", split="test", scenes=1, echoes=True, sensors=["spectrogram", "echo"])
    obs, _ = env.reset(seed=0)
    assert obs["spectrogram"].shape == (65, 26, 2) and obs["echo"].shape == (257, 166, 2)
    env.close()
    with pytest.raises(ValueError, match="must be below half the sample rate"):
        gym.make("earshot/AudioGoal-v0", scenes=1, echoes=True, echo_config=AudioConfig(sample_rate=16_000))
    with pytest.raises(ValueError, match="echo_config applies only with echoes=True"):
        gym.make("earshot/AudioGoal-v0", scenes=1, echo_config=ECHO_CONFIG)


def test_tiny_training_run_learns_checkpoints_and_evaluates(tmp_path):
    torch = pytest.importorskip("torch")
    from earshot.agents.echo_data import echo_dataset

    data = echo_dataset(tmp_path / "data", "val", 48, 16, shard_size=48, progress=False)
    run = tmp_path / "run"
    out = subprocess.run([sys.executable, str(SCRIPTS / "train_echo_depth.py"), "--split", "val", "--epochs", "6",
                          "--run-dir", str(run), "--model", "fusion", "--data", str(data), "--resolution", "16",
                          "--width", "4", "--val-samples", "0", "--batch-size", "16", "--no-progress"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    history = json.loads((run / "train_summary.json").read_text())["history"]
    assert history[-1]["train_l1"] < 0.8 * history[0]["train_l1"]
    assert (run / "checkpoints" / "latest" / "model.pt").exists() and list((run / "tb").iterdir())
    # the checkpoint holds only tensors: it loads with weights_only=True
    state = torch.load(run / "checkpoints" / "latest" / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    ev = subprocess.run([sys.executable, str(SCRIPTS / "evaluate_echo_depth.py"), "--checkpoint", str(run),
                         "--data", str(data), "--out", str(tmp_path / "eval")], capture_output=True, text=True, timeout=600)
    assert ev.returncode == 0, ev.stderr[-2000:]
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    for key in ("rmse", "rel", "log10", "mae", "delta1", "delta2", "delta3"):
        assert np.isfinite(summary[key])
    assert 0 < summary["delta1"] <= summary["delta2"] <= summary["delta3"] <= 1
    assert "mean_depth_baseline" in summary


def test_bad_checkpoints_and_models_are_one_clear_error(tmp_path):
    pytest.importorskip("torch")
    from earshot.agents.echo_depth import EchoDepthNet, load_checkpoint

    with pytest.raises(ValueError, match="size must be a power of 2"):
        EchoDepthNet("echo", 48)
    with pytest.raises(ValueError, match="model must be one of echo, rgb, fusion"):
        EchoDepthNet("sonar", 32)
    with pytest.raises(FileNotFoundError, match="is not an echo-depth checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({"kind": "echo-depth", "model": "echo", "size": 16, "max_depth": 10.0}))
    (tmp_path / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be loaded"):
        load_checkpoint(tmp_path)


def test_echo_data_with_other_settings_is_kept_not_remade(tmp_path):
    """An echo data folder made with other settings (another seed here; an earshot default that
    changed, in practice) is never deleted: these settings get a sibling folder."""
    from earshot.agents.echo_data import echo_dataset

    first = echo_dataset(tmp_path / "data", "val", 4, 8, seed=0, shard_size=4, progress=False)
    before = {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()}
    second = echo_dataset(tmp_path / "data", "val", 4, 8, seed=1, shard_size=4, progress=False)
    assert second != first and second.parent == first.parent and (second / "manifest.json").exists()
    assert {p.name: p.read_bytes() for p in first.iterdir() if p.is_file()} == before
    assert echo_dataset(tmp_path / "data", "val", 4, 8, seed=1, shard_size=4, progress=False) == second

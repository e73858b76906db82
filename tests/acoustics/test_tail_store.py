"""Traced tails on disk (acoustics.tail_store): traced once per scene, origin and settings, then
read by every SceneAcoustics (process, run) sharing the folder, bit-identical to tracing."""

import logging

import gymnasium as gym
import numpy as np
import pytest

import earshot.av_env  # noqa: F401
from earshot.acoustics import AudioConfig, SceneAcoustics, compute_rirs, raytrace
from earshot.acoustics.tail_store import TailStore
from earshot.scenes import NavGraph, generate_apartment, split_seeds


@pytest.fixture
def traces(monkeypatch):
    calls = []
    original = raytrace._trace
    monkeypatch.setattr(raytrace, "_trace", lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


def _points():
    scene = generate_apartment(split_seeds("val")[1])
    graph = NavGraph.build(scene)
    rng = np.random.default_rng(0)
    nodes = rng.choice(len(graph), 12, replace=False)
    return scene, graph.positions[nodes[0]] + [0, 0, 1.5], graph.positions[nodes[1:]] + [0, 0, 1.5]


def _binaural(rirs):
    return [r.binaural(h) for r in rirs for h in (0.0, 1.0)]


def test_a_stored_tail_is_read_not_traced_and_is_bit_identical(tmp_path, traces):
    scene, src, recs = _points()
    cfg = AudioConfig()
    fresh = _binaural(compute_rirs(scene, src, recs, cfg, acoustics=SceneAcoustics(scene)))
    traced_alone = len(traces)
    assert traced_alone > 0
    first = _binaural(compute_rirs(scene, src, recs, cfg, acoustics=SceneAcoustics(scene, tail_store=TailStore(tmp_path))))
    assert len(traces) == 2 * traced_alone and len(list(tmp_path.glob("*.npz"))) == traced_alone
    store = TailStore(tmp_path)
    again = _binaural(compute_rirs(scene, src, recs, cfg, acoustics=SceneAcoustics(scene, tail_store=store)))
    assert len(traces) == 2 * traced_alone  # nothing traced: every room's tail came from disk
    assert store.hits == traced_alone and store.misses == 0
    for a, b, c in zip(fresh, first, again):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    # other settings are other entries: more rays trace again
    compute_rirs(scene, src, recs, AudioConfig(rays=1000), acoustics=SceneAcoustics(scene, tail_store=store))
    assert len(traces) > 2 * traced_alone


def test_a_corrupt_entry_is_reported_removed_and_traced_again(tmp_path, traces, caplog):
    scene, src, recs = _points()
    cfg = AudioConfig()
    want = _binaural(compute_rirs(scene, src, recs, cfg, acoustics=SceneAcoustics(scene, tail_store=TailStore(tmp_path))))
    for f in tmp_path.glob("*.npz"):
        data = bytearray(f.read_bytes())
        data[len(data) // 2] ^= 0xFF
        f.write_bytes(bytes(data))
    before = len(traces)
    store = TailStore(tmp_path)
    with caplog.at_level(logging.WARNING):
        got = _binaural(compute_rirs(scene, src, recs, cfg, acoustics=SceneAcoustics(scene, tail_store=store)))
    assert store.corrupt >= 1 and "corrupt traced-tail cache entry" in caplog.text
    assert len(traces) > before
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)


def test_envs_sharing_a_tail_cache_trace_each_room_once(tmp_path, traces):
    kwargs = dict(scenes=2, episodes_per_scene=3, sensors=["spectrogram"], split="val")

    def rollout(**extra):
        env = gym.make("earshot/AudioGoal-v0", **kwargs, **extra)
        out, rng = [], np.random.default_rng(0)
        obs, _ = env.reset(seed=0)
        out.append(obs["spectrogram"])
        for _ in range(25):
            obs, _, terminated, truncated, _ = env.step(int(rng.integers(1, 4)))
            out.append(obs["spectrogram"])
            if terminated or truncated:
                obs, _ = env.reset()
        env.close()
        return out

    plain = rollout(tail_cache=False)  # no disk cache at all (not the per-user folder)
    first_traces = len(traces)
    assert first_traces > 0
    rollout(tail_cache=str(tmp_path))
    assert len(traces) == 2 * first_traces
    shared = rollout(tail_cache=str(tmp_path))
    assert len(traces) == 2 * first_traces  # the second env traced nothing
    for a, b in zip(plain, shared):
        np.testing.assert_array_equal(a, b)


def test_a_bad_tail_cache_gets_one_clear_error(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="tail_cache .* is a file"):
        TailStore(f)
    with pytest.raises(ValueError, match="tail_cache must be a folder path"):
        gym.make("earshot/AudioGoal-v0", scenes=1, tail_cache=3)


def test_envs_and_the_scenes_own_acoustics_use_the_per_user_cache_by_default(tmp_path, monkeypatch, traces):
    from earshot.acoustics import scene_acoustics
    from earshot.acoustics import tail_store

    monkeypatch.setenv(tail_store.CACHE_ENV, str(tmp_path / "user"))
    kwargs = dict(scenes=1, episodes_per_scene=2, sensors=["spectrogram"], split="val")
    env = gym.make("earshot/AudioGoal-v0", **kwargs)
    first, _ = env.reset(seed=0)
    env.close()
    traced = len(traces)
    assert traced > 0 and len(list((tmp_path / "user" / "tails").glob("*.npz"))) == traced
    env = gym.make("earshot/AudioGoal-v0", **kwargs)  # a second run: read, not traced
    again, _ = env.reset(seed=0)
    env.close()
    assert len(traces) == traced
    np.testing.assert_array_equal(first["spectrogram"], again["spectrogram"])
    # compute_rirs without acoustics= (the precompute, datasets) reads the same folder
    scene, src, recs = _points()
    assert scene_acoustics(scene).tail_store is tail_store.default_tail_store()
    assert tail_store.default_tail_store().root == tmp_path / "user" / "tails"
    # opting out: tail_cache=False for one env, EARSHOT_CACHE=off for everything
    env = gym.make("earshot/AudioGoal-v0", **kwargs, tail_cache=False)
    assert env.unwrapped.source.tail_store is None
    env.close()
    monkeypatch.setenv(tail_store.CACHE_ENV, "off")
    assert tail_store.default_tail_store() is None
    env = gym.make("earshot/AudioGoal-v0", **kwargs)
    assert env.unwrapped.source.tail_store is None
    env.close()
    monkeypatch.delenv(tail_store.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tail_store.default_tail_store().root == tmp_path / "xdg" / "earshot" / "tails"


def test_a_default_cache_that_is_a_file_gets_one_clear_error(tmp_path, monkeypatch):
    from earshot.acoustics import tail_store

    f = tmp_path / "file"
    f.write_text("x")
    monkeypatch.setenv(tail_store.CACHE_ENV, str(f))
    with pytest.raises(ValueError, match="EARSHOT_CACHE"):
        tail_store.default_tail_store()

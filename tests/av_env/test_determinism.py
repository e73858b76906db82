"""Determinism without holes: for every task and several seeds, a rollout gives bit-identical
observations, rewards and infos in a plain env, with a cold on-disk RIR cache and with the same
cache warm (another env reading what the first wrote): the cache stores exactly what the direct
path computes."""

import gymnasium as gym
import numpy as np
import pytest

import earshot.av_env as av_env

ACTIONS = [1, 2, 1, 1, 3, 1, 2, 1]  # forward and turns, never STOP
FAST = dict(scenes=1, episodes_per_scene=3, resolution=16, renderer="raycast")


def _rollout(env_id, seed, **kw):
    env = gym.make(env_id, **{**FAST, **kw})
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in ACTIONS:
        action = a % env.action_space.n if hasattr(env.action_space, "n") else env.action_space.sample()
        obs, reward, term, trunc, info = env.step(action)
        out.append((obs, reward, {k: v for k, v in info.items() if isinstance(v, (int, float, np.number))}))
        if term or trunc:
            obs, _ = env.reset()
            out.append(obs)
    env.close()
    return out


def _same(a, b, where=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert np.array_equal(np.asarray(a), np.asarray(b)), f"differs at {where}"


@pytest.mark.parametrize("env_id", list(av_env.ENV_IDS))
def test_cold_and_warm_cache_rollouts_equal_the_direct_path(env_id, tmp_path):
    for seed in (0, 7):
        direct = _rollout(env_id, seed)
        cold = _rollout(env_id, seed, rir_cache=str(tmp_path / f"cache{seed}"))
        warm = _rollout(env_id, seed, rir_cache=str(tmp_path / f"cache{seed}"))
        _same(direct, cold, f"{env_id} seed {seed} cold")
        _same(direct, warm, f"{env_id} seed {seed} warm")


def test_a_floor_height_off_by_float32_rounding_changes_nothing(tmp_path, monkeypatch):
    """Some CPUs find the floor 1.19e-7 m above 0 (float32 ray casting): the cached and the direct
    path still hear the same (both compute at positions to the millimetre)."""
    from earshot.scenes import navigation

    build = navigation.NavGraph.build.__func__

    def lifted(cls, *args, **kwargs):
        graph = build(cls, *args, **kwargs)
        graph.positions = graph.positions + np.array([0.0, 0.0, 1.19e-7])
        return graph

    monkeypatch.setattr(navigation.NavGraph, "build", classmethod(lifted))
    for seed in (0, 3):
        direct = _rollout("earshot/AudioGoal-v0", seed)
        cached = _rollout("earshot/AudioGoal-v0", seed, rir_cache=str(tmp_path / f"c{seed}"))
        _same(direct, cached, f"seed {seed}")

"""The on-disk scene cache: a stored scene and NavGraph come back equal (content hash, nodes,
edges, geodesics, occupancy), an env using it steps identically, and damage or a changed mesh
file leads to a rebuild, never to a wrong scene."""

import numpy as np
import pytest

from earshot.scenes import NavGraph, generate_apartment, load_scene, shoebox
from earshot.scenes.refs import procedural_ref
from earshot.scenes.store import SceneCache


@pytest.fixture(scope="module")
def built():
    scene = generate_apartment(3)
    return scene, NavGraph.build(scene)


def test_round_trip_is_exact(tmp_path, built):
    scene, graph = built
    cache = SceneCache(tmp_path)
    key = SceneCache.key(procedural_ref(3), spacing=0.5)
    assert cache.load(key) is None
    cache.save(key, scene, graph)
    s2, g2 = SceneCache(tmp_path).load(key)
    assert s2.content_hash == scene.content_hash
    assert [o.category for o in s2.objects] == [o.category for o in scene.objects]
    assert [r.bounds for r in s2.rooms] == [r.bounds for r in scene.rooms] and len(s2.doors) == len(scene.doors)
    np.testing.assert_array_equal(g2.positions, graph.positions)
    np.testing.assert_array_equal(g2.edges, graph.edges)
    np.testing.assert_array_equal(g2.distances_from(0), graph.distances_from(0))
    for name, value in graph.occupancy.items():
        np.testing.assert_array_equal(np.asarray(g2.occupancy[name]), np.asarray(value))
    a, b = graph.positions[:20, :2], graph.positions[20:40, :2]
    np.testing.assert_array_equal(g2.segments_free(a, b), graph.segments_free(a, b))
    # the loaded scene casts rays like the built one
    o, d = graph.positions[:5] + [0, 0, 1.5], np.tile([1.0, 0.0, 0.0], (5, 1))
    np.testing.assert_array_equal(s2.ray_caster.intersect(o, d)[0], scene.ray_caster.intersect(o, d)[0])


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_entry_is_rebuilt(tmp_path, built, damage, caplog):
    scene, graph = built
    cache = SceneCache(tmp_path)
    key = SceneCache.key(procedural_ref(3), spacing=0.5)
    cache.save(key, scene, graph)
    path = cache.path(key)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2] if damage == "truncate" else b"\x00garbage" * 100)
    with caplog.at_level("WARNING"):
        got, g = cache.get_or_build(key, lambda: built)
    assert "corrupt scene cache entry" in caplog.text and cache.corrupt == 1
    assert got.content_hash == scene.content_hash
    assert SceneCache(tmp_path).load(key) is not None  # rewritten whole


def test_a_changed_mesh_file_is_rebuilt(tmp_path):
    path = tmp_path / "room.ply"
    shoebox(4.0, 3.0, 2.5).mesh.export(path)
    first = SceneCache.key(str(path), spacing=0.5)
    shoebox(5.0, 3.0, 2.5).mesh.export(path)
    assert SceneCache.key(str(path), spacing=0.5) != first
    assert SceneCache.key(procedural_ref(3), spacing=0.5) != SceneCache.key(procedural_ref(3), spacing=1.0)
    assert load_scene(path).bounds[1, 0] == pytest.approx(5.0)


def test_env_with_scene_cache_steps_identically(tmp_path):
    import gymnasium as gym

    import earshot.av_env  # noqa: F401

    kw = dict(scenes=2, episodes_per_scene=3, resolution=32)
    actions = [1, 2, 1, 3, 1, 1, 2, 1] * 3

    def rollout(env):
        out = []
        for ep in range(4):
            obs, _ = env.reset(seed=ep)
            trace = [obs["spectrogram"].sum(), obs["depth"].sum()]
            for a in actions:
                obs, r, term, trunc, _ = env.step(a)
                trace += [obs["spectrogram"].sum(), obs["rgb"].sum(), r]
                if term or trunc:
                    break
            out.append(trace)
        env.close()
        return out

    plain = rollout(gym.make("earshot/AudioGoal-v0", **kw))
    cold = gym.make("earshot/AudioGoal-v0", scene_cache=str(tmp_path), **kw)
    first = rollout(cold)
    warm = gym.make("earshot/AudioGoal-v0", scene_cache=str(tmp_path), **kw)
    second = rollout(warm)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    assert warm.unwrapped.scene_cache.hits == 2 and warm.unwrapped.scene_cache.misses == 0
    assert plain == first == second


def test_code_version_covers_every_scene_builder_module():
    """An edit of any module that builds scenes or NavGraphs must change the cache key: every
    module the builders import from earshot.scenes is hashed."""
    import ast
    from pathlib import Path

    from earshot.scenes import store

    here = Path(store.__file__).resolve().parent
    needed, todo = set(), ["procedural.py", "navigation.py", "loading.py", "refs.py"]
    while todo:
        name = todo.pop()
        if name in needed or not (here / name).is_file():
            continue
        needed.add(name)
        for node in ast.walk(ast.parse((here / name).read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                todo.append(node.module.split(".")[0] + ".py")
    ignored = {"checks.py", "angles.py", "lru.py", "npzio.py", "topdown.py"}  # no part of what is stored
    assert needed - ignored <= set(store._BUILDER_FILES)

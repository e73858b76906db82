"""Per-scene acoustic state: one SceneAcoustics per scene, no module-global state."""

import gc
import pickle
import weakref

import numpy as np
import pytest

from earshot.acoustics import AudioConfig, RIRCache, compute_rirs
from earshot.acoustics.scene_acoustics import SceneAcoustics, scene_acoustics
from earshot.scenes import NavGraph, generate_apartment, shoebox
from earshot.scenes.lru import BUDGETS, Budgets


@pytest.fixture(scope="module")
def apartment():
    scene = generate_apartment(3, n_rooms=3)
    graph = NavGraph.build(scene)
    audio = AudioConfig(rir_seconds=0.3, rays=500)
    return scene, graph.positions + [0, 0, audio.ear_height], audio


def _same(a, b) -> None:
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.binaural(0.0), y.binaural(0.0))


def test_explicit_acoustics_gives_the_same_rirs_and_holds_the_state(apartment):
    scene, points, audio = apartment
    own = compute_rirs(scene, points[0], points[:6], audio)
    acoustics = SceneAcoustics(scene)
    mine = compute_rirs(scene, points[0], points[:6], audio, acoustics=acoustics)
    _same(own, mine)
    assert len(acoustics.energy_fields) == 1 and len(acoustics.image_sources) == 1 and acoustics.room_stats
    assert acoustics.openings is not None or not scene.doors
    acoustics.close()
    assert len(acoustics.energy_fields) == 0 and acoustics.openings is None and acoustics.structure is None
    _same(own, compute_rirs(scene, points[0], points[:6], audio, acoustics=acoustics))  # rebuilt on use


def test_the_scene_keeps_its_own_and_frees_it_with_itself():
    scene = shoebox(4.0, 3.0, 2.5)
    compute_rirs(scene, [1.0, 1.0, 1.2], [[3.0, 2.0, 1.2]], AudioConfig(rir_seconds=0.2, rays=200))
    own = scene_acoustics(scene)
    assert own is scene_acoustics(scene) and own.belongs_to(scene) and len(own.energy_fields) == 1
    watch = weakref.ref(own)
    del scene, own
    gc.collect()
    assert watch() is None  # nothing outside the scene held it


def test_acoustics_of_another_scene_is_refused_and_budgets_are_passed():
    a, b = shoebox(4.0, 3.0, 2.5), shoebox(4.0, 3.0, 2.5)
    with pytest.raises(ValueError, match="SceneAcoustics of this scene"):
        compute_rirs(a, [1.0, 1.0, 1.2], [[3.0, 2.0, 1.2]], acoustics=SceneAcoustics(b))
    with pytest.raises(ValueError, match="Budgets"):
        SceneAcoustics(a, budgets={"energy_fields": 1})
    small = SceneAcoustics(a, budgets=Budgets(energy_fields=1))
    audio = AudioConfig(rir_seconds=0.2, rays=200)
    for x in (1.0, 2.0):
        compute_rirs(a, [x, 1.0, 1.2], [[3.0, 2.0, 1.2]], audio.replace(ism_order=int(x)), acoustics=small)
    assert len(small.energy_fields) == 1
    with pytest.raises(Exception):
        BUDGETS.energy_fields = 3  # frozen: pass budgets instead


def test_pickled_scene_and_acoustics_start_empty(tmp_path):
    scene = shoebox(4.0, 3.0, 2.5)
    audio = AudioConfig(rir_seconds=0.2, rays=200)
    before = compute_rirs(scene, [1.0, 1.0, 1.2], [[3.0, 2.0, 1.2]], audio)
    copy = pickle.loads(pickle.dumps(scene))
    assert not scene_acoustics(copy) is scene_acoustics(scene)
    assert len(scene_acoustics(copy).energy_fields) == 0
    _same(before, compute_rirs(copy, [1.0, 1.0, 1.2], [[3.0, 2.0, 1.2]], audio))
    acoustics = SceneAcoustics(scene)
    cached = RIRCache(tmp_path).get_many(scene, [1.0, 1.0, 1.2], [[3.0, 2.0, 1.2]], config=audio, acoustics=acoustics)
    _same(before, cached)
    assert len(acoustics.energy_fields) == 1

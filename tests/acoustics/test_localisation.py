"""The localisation check's physics and plumbing (acoustics.localisation): labels from real RIRs
(line of sight in a shoebox, the door path in an apartment), determinism, and a tiny end-to-end run."""

import json

import numpy as np
import pytest

from earshot.acoustics import AudioConfig, compute_rirs
from earshot.acoustics.localisation import (LocalisationConfig, azimuth_bin, bootstrap_ci, classify_rir, front_back,
                                            relative_azimuth, rir_part, run_localisation,
                                            sample_labels, scene_samples)
from earshot.scenes import NavGraph, generate_apartment

CFG = AudioConfig()
C = CFG.speed_of_sound


def _los(room, src, rec):
    rir = compute_rirs(room, np.array(src, float), np.array([rec], float), CFG)[0]
    kind, direction = classify_rir(rir, np.array(src, float), np.array(rec, float), True, C)
    return kind, direction


def test_bins_and_front_back_boundaries():
    deg = np.radians
    assert list(azimuth_bin(deg([0, 22.4, 22.6, 45, 90, 180, 270, 337.6, 359.9]))) == [0, 0, 1, 1, 2, 4, 6, 0, 0]
    # front half, back half, and the ±15° band around ±90° dropped (-1)
    assert list(front_back(deg([0, 74, 76, 90, 104, 106, 180, 254, 256, 286, 300]))) == [0, 0, -1, -1, -1, 1, 1, 1, -1, 0, 0]
    # counter-clockwise from the head's forward direction: +y is left of a head facing +x
    assert relative_azimuth([0.0, 1.0, 0.0], 0.0) == pytest.approx(np.pi / 2)
    assert relative_azimuth([1.0, 0.0, 0.0], np.pi / 2) == pytest.approx(3 * np.pi / 2)


def test_los_labels_from_a_real_rir(room):
    src, rec = [4.5, 2.0, 1.5], [1.5, 2.0, 1.5]  # the source 3 m along +x from the receiver
    kind, direction = _los(room, src, rec)
    assert kind == "los"
    np.testing.assert_allclose(direction, [1.0, 0.0, 0.0], atol=1e-9)
    ahead = relative_azimuth(direction, 0.0)  # a head facing the source
    assert azimuth_bin(ahead) == 0 and front_back(ahead) == 0
    left = relative_azimuth(direction, -np.pi / 2)  # facing -y: the source is on its left
    assert azimuth_bin(left) == 2
    behind = relative_azimuth(direction, np.pi)  # facing away
    assert azimuth_bin(behind) == 4 and front_back(behind) == 1
    labels = sample_labels(np.array([0, 0, 0]), np.array([ahead, left, behind]))
    assert list(labels["azimuth-8"]) == [0, 2, 4]
    assert list(labels["front-back"]) == [0, -1, 1]
    assert list(labels["door-8"]) == [-1, -1, -1]


def test_rir_part_controls(room):
    src, rec = np.array([4.5, 2.0, 1.5]), np.array([1.5, 2.0, 1.5])
    rir = compute_rirs(room, src, rec[None], CFG)[0]
    direct, early = rir_part(rir, "direct"), rir_part(rir, "early")
    assert rir_part(rir, "full") is rir
    assert len(direct.delays) == 1 and direct.delays[0] == rir.delays.min()
    assert 1 < len(early.delays) <= len(rir.delays) and early.delays.max() < rir.delays.min() + 0.05
    first = int(rir.delays.min() * CFG.sample_rate)
    for part in (direct, early):
        b = part.binaural(0.3)
        assert np.isfinite(b).all() and np.abs(b[:, first + 1200:]).max() == 0.0  # no tail
    assert np.abs(rir.binaural(0.3)[:, first + 1200:]).max() > 0


@pytest.fixture(scope="module")
def nlos_pairs():
    scene = generate_apartment(7)
    graph = NavGraph.build(scene)
    pos = graph.positions
    rooms = np.array([scene.room_at(p) for p in pos])
    src = pos[0] + [0, 0, CFG.source_height]
    other = np.flatnonzero(rooms != rooms[0])[::5]
    ears = pos[other] + [0, 0, CFG.ear_height]
    rirs = compute_rirs(scene, src, ears, CFG, check_free_space=False)
    return scene, src, other, rooms, ears, rirs


def test_same_room_pairs_have_a_direct_path(apartment, apartment_graph):
    pos = apartment_graph.positions
    rooms = np.array([apartment.room_at(p) for p in pos])
    same = np.flatnonzero((rooms == rooms[0]) & (np.linalg.norm(pos[:, :2] - pos[0, :2], axis=1) > 0.9))[:12]
    src = pos[0] + [0, 0, CFG.source_height]
    ears = pos[same] + [0, 0, CFG.ear_height]
    rirs = compute_rirs(apartment, src, ears, CFG, check_free_space=False)
    kinds = [classify_rir(r, src, e, True, C)[0] for r, e in zip(rirs, ears)]
    assert len(kinds) >= 5 and all(k == "los" for k in kinds)


def test_nlos_label_is_the_first_arrival_through_the_door(nlos_pairs):
    scene, src, other, rooms, ears, rirs = nlos_pairs
    through, differs, n = 0, 0, 0
    for node, ear, rir in zip(other, ears, rirs):
        kind, direction = classify_rir(rir, src, ear, False, C)
        if kind != "nlos":
            continue
        n += 1
        np.testing.assert_allclose(direction, rir.directions[np.argmin(rir.delays)])
        # the horizontal ray from the ear along the label crosses a door opening of the ear's room
        for door in scene.doors:
            if rooms[node] not in door.rooms:
                continue
            ax = door.normal_axis
            if abs(direction[ax]) < 1e-9:
                continue
            t = (door.center[ax] - ear[ax]) / direction[ax]
            if t > 0 and abs(ear[1 - ax] + t * direction[1 - ax] - door.center[1 - ax]) <= door.width / 2 + 0.3:
                through += 1
                break
        to_source = relative_azimuth(src - ear, 0.0)
        differs += int(azimuth_bin(relative_azimuth(direction, 0.0)) != azimuth_bin(to_source))
    assert n >= 10
    assert through >= 0.9 * n  # the first arrival points at the door opening ...
    assert differs >= 0.5 * n  # ... which is mostly not where the source is


def _small(tmp_path, **kw):
    base = dict(out=str(tmp_path), train_scenes=2, test_scenes=1, sources_per_scene=1, receivers_per_source=6,
                heads="sphere", features="spectrogram", epochs=1, bootstrap=50, val_fraction=0.5)
    base.update(kw)
    return LocalisationConfig(**base)


def test_samples_are_deterministic(tmp_path):
    cfg = _small(tmp_path)
    a = scene_samples(2_000_000, "test", cfg)
    b = scene_samples(2_000_000, "test", cfg)
    assert len(a["kind"]) > 0
    for k in ("kind", "azimuth", "heading", "sound", "offset", "src", "rec"):
        np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_array_equal(a["feats"]["sphere"]["spectrogram"], b["feats"]["sphere"]["spectrogram"])
    c = scene_samples(2_000_000, "test", _small(tmp_path, seed=1))
    assert not np.array_equal(a["heading"], c["heading"])


def test_tiny_end_to_end_run(tmp_path):
    cfg = _small(tmp_path, heads="sphere,kemar", features="spectrogram,gcc-phat")
    results = run_localisation(cfg, log=lambda *_: None)
    assert [(r["head"], r["feature"]) for r in results["rows"]] == [
        ("sphere", "spectrogram"), ("sphere", "gcc-phat"), ("kemar", "spectrogram"), ("kemar", "gcc-phat")]
    for row in results["rows"]:
        assert set(row["labels"]) == {"azimuth-8", "front-back", "door-8"}
        for r in row["labels"].values():
            if r["n_test"]:
                assert 0 <= r["ci"][0] <= r["acc"] <= r["ci"][1] <= 1
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["rows"]) == 4
    table = (tmp_path / "table.md").read_text().splitlines()
    assert table[0] == "| head | feature | LOS azimuth-8 | LOS front/back | NLOS door-8 |"
    assert len(table) == 2 + 1 + 4 + 1  # header, rule, targets, 4 rows, counts
    assert (tmp_path / "features.npz").exists()
    again = run_localisation(cfg, log=lambda *_: None)  # reuses the stored features: the same numbers
    assert [r["labels"]["azimuth-8"]["acc"] for r in again["rows"]] == \
           [r["labels"]["azimuth-8"]["acc"] for r in results["rows"]]


def test_bootstrap_resamples_scenes():
    correct = np.r_[np.ones(10), np.zeros(10)]
    groups = np.r_[np.zeros(10), np.ones(10)]
    acc, lo, hi = bootstrap_ci(correct, groups, 1000, 0)
    assert acc == 0.5 and lo == 0.0 and hi == 1.0  # two scenes, one all right, one all wrong
    acc, lo, hi = bootstrap_ci(np.ones(7), np.arange(7), 100, 0)
    assert acc == lo == hi == 1.0


def test_config_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="features"):
        _small(tmp_path, features="nope").check()
    with pytest.raises(ValueError, match="labels"):
        _small(tmp_path, labels="azimuth-9").check()

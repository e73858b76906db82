import numpy as np
import pytest
import trimesh
from scipy.signal import resample_poly

from earshot.acoustics import AudioConfig, SphericalHead, compute_rir, compute_rirs
from earshot.acoustics.decay import t30
from earshot.acoustics.geometry import eyring_rt60, sabine_rt60
from earshot.scenes import NavGraph, Scene, generate_apartment, get_material, shoebox, uniform_material

C = 343.0


def schroeder_rt60(h: np.ndarray, fs: int) -> float:
    """T30 of an impulse response (ISO 3382: Schroeder integral, −5 to −35 dB)."""
    return t30(np.asarray(h, np.float64) ** 2, 1.0 / fs)


@pytest.fixture(scope="module")
def big_room():
    return shoebox(8.0, 6.0, 3.0, uniform_material(0.3, 0.5))


@pytest.mark.parametrize("fs", [16_000, 44_100])
def test_direct_path_delay_and_amplitude(big_room, fs):
    """The first arrival is at d/c·fs ± 1 sample with amplitude 1/d (±10%)."""
    cfg = AudioConfig(sample_rate=fs)
    src = np.array([1.0, 3.0, 1.5])
    for d in (0.5, 1.0, 2.0, 3.5, 5.0):
        h = compute_rir(big_room, src, src + [d, 0.0, 0.0], cfg).omni()
        first = int(np.flatnonzero(np.abs(h) > 0.1 * np.abs(h).max())[0])
        assert abs(first - d / C * fs) <= 1.0
        peak = np.abs(h[first - 1: first + 2]).max()
        assert peak == pytest.approx(1.0 / d, rel=0.10)
    assert np.all(h[: int(d / C * fs) - 2] == pytest.approx(0.0, abs=1e-3))  # nothing before the sound


def test_batch_equals_single(big_room):
    src = [2.0, 2.0, 1.5]
    receivers = np.array([[5.0, 4.0, 1.5], [3.0, 1.0, 1.2], [7.0, 5.0, 1.8]])
    batch = compute_rirs(big_room, src, receivers)
    for r, rir in zip(receivers, batch):
        np.testing.assert_allclose(rir.omni(), compute_rir(big_room, src, r).omni(), atol=1e-6)
        np.testing.assert_allclose(rir.binaural(0.4), compute_rir(big_room, src, r).binaural(0.4), atol=1e-6)


@pytest.mark.parametrize("azimuth_deg", [30, 60, 90])
def test_itd_follows_woodworth_and_left_ear_leads(big_room, azimuth_deg):
    fs = 44_100
    rec = np.array([4.0, 3.0, 1.5])
    az = np.radians(azimuth_deg)
    src = rec + 2.0 * np.array([np.cos(az), np.sin(az), 0.0])  # on the left of a head facing +x
    b = compute_rir(big_room, src, rec, AudioConfig(sample_rate=fs)).binaural(0.0)
    n = int((2.0 / C + 0.003) * fs)  # the direct sound only
    up = 16
    left, right = resample_poly(b[0, :n], up, 1), resample_poly(b[1, :n], up, 1)
    lag = (np.argmax(np.correlate(right, left, "full")) - (len(left) - 1)) / (fs * up)
    woodworth = 0.0875 / C * (az + np.sin(az))
    assert lag > 0  # the left (near) ear leads
    assert lag == pytest.approx(woodworth, rel=0.15)
    # and is louder above 2 kHz
    spec_l = np.abs(np.fft.rfft(b[0, :n], 4096))
    spec_r = np.abs(np.fft.rfft(b[1, :n], 4096))
    high = np.fft.rfftfreq(4096, 1 / fs) > 2000
    assert spec_l[high].mean() > 2 * spec_r[high].mean()


def test_turning_180_degrees_swaps_the_ears(big_room):
    """The spherical head is symmetric left/right and front/back (KEMAR: tests/acoustics/test_heads.py)."""
    rir = compute_rir(big_room, [6.0, 5.0, 1.5], [3.0, 2.0, 1.5], AudioConfig(head="sphere"))
    for heading in (0.0, 0.7, -2.0):
        a, b = rir.binaural(heading), rir.binaural(heading + np.pi)
        np.testing.assert_allclose(a[0], b[1], atol=1e-5)
        np.testing.assert_allclose(a[1], b[0], atol=1e-5)
    # the ears differ, and the mono RIR is not one of them
    a = rir.binaural(0.3)
    assert not np.allclose(a[0], a[1], atol=1e-3)


def test_late_tail_is_decorrelated_between_ears(big_room):
    rir = compute_rir(big_room, [6.0, 5.0, 1.5], [3.0, 2.0, 1.5])
    b = rir.binaural(0.0)
    late = slice(int(0.1 * rir.sample_rate), int(0.3 * rir.sample_rate))
    rho = np.corrcoef(b[0, late], b[1, late])[0, 1]
    assert abs(rho) < 0.8


@pytest.mark.parametrize("fs", [16_000, 44_100])
def test_binaural_rir_is_continuous_in_heading(big_room, fs):
    """Headings on the 45° grid take a per-heading shortcut (tail bank summed once per heading,
    HRTF phases as running products); a heading 1e-5 rad away takes the general path. The two
    must be the same sound: same level per ear and the same waveform."""
    rir = compute_rir(big_room, [6.0, 5.0, 1.5], [3.0, 2.0, 1.5], AudioConfig(sample_rate=fs))
    for heading in (0.0, np.pi / 2, -3 * np.pi / 4):
        a, b = rir.binaural(heading), rir.binaural(heading + 1e-5)
        level = lambda x: 10 * np.log10((x.astype(np.float64) ** 2).sum(axis=1))  # noqa: E731
        np.testing.assert_allclose(level(a), level(b), atol=0.02)
        for ear in range(2):
            assert np.corrcoef(a[ear], b[ear])[0, 1] > 0.999
        late = slice(int(0.1 * fs), int(0.3 * fs))  # the tail alone, in both paths
        np.testing.assert_allclose(level(a[:, late]), level(b[:, late]), atol=0.05)


def test_hrtf_on_an_fft_grid_equals_the_general_formula():
    head = SphericalHead(0.0875, C)
    d = np.random.default_rng(0).normal(size=(20, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    grid = np.fft.rfftfreq(4096, 1 / 16_000)
    off_grid = grid.copy()
    off_grid[-1] += 1e-6  # not uniform: the cos/sin formula
    np.testing.assert_allclose(head.responses(d, grid)[..., :-1], head.responses(d, off_grid)[..., :-1], atol=1e-11)


def test_spherical_head_itd_formula():
    head = SphericalHead(0.0875, C)
    for az in np.radians([0, 30, 60, 90]):
        d = np.array([[np.cos(az), np.sin(az), 0.0]])
        assert head.itd(d)[0] == pytest.approx(0.0875 / C * (az + np.sin(az)), abs=1e-9)
    assert head.itd(np.array([[0.0, 1.0, 0.0]]))[0] == pytest.approx(0.66e-3, abs=0.01e-3)  # ≈ 0.66 ms max


@pytest.mark.parametrize("alpha", [0.1, 0.2, 0.3, 0.5])
def test_rt60_follows_eyring(alpha):
    """Shoeboxes with uniform absorption and diffuse walls: measured T30 within 20% of Eyring."""
    w, d, h = 7.0, 5.0, 3.0
    room = shoebox(w, d, h, uniform_material(alpha, scattering=0.6))
    rir = compute_rir(room, [2.0, 2.0, 1.5], [5.0, 3.0, 1.2], AudioConfig(rir_seconds=2.0))
    volume, surface = w * d * h, 2 * (w * d + w * h + d * h)
    expected = 0.161 * volume / (-surface * np.log(1 - alpha))
    assert schroeder_rt60(rir.omni(), rir.sample_rate) == pytest.approx(expected, rel=0.20)
    assert eyring_rt60(volume, surface, np.full(6, alpha))[0] == pytest.approx(expected, rel=0.005)
    assert sabine_rt60(volume, np.full(6, surface * alpha))[0] == pytest.approx(0.161 * volume / (surface * alpha), rel=0.005)


def test_more_absorption_shorter_rt60():
    rts = [schroeder_rt60(compute_rir(shoebox(6, 5, 3, uniform_material(a, 0.6)), [2, 2, 1.5], [4, 3, 1.5]).omni(), 16000)
           for a in (0.1, 0.25, 0.5)]
    assert rts[0] > rts[1] > rts[2]
    # carpet absorbs highs: the 4 kHz band decays faster than the 125 Hz band
    room = shoebox(6, 5, 3, {"walls": "plaster", "floor": "carpet", "ceiling": "ceiling"})
    rir = compute_rir(room, [2, 2, 1.5], [4, 3, 1.5])
    decay = rir.tail_t30()
    assert decay[5] < decay[0]


def test_open_mesh_gives_free_field_direct_path():
    """A floor with a few boxes, no walls or ceiling: a finite, non-empty RIR whose first arrival
    is the free-field direct path, plus a floor reflection, and almost no reverberation."""
    floor = trimesh.Trimesh([[-10, -10, 0], [10, -10, 0], [10, 10, 0], [-10, 10, 0]], [[0, 1, 2], [0, 2, 3]])
    boxes = [trimesh.creation.box((1, 1, 1), trimesh.transformations.translation_matrix(p)) for p in ([3, 3, 0.5], [-4, 2, 0.5])]
    mesh = trimesh.util.concatenate([floor] + boxes)
    scene = Scene(mesh, np.zeros(len(mesh.faces), np.int32), [get_material("wood_floor")])
    src, rec = np.array([0.0, 0.0, 1.5]), np.array([2.0, 0.0, 1.5])
    rir = compute_rir(scene, src, rec)
    h = rir.omni()
    assert np.all(np.isfinite(h)) and np.abs(h).max() > 0
    fs = rir.sample_rate
    first = int(np.flatnonzero(np.abs(h) > 0.5 * np.abs(h).max())[0])
    assert abs(first - 2.0 / C * fs) <= 1 and h[first] == pytest.approx(0.5, rel=0.1)
    floor_path = 2 * np.hypot(1.0, 1.5)  # image in the floor
    assert np.abs(h[int(round(floor_path / C * fs)) - 1: int(round(floor_path / C * fs)) + 2]).max() > 0.1
    late = h[int(0.2 * fs):]
    assert np.sum(late**2) < 0.01 * np.sum(h**2)
    b = rir.binaural(1.0)
    assert b.shape == (2, len(h)) and np.all(np.isfinite(b))


def _wall_pair(scene):
    """A receiver and two sources 2 m away: one through a shared wall far from any door, one in
    line of sight in the receiver's room."""
    for door_rooms in [(i, j) for i in range(len(scene.rooms)) for j in range(len(scene.rooms)) if i < j]:
        a, b = (scene.rooms[k].bounds for k in door_rooms)
        for axis in (0, 1):
            o = 1 - axis
            if abs(a[axis + 2] - b[axis]) < 1e-9:
                lo, hi = max(a[o], b[o]), min(a[o + 2], b[o + 2])
                for t in np.linspace(lo + 0.6, hi - 0.6, 9):
                    doors = [d for d in scene.doors if abs(d.center[o] - t) < 2.0 + d.width]
                    if doors:
                        continue
                    line = a[axis + 2]
                    rec = np.zeros(3)
                    rec[axis], rec[o], rec[2] = line - 1.0, t, 1.5
                    hidden = rec.copy()
                    hidden[axis] = line + 1.0
                    visible = rec.copy()
                    visible[o] = t + (2.0 if t + 2.0 < a[o + 2] - 0.3 else -2.0)
                    if a[axis] < rec[axis] and a[o] + 0.3 < visible[o] < a[o + 2] - 0.3 and hidden[axis] < b[axis + 2]:
                        return rec, hidden, visible
    return None


def test_wall_occludes_direct_path():
    for seed in range(40):
        scene = generate_apartment(seed, furniture=False)
        found = _wall_pair(scene)
        if found:
            break
    else:
        pytest.fail("no apartment with a plain shared wall found")
    rec, hidden, visible = found
    fs = 16000
    r_hidden, r_visible = compute_rirs(scene, rec, np.array([hidden, visible]))  # reciprocity: source at rec
    assert r_visible.direct_delay == pytest.approx(2.0 / C, abs=1 / fs)
    assert r_hidden.direct_delay is None or r_hidden.direct_delay > 2.0 / C + 0.002  # no direct path
    early = slice(0, int(0.05 * fs))
    e_hidden = np.sum(r_hidden.omni()[early] ** 2)
    e_visible = np.sum(r_visible.omni()[early] ** 2)
    assert e_hidden < 0.5 * e_visible


def test_furniture_obstructs_direct_path_high_frequencies():
    from tests.conftest import room_with_sofa

    scene = room_with_sofa()
    blocked = compute_rir(scene, [2.0, 3.0, 1.5], [6.0, 3.0, 1.5])
    clear = compute_rir(scene, [2.0, 1.0, 1.5], [6.0, 1.0, 1.5])
    direct_b = blocked.gains[np.argmin(blocked.delays)]
    direct_c = clear.gains[np.argmin(clear.delays)]
    assert np.all(direct_b < direct_c) and direct_b[5] < direct_b[0]


def test_bad_inputs(big_room):
    with pytest.raises(ValueError, match="source"):
        compute_rir(big_room, [1.0, np.nan, 1.0], [2.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="receivers"):
        compute_rirs(big_room, [1.0, 1.0, 1.0], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="sample_rate"):
        AudioConfig(sample_rate=12345)
    with pytest.raises(ValueError, match="heading"):
        compute_rir(big_room, [1.0, 1.0, 1.0], [2.0, 2.0, 1.0]).binaural(float("nan"))


def test_navgraph_receivers_in_apartment():
    scene = generate_apartment(2_000_001)
    graph = NavGraph.build(scene)
    receivers = graph.positions + [0, 0, 1.5]
    rirs = compute_rirs(scene, receivers[0], receivers)
    assert len(rirs) == len(graph)
    for rir in rirs[:: max(1, len(rirs) // 10)]:
        h = rir.omni()
        assert np.all(np.isfinite(h)) and np.sum(h**2) > 0


def _write_sofa(path, fs=48_000):
    """A minimal SimpleFreeFieldHRIR file over the sphere (rings every 30° of elevation and the
    poles): a toy head whose near ear hears an impulse up to 10 samples earlier and twice as loud
    as the far ear (in proportion to the direction's lateral component)."""
    import h5py

    pos = [(az, el) for el in (-60, -30, 0, 30, 60) for az in np.arange(0, 360, 30.0)] + [(0.0, -90.0), (0.0, 90.0)]
    az, el = np.array(pos, float).T
    ir = np.zeros((len(az), 2, 64))
    for k, (a, e) in enumerate(zip(np.radians(az), np.radians(el))):
        left = np.cos(e) * np.sin(a)  # > 0: source on the left
        near, far = (0, 1) if left >= 0 else (1, 0)
        ir[k, near, 5] = 1.0
        ir[k, far, 5 + int(round(10 * abs(left)))] = 1.0 - 0.5 * abs(left)
    with h5py.File(path, "w") as f:
        f.attrs["SOFAConventions"] = np.bytes_("SimpleFreeFieldHRIR")
        f["Data.IR"] = ir
        f["Data.SamplingRate"] = np.array([fs], float)
        f["SourcePosition"] = np.c_[az, el, np.ones_like(az)]
    return path


def test_a_sofa_head_is_used_through_the_config(tmp_path, big_room):
    """AudioConfig(head="path.sofa"): the set is read, resampled from 48 to 44.1 kHz, and a source
    on the left reaches the left ear ~10 samples (at 48 kHz) earlier and twice as loud."""
    pytest.importorskip("h5py", reason="SOFA files need h5py (pip install h5py)")
    from earshot.acoustics import SofaError, load_head

    path = _write_sofa(tmp_path / "toy.sofa")
    cfg = AudioConfig(sample_rate=44_100, head=str(path))
    assert load_head(cfg).sample_rate == 44_100
    rec = np.array([4.0, 3.0, 1.5])
    b = compute_rir(big_room, rec + [0.0, 2.0, 0.0], rec, cfg).binaural(0.0)  # source on the left
    n = int((2.0 / C + 0.002) * 44_100)
    first_l = np.flatnonzero(np.abs(b[0, :n]) > 0.3 * np.abs(b[0, :n]).max())[0]
    first_r = np.flatnonzero(np.abs(b[1, :n]) > 0.3 * np.abs(b[1, :n]).max())[0]
    assert first_r - first_l == pytest.approx(10 * 44_100 / 48_000, abs=1.5)
    assert np.sum(b[0, :n] ** 2) > 2 * np.sum(b[1, :n] ** 2)
    (tmp_path / "bad.sofa").write_bytes(b"nope")
    with pytest.raises(SofaError, match="not a SOFA file"):
        load_head(AudioConfig(head=str(tmp_path / "bad.sofa")))


@pytest.mark.slow
def test_parametric_tail_tracks_the_ray_traced_hybrid():
    """On held-out apartments the fast tail's T30 is, on average over receivers and bands, within
    20% of the T60 fitted to pyroomacoustics' ray tracer (furniture included)."""
    from earshot.acoustics import tail_vs_raytraced
    from earshot.scenes import split_seeds

    ratios = []
    for seed in list(split_seeds("test"))[:4]:
        scene = generate_apartment(seed)
        graph = NavGraph.build(scene)
        ratios.append(tail_vs_raytraced(scene, graph.positions[len(graph) // 3] + [0, 0, 1.5],
                                        graph.positions[[3, len(graph) // 2]] + [0, 0, 1.5]))
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.2)


def test_door_path_with_tied_distances_does_not_crash():
    """Regression: door-path search compared numpy arrays when two heap entries tied (apartment 4,
    source node 62 raised ValueError). Its length is at least the straight line and at most the
    walk through the door centres that the graph's geodesic follows (plus the wall detours)."""
    from earshot.acoustics.rir import _door_path_length, _room_of

    scene = generate_apartment(4)
    graph = NavGraph.build(scene)
    ears = graph.positions + [0, 0, 1.5]
    rirs = compute_rirs(scene, ears[62], ears)
    assert len(rirs) == len(graph)
    s_room = _room_of(scene, ears[62])
    for m in range(0, len(graph), 7):
        r_room = _room_of(scene, ears[m])
        length = _door_path_length(scene, s_room, r_room, ears[62], ears[m])
        assert length >= np.linalg.norm(ears[m, :2] - ears[62, :2]) - 1e-9
        assert length <= graph.geodesic_distance(62, m) + 2.0  # the graph walks around furniture too


@pytest.mark.parametrize("seed", [4, 2_000_003, 1_000_007])
def test_level_at_the_source_is_bounded(seed):
    """Sources have a size (AudioConfig.source_radius): the energy heard on the source's own node
    stays within 12 dB of one 0.5 m step away, instead of diverging as 1/d² (≈ +50 dB)."""
    scene = generate_apartment(seed)
    graph = NavGraph.build(scene)
    ears = graph.positions + [0, 0, 1.5]
    src = int(np.argmax(graph.distances_from(0)))
    rirs = compute_rirs(scene, ears[src], ears)
    level = lambda m: 10 * np.log10(np.mean(rirs[m].binaural(0.3) ** 2))  # noqa: E731
    at_source = level(src)
    for n in graph.neighbors(src):
        assert 0.0 <= at_source - level(int(n)) <= 12.0
    # beyond the radius, the direct path keeps exactly 1/d
    direct = rirs[int(graph.neighbors(src)[0])]
    d = np.linalg.norm(ears[int(graph.neighbors(src)[0])] - ears[src])
    assert direct.gains[np.argmin(direct.delays)].max() == pytest.approx(1.0 / d)

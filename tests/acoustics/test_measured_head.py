"""The measured head (MIT KEMAR shipped as acoustics/data/kemar.npz; any SimpleFreeFieldHRIR SOFA set),
tested against physics and against the measured data themselves."""

from __future__ import annotations

import numpy as np
import pytest

from earshot.acoustics.hrtf import SphericalHead
from earshot.acoustics.measured_head import KEMAR_PATH, MeasuredHead, SofaError, onset_times

h5py = pytest.importorskip("h5py")


def unit(az_deg, el_deg=0.0):
    """(G, 3) head-frame unit vectors (x forward, y left, z up) for SOFA azimuth/elevation in degrees."""
    az, el = np.radians(np.atleast_1d(az_deg).astype(float)), np.radians(np.broadcast_to(el_deg, np.shape(np.atleast_1d(az_deg))).astype(float))
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def band_levels(h, freqs, bands):
    """(..., B) dB: mean power of complex spectra ``h`` (..., F) over each (lo, hi) band."""
    return np.stack([10 * np.log10((np.abs(h[..., (freqs >= lo) & (freqs < hi)]) ** 2).mean(axis=-1))
                     for lo, hi in bands], axis=-1)


@pytest.fixture(scope="module")
def kemar():
    return MeasuredHead.kemar()


@pytest.fixture(scope="module")
def horizontal(kemar):
    return np.flatnonzero(kemar.elevation_deg == 0)


# ---------------------------------------------------------------------------- the shipped data
def test_shipped_kemar_is_a_small_safe_file_with_its_provenance():
    assert KEMAR_PATH.stat().st_size < 3e6
    with np.load(KEMAR_PATH, allow_pickle=False) as z:  # no object arrays: loads without pickle
        assert z["hrir"].dtype == np.float32 and z["hrir"].shape == (710, 2, 512)
        assert float(z["sample_rate"]) == 44100.0
        assert z["elevation_deg"].min() == -40 and z["elevation_deg"].max() == 90
        assert "Gardner" in str(z["citation"]) and "slab 1.8.2" in str(z["source"])
    licence = (KEMAR_PATH.parent / "KEMAR_LICENSE.md").read_text()
    assert "Gardner" in licence and "MIT License" in licence and "provided the authors" in licence


# ---------------------------------------------------------------------------- ITD / ILD
def test_source_on_the_left_reaches_the_left_ear_first_and_louder(kemar):
    itd = kemar.itd(unit([90.0, -90.0]))
    assert 0.60e-3 < itd[0] < 0.72e-3  # KEMAR: 0.663 ms; t_right - t_left > 0: left leads
    assert itd[1] == pytest.approx(-itd[0], abs=1e-9)
    ild = kemar.ild(unit([90.0]), band=(4000, 8000))[0]
    assert ild > 10.0  # KEMAR: 16.4 dB at 4-8 kHz
    assert kemar.ild(unit([90.0]), band=(8000, 16000))[0] > ild  # the head shadows more at higher frequencies
    assert 0 < kemar.ild(unit([90.0]), band=(500, 1000))[0] < ild
    # the time of arrival referenced to the head centre: the near ear is ahead, the far ear behind
    # and further (around the head): KEMAR -0.21 / +0.46 ms, Woodworth's sphere -0.26 / +0.40 ms
    t = kemar.ear_delays(unit([90.0]))[0]
    assert -0.3e-3 < t[0] < -0.15e-3 and 0.35e-3 < t[1] < 0.55e-3


def test_itd_of_horizontal_directions_is_woodworths_within_40_us(kemar, horizontal):
    d = kemar.directions[horizontal]
    assert np.abs(kemar.itd(d) - SphericalHead().itd(d)).max() < 40e-6  # KEMAR: 38 µs at worst (125°)


def test_itd_and_ild_follow_the_measured_set_at_every_measured_horizontal_direction(kemar, horizontal):
    d, ir = kemar.directions[horizontal], kemar.ir[horizontal]
    onsets = onset_times(ir, kemar.sample_rate)  # straight from the measured HRIRs
    np.testing.assert_allclose(kemar.itd(d), onsets[:, 1] - onsets[:, 0], atol=1e-9)
    freqs = np.linspace(4000, 8000, 401)
    t = np.arange(ir.shape[2]) / kemar.sample_rate
    spec = ir @ np.exp(-2j * np.pi * np.outer(t, freqs))  # DTFT of the measured HRIRs
    power = (np.abs(spec) ** 2).mean(axis=2)
    np.testing.assert_allclose(kemar.ild(d, (4000, 8000)), 10 * np.log10(power[:, 0] / power[:, 1]), atol=0.05)
    # between two measured directions the ITD lies between theirs (onsets interpolate)
    az = kemar.azimuth_deg[horizontal]
    i, j = np.argmin(np.abs(az - 45)), np.argmin(np.abs(az - 50))
    mid = kemar.itd(unit([(az[i] + az[j]) / 2]))[0]
    assert min(kemar.itd(d[[i, j]])) <= mid <= max(kemar.itd(d[[i, j]]))


def test_resampling_to_16_khz_keeps_the_itd_within_one_sample(kemar, horizontal):
    k16 = kemar.at_rate(16000)
    assert k16.sample_rate == 16000 and k16.n_taps == 186  # ceil(512 * 160 / 441)
    d = kemar.directions[horizontal]
    assert np.abs(k16.itd(d) - kemar.itd(d)).max() < 1 / 16000  # KEMAR: 0.2 µs at worst
    # and the band-limited spectra agree below the new Nyquist frequency
    f = np.linspace(200, 7000, 200)
    a, b = kemar.responses(d[::6], f, equalized=False), k16.responses(d[::6], f, equalized=False)
    assert np.abs(20 * np.log10(np.abs(b) / np.abs(a))).max() < 0.5
    assert MeasuredHead.kemar(16000) is MeasuredHead.kemar(16000)  # cached per rate


# ---------------------------------------------------------------------------- spectra: front/back, pinna
def test_front_and_back_differ_for_kemar_but_not_for_the_sphere(kemar):
    freqs = np.arange(0, 22050, 22050 / 2048)
    bands = [(4000, 6000), (6000, 8000), (8000, 10000), (10000, 12000)]
    front_back = unit([0.0, 180.0])
    h = kemar.responses(front_back, freqs)
    levels = band_levels(h[:, 0], freqs, bands)  # left ear
    diff = levels[0] - levels[1]
    assert np.abs(diff).min() > 2.0  # KEMAR: +2.8, -3.7, +2.8, +3.4 dB
    s = (freqs >= 4000) & (freqs < 12000)
    db = 20 * np.log10(np.abs(h[:, 0, s]))
    assert np.sqrt(((db[0] - db[1]) ** 2).mean()) > 4.0  # KEMAR: 5.9 dB rms over 4-12 kHz
    sphere = SphericalHead().responses(front_back, freqs)
    np.testing.assert_allclose(np.abs(sphere[0]), np.abs(sphere[1]), rtol=1e-12)


def test_pinna_notch_near_8_khz_in_front_rising_with_elevation(kemar):
    freqs = np.arange(0, 22050, 22050 / 1024)
    s = (freqs > 5000) & (freqs < 13000)

    def notch(az, el):
        db = 20 * np.log10(np.abs(kemar.responses(unit([az], el), freqs)[0, 0]))
        i = np.argmin(np.where(s, db, np.inf))
        return freqs[i], np.median(db[s]) - db[i]

    f0, depth = notch(0.0, 0.0)
    assert 7000 < f0 < 10000 and depth > 10  # KEMAR: 8.3 kHz, 21 dB deep
    assert notch(180.0, 0.0)[0] > f0 + 500  # behind: 9.4 kHz
    rising = [notch(0.0, el)[0] for el in (-20.0, 0.0, 20.0, 40.0)]  # 6.7, 8.3, 9.4, 10.8 kHz
    assert np.all(np.diff(rising) > 0)


def test_mirrored_source_swaps_the_ears(kemar):
    # the normal-pinna set is symmetric by construction: exact at the measured directions
    az, el = kemar.azimuth_deg, kemar.elevation_deg
    mirror = np.array([np.argmin(np.abs((az + a + 180) % 360 - 180) + 10 * np.abs(el - e)) for a, e in zip(az, el)])
    assert np.array_equal(kemar.ir[mirror][:, ::-1], kemar.ir)
    # between them the triangulation need not be symmetric (a quad's diagonal): small differences
    rng = np.random.default_rng(0)
    a, e = rng.uniform(-180, 180, 200), rng.uniform(-40, 90, 200)
    d, m = unit(a, e), unit(-a, e)
    np.testing.assert_allclose(kemar.itd(m), -kemar.itd(d), atol=5e-6)  # 1.6 µs at worst
    np.testing.assert_allclose(kemar.ild(m), -kemar.ild(d), atol=2.0)  # 1.5 dB at worst
    rel = np.linalg.norm(kemar.hrirs(m)[:, ::-1] - kemar.hrirs(d), axis=(1, 2)) / np.linalg.norm(kemar.hrirs(d), axis=(1, 2))
    assert np.median(rel) < 1e-9 and rel.max() < 0.15


# ---------------------------------------------------------------------------- interpolation
def test_interpolation_is_exact_at_measured_directions(kemar):
    np.testing.assert_allclose(kemar.hrirs(kemar.directions), kemar.ir, atol=1e-9)
    idx = np.arange(0, 710, 37)
    freqs = np.fft.rfftfreq(1024, 1 / kemar.sample_rate)
    np.testing.assert_allclose(kemar.responses(kemar.directions[idx], freqs, centred=False, equalized=False),
                               np.fft.rfft(kemar.ir[idx], n=1024, axis=2), atol=1e-9)


def test_barycentric_weights_rebuild_the_direction_from_its_triangle(kemar):
    """The compiled lookup: every direction gets the triangle its ray crosses (weights >= 0,
    summing to 1, whose corners' weighted sum points along the direction) and a measured
    direction gets itself with weight 1."""
    d = np.random.default_rng(3).normal(size=(5000, 3))
    d = kemar.clamp(d)
    idx, w = kemar.weights(d)
    assert (w >= 0).all() and np.allclose(w.sum(axis=1), 1.0)
    rebuilt = np.einsum("gk,gki->gi", w, kemar.directions[idx])
    rebuilt /= np.linalg.norm(rebuilt, axis=1, keepdims=True)
    assert np.abs(rebuilt - d).max() < 1e-9
    idx, w = kemar.weights(kemar.directions)
    own = np.take_along_axis(idx, np.argmax(w, axis=1)[:, None], axis=1)[:, 0]
    assert (own == np.arange(len(kemar.directions))).all() and np.allclose(w.max(axis=1), 1.0)


def test_mixing_arrival_groups_through_the_head_equals_summing_their_responses(kemar):
    """``mix_grid_responses`` (one compiled pass) is the sum over groups of each group's
    spectrum times ``grid_responses`` of its direction, on tabled grids and past them."""
    rng = np.random.default_rng(4)
    head = kemar.at_rate(16000)
    d = rng.normal(size=(9, 3))
    for size in (768, 1536, 3072, 6144):
        spectra = rng.normal(size=(9, size // 2 + 1)) + 1j * rng.normal(size=(9, size // 2 + 1))
        expected = np.einsum("gf,gef->ef", spectra, head.grid_responses(d, size))
        mixed = head.mix_grid_responses(d, size, spectra)
        assert np.abs(mixed - expected).max() < 1e-5 * np.abs(expected).max()


def test_turning_the_head_changes_the_response_smoothly(kemar):
    az = np.arange(0.0, 60.0, 0.05)
    for el in (0.0, 5.0):
        h = kemar.hrirs(unit(az, el))
        step = np.linalg.norm(np.diff(h, axis=0), axis=(1, 2)) / np.linalg.norm(h[:-1], axis=(1, 2))
        # no switch between sets: every 0.05° step changes the HRIRs by about as much (KEMAR: ≤ 0.9 %)
        assert step.max() < 0.02 and step.max() < 2 * np.median(step)
    itd = kemar.itd(unit(az))
    assert np.abs(np.diff(itd)).max() < 2e-6  # ITD slope < 40 µs/degree
    # the onsets of the interpolated HRIRs are the interpolated onsets (delay-aligned mixing)
    d = unit(np.random.default_rng(1).uniform(-180, 180, 50), np.random.default_rng(2).uniform(-40, 90, 50))
    t = onset_times(kemar.hrirs(d), kemar.sample_rate)
    assert np.abs((t[:, 1] - t[:, 0]) - kemar.itd(d)).max() < 15e-6


def test_directions_below_the_measured_elevations_take_the_lowest_ring(kemar):
    np.testing.assert_allclose(kemar.hrirs(unit([30.0], -70.0)), kemar.hrirs(unit([30.0], -40.0)), atol=1e-12)
    down = kemar.hrirs(np.array([[0.0, 0.0, -1.0]]))  # azimuth undefined: taken as front
    np.testing.assert_allclose(down, kemar.hrirs(unit([0.0], -40.0)), atol=1e-12)
    with pytest.raises(ValueError):
        kemar.hrirs(np.zeros((1, 3)))


def test_diffuse_field_response_is_the_solid_angle_weighted_power_average(kemar):
    assert kemar.solid_angles.sum() == pytest.approx(4 * np.pi, rel=1e-9)
    # the lowest ring stands for the unmeasured cap below it: larger cells than at the equator
    assert kemar.solid_angles[kemar.elevation_deg == -40].mean() > 2 * kemar.solid_angles[kemar.elevation_deg == 0].mean()
    freqs = np.linspace(100, 16000, 64)
    df = kemar.diffuse_field_response(freqs)
    raw = np.abs(kemar.responses(kemar.directions, freqs, centred=False, equalized=False))
    assert df.shape == (2, 64)
    assert np.all(df <= raw.max(axis=0) + 1e-12) and np.all(df >= raw.min(axis=0) - 1e-12)
    np.testing.assert_allclose(df[0], df[1], rtol=1e-9)  # a symmetric set
    eq = kemar.responses(kemar.directions, freqs)
    np.testing.assert_allclose(np.sqrt(np.einsum("m,mef->ef", kemar.solid_angles, np.abs(eq) ** 2) / (4 * np.pi)),
                               1.0, rtol=1e-9)  # equalised: a diffuse field sounds flat


# ---------------------------------------------------------------------------- SOFA files
def write_sofa(path, convention="SimpleFreeFieldHRIR", ir=None, pos=None, fs=48000.0, cartesian=False, drop=()):
    with h5py.File(path, "w") as f:
        f.attrs["Conventions"] = np.bytes_("SOFA")
        if convention is not None:
            f.attrs["SOFAConventions"] = np.bytes_(convention)
        f.attrs["Title"] = np.bytes_("tiny test set")
        if "Data.IR" not in drop:
            f["Data.IR"] = ir
        f["Data.SamplingRate"] = np.array([fs])
        if "SourcePosition" not in drop:
            p = f.create_dataset("SourcePosition", data=pos)
            p.attrs["Type"] = np.bytes_("cartesian" if cartesian else "spherical")
            p.attrs["Units"] = np.bytes_("metre" if cartesian else "degree, degree, metre")
    return path


@pytest.fixture(scope="module")
def tiny_set(kemar):
    """KEMAR's directions every 3rd, as a 48 kHz set (resampled), in SOFA positions."""
    k48 = kemar.at_rate(48000)
    keep = np.r_[np.arange(0, 710, 3), np.flatnonzero(kemar.elevation_deg == 90)]
    pos = np.c_[kemar.azimuth_deg[keep], kemar.elevation_deg[keep], np.full(len(keep), 1.4)]
    return k48.ir[keep], pos, keep


def test_sofa_file_loads_and_resamples(tmp_path, kemar, tiny_set):
    ir, pos, keep = tiny_set
    head = MeasuredHead.from_sofa(write_sofa(tmp_path / "s.sofa", ir=ir, pos=pos))
    assert head.sample_rate == 48000 and len(head.ir) == len(keep) and head.name == "tiny test set"
    np.testing.assert_allclose(head.hrirs(head.directions), ir, atol=1e-9)
    # the same set with cartesian positions, read at 44.1 kHz: KEMAR's ITD back within a sample
    xyz = 1.4 * unit(pos[:, 0], pos[:, 1])
    back = MeasuredHead.from_sofa(write_sofa(tmp_path / "c.sofa", ir=ir, pos=xyz, cartesian=True), sample_rate=44100)
    assert back.sample_rate == 44100
    d = kemar.directions[keep][kemar.elevation_deg[keep] == 0]
    assert np.abs(back.itd(d) - kemar.itd(d)).max() < 1 / 44100


def test_sofa_of_another_convention_is_refused_naming_both(tmp_path, tiny_set):
    ir, pos, _ = tiny_set
    with pytest.raises(SofaError, match="'GeneralFIR'.*expected 'SimpleFreeFieldHRIR'"):
        MeasuredHead.from_sofa(write_sofa(tmp_path / "g.sofa", convention="GeneralFIR", ir=ir, pos=pos))
    with pytest.raises(SofaError, match="SOFAConventions"):
        MeasuredHead.from_sofa(write_sofa(tmp_path / "n.sofa", convention=None, ir=ir, pos=pos))


def test_malformed_sofa_files_get_one_clear_error(tmp_path, tiny_set):
    ir, pos, _ = tiny_set
    cases = {
        "no-ir": (dict(ir=ir, pos=pos, drop=("Data.IR",)), "'Data.IR' is missing"),
        "no-pos": (dict(ir=ir, pos=pos, drop=("SourcePosition",)), "'SourcePosition' is missing"),
        "one-ear": (dict(ir=ir[:, :1], pos=pos), r"Data.IR must be \(measurements M, 2 receivers"),
        "short-pos": (dict(ir=ir, pos=pos[:-1]), "SourcePosition must be"),
        "nan": (dict(ir=np.where(np.arange(ir.shape[2]) == 5, np.nan, ir), pos=pos), "Data.IR contains NaN"),
        "nan-pos": (dict(ir=ir, pos=np.where(np.arange(3) == 1, np.nan, pos)), "SourcePosition contains NaN"),
        "bad-rate": (dict(ir=ir, pos=pos, fs=0.0), "SamplingRate must be positive"),
    }
    for name, (kwargs, message) in cases.items():
        with pytest.raises(SofaError, match=message):
            MeasuredHead.from_sofa(write_sofa(tmp_path / f"{name}.sofa", **kwargs))
    text = tmp_path / "text.sofa"
    text.write_text("not a SOFA file")
    with pytest.raises(SofaError, match="not a SOFA file"):
        MeasuredHead.from_sofa(text)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MeasuredHead.from_sofa(tmp_path / "missing.sofa")
    flat = write_sofa(tmp_path / "flat.sofa", ir=ir[:20], pos=np.c_[np.arange(20) * 18.0, np.zeros(20), np.ones(20)])
    with pytest.raises(SofaError, match="flat.sofa.*do not span the sphere"):
        MeasuredHead.from_sofa(flat)

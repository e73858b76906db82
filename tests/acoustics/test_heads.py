"""The head an agent hears with (AudioConfig.head): KEMAR by default, applied per arrival, a diffuse
tail with the head's interaural coherence; physics of what reaches the ears."""

import numpy as np
import pytest

from earshot.acoustics import AudioConfig, compute_rir
from earshot.acoustics.binaural import DirectionalRIR
from earshot.acoustics.heads import load_head
from earshot.acoustics.hrtf import SphericalHead
from earshot.acoustics.measured_head import MeasuredHead, onset_times
from earshot.scenes import shoebox, uniform_material

C = 343.0


@pytest.fixture(scope="module")
def room():
    return shoebox(10.0, 8.0, 4.0, uniform_material(0.3, 0.5))


def _unit(az_deg, el_deg=0.0):
    a, e = np.radians(az_deg), np.radians(el_deg)
    return np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])


def _single_arrival(direction, fs, distance=2.0, n=4096):
    """An RIR with one arrival (flat gains) from ``direction`` and no tail."""
    return DirectionalRIR(fs, n, np.array([distance / C]), np.ones((1, 6)) / distance, np.asarray(direction)[None],
                          np.array([0.0, 1.0]), np.zeros((2, 6)), np.full(6, 0.5), 10.0, 10.1, seed=1)


def test_default_head_is_kemar_and_config_validates_heads(tmp_path):
    assert AudioConfig().head == "kemar"
    assert isinstance(load_head(AudioConfig()), MeasuredHead)
    assert isinstance(load_head(AudioConfig(head="sphere")), SphericalHead)
    assert load_head(AudioConfig(sample_rate=44_100)).sample_rate == 44_100  # resampled to the simulation rate
    with pytest.raises(ValueError, match="head must be one of"):
        AudioConfig(head="kemra")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        AudioConfig(head=str(tmp_path / "nothing.sofa"))
    # the head does not change the RIR (the disk cache's key)
    assert AudioConfig(head="sphere").config_hash == AudioConfig().config_hash


def test_kemar_front_and_back_differ_by_the_pinna(room):
    """A source 2 m ahead and one 2 m behind: with the sphere their direct sound is identical at
    both ears (no pinnae), with KEMAR it differs, and the source ahead has the pinna notch near
    8 kHz (the first notch of KEMAR's frontal response, 6.5–10 kHz) that the source behind lacks."""
    fs = 44_100
    ear = np.array([5.0, 4.0, 1.5])
    window = slice(int(2.0 / C * fs) - 20, int(2.0 / C * fs) + 100)  # the direct sound (2.3 ms of HRIR) before the tail builds up
    spectra = {}
    for head in ("sphere", "kemar"):
        cfg = AudioConfig(sample_rate=fs, head=head)
        for name, offset in (("front", [2.0, 0, 0]), ("back", [-2.0, 0, 0])):
            b = compute_rir(room, ear + offset, ear, cfg).binaural(0.0)[:, window].astype(np.float64)
            spectra[head, name] = 20 * np.log10(np.abs(np.fft.rfft(b, 2048, axis=1)) + 1e-9)
    freqs = np.fft.rfftfreq(2048, 1 / fs)
    band = (freqs > 3000) & (freqs < 12000)
    assert np.abs(spectra["sphere", "front"] - spectra["sphere", "back"])[:, band].mean() < 0.5
    assert np.abs(spectra["kemar", "front"] - spectra["kemar", "back"])[:, band].max() > 6.0
    front = spectra["kemar", "front"][0]
    notch = (freqs > 6500) & (freqs < 10000)
    depth = np.median(front[(freqs > 3000) & (freqs < 6000)]) - front[notch].min()
    assert depth > 10.0, depth


def test_rendered_arrival_follows_the_measured_set_in_every_direction():
    """One arrival from each measured direction, rendered with KEMAR: the ears' spectra are the
    set's (equalised, centred) responses for that direction, and the ITD read from the rendered
    ears (onset detection) is the set's ITD (within a sixteenth of a millisecond)."""
    fs = 16_000
    head = MeasuredHead.kemar(fs)
    dirs = head.directions[::7]
    freqs = np.fft.rfftfreq(1024, 1 / fs)
    worst_itd = 0.0
    distance = 93 * C / fs  # an arrival on a whole sample (arrivals are placed on the nearest one)
    for d in dirs:
        rir = _single_arrival(d, fs, distance)
        b = rir.binaural(0.0, hrtf=head).astype(np.float64)
        got = np.fft.rfft(b[:, :1024], axis=1)
        want = head.responses(d[None], freqs)[0] * np.exp(-2j * np.pi * freqs * distance / C)[None] / distance
        good = (freqs > 200) & (freqs < 7000)
        # error energy below -17 dB (the equaliser's pre-ringing is cut before the sound)
        err = np.sum(np.abs(got - want)[:, good] ** 2) / np.sum(np.abs(want)[:, good] ** 2)
        assert err < 0.02, err
        onsets = onset_times(b[None], fs)[0]
        worst_itd = max(worst_itd, abs((onsets[1] - onsets[0]) - head.itd(d[None])[0]))
    assert worst_itd < 1 / 16_000 + 1e-5, worst_itd


def test_ild_and_itd_signs_for_a_source_on_the_left(room):
    ear = np.array([5.0, 4.0, 1.5])
    b = compute_rir(room, ear + [0, 2.0, 0], ear).binaural(0.0).astype(np.float64)
    n0 = int(2.0 / C * 16_000)
    direct = b[:, n0 - 10:n0 + 40]
    assert (direct[0] ** 2).sum() > 3 * (direct[1] ** 2).sum()  # the near (left) ear is louder
    first = [int(np.flatnonzero(np.abs(x) > 0.2 * np.abs(direct).max())[0]) for x in direct]
    assert first[0] < first[1]  # and hears it first


def test_turning_180_degrees_no_longer_swaps_the_ears(room):
    """The sphere is left/right and front/back symmetric, so turning 180° swaps its ears exactly;
    KEMAR's pinnae break that."""
    rir = compute_rir(room, [7.0, 6.0, 1.5], [3.0, 2.0, 1.5])
    a, b = rir.binaural(0.4), rir.binaural(0.4 + np.pi)
    early = slice(0, int(0.05 * 16_000))
    err = np.abs(a[0, early] - b[1, early]).max() / np.abs(a[:, early]).max()
    assert err > 0.1
    sphere = SphericalHead()
    a, b = rir.binaural(0.4, hrtf=sphere), rir.binaural(0.4 + np.pi, hrtf=sphere)
    np.testing.assert_allclose(a[0], b[1], atol=1e-5)


def test_kemar_tail_has_the_diffuse_coherence_of_the_head(room):
    """The late tail's interaural coherence follows KEMAR's diffuse-field coherence: high at low
    frequencies (the ears ~15 cm apart hear the same pressure), near zero above 1.5 kHz; the two
    ears are equally loud."""
    fs = 16_000
    head = MeasuredHead.kemar(fs)
    rir = compute_rir(room, [7.0, 6.0, 1.5], [3.0, 2.0, 1.5])
    late = rir.binaural(0.0)[:, int(0.08 * fs):int(0.6 * fs)].astype(np.float64)
    from scipy.signal import csd, welch

    f, pxy = csd(late[0], late[1], fs, nperseg=512)
    _, pxx = welch(late[0], fs, nperseg=512)
    _, pyy = welch(late[1], fs, nperseg=512)
    gamma = pxy.real / np.sqrt(pxx * pyy)
    for lo, hi in ((125, 300), (1500, 6000)):
        band = (f >= lo) & (f <= hi)
        want = head.diffuse_coherence(f[band]).mean()
        assert abs(gamma[band].mean() - want) < 0.15, (lo, gamma[band].mean(), want)
    assert gamma[(f >= 125) & (f <= 300)].mean() > 0.6
    level = 10 * np.log10((late ** 2).sum(axis=1))
    assert abs(level[0] - level[1]) < 1.0


def test_kemar_rendering_is_continuous_in_heading(room):
    """Barycentric, delay-aligned interpolation: a turn of 0.01° changes the RIR by a tiny
    amount (no click where the interpolation triangle changes)."""
    rir = compute_rir(room, [7.0, 6.0, 1.5], [3.0, 2.0, 1.5])
    for heading in np.linspace(0, 2 * np.pi, 13):
        a, b = rir.binaural(heading), rir.binaural(heading + np.radians(0.01))
        assert np.abs(a - b).max() < 2e-3 * np.abs(a).max()


def test_kemar_level_matches_the_sphere_over_directions(room):
    """The diffuse-field equalised KEMAR keeps the RIR's energy: averaged over headings, each ear's
    energy is within 2 dB of the sphere's (same arrivals, same tail)."""
    rir = compute_rir(room, [7.0, 6.0, 1.5], [3.0, 2.0, 1.5])
    headings = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    energy = {h: np.mean([(rir.binaural(x, hrtf=load_head(AudioConfig(head=h))).astype(np.float64) ** 2).sum(axis=1)
                          for x in headings], axis=0) for h in ("sphere", "kemar")}
    assert np.abs(10 * np.log10(energy["kemar"] / energy["sphere"])).max() < 2.0

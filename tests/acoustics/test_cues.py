"""Audio features that keep direction (acoustics.cues): each one's physics on signals whose
interaural time and level differences are known."""

import numpy as np
import pytest

from earshot.acoustics import AudioConfig
from earshot.acoustics.cues import FEATURE_RANGES, FEATURES, audio_feature, feature_shape

FS = 16_000
CFG = AudioConfig()


def _noise(n=FS, seed=0):
    return np.random.default_rng(seed).standard_normal(n) * 0.1


def _delay(x, k):
    """x delayed by k whole samples (zeros in front)."""
    return np.r_[np.zeros(k), x[: len(x) - k]]


def test_every_feature_has_its_declared_shape_and_range():
    audio = np.stack([_noise(seed=1), _noise(seed=2)]).astype(np.float32)
    for name in FEATURES:
        x = audio_feature(name, audio, CFG)
        assert x.shape == feature_shape(name, CFG) and x.dtype == np.float32
        lo, hi = FEATURE_RANGES[name]
        assert x.min() >= lo and x.max() <= hi and np.isfinite(x).all()
        np.testing.assert_array_equal(x, audio_feature(name, audio, CFG))  # deterministic
    with pytest.raises(ValueError, match="unknown audio feature 'mfcc'"):
        audio_feature("mfcc", audio, CFG)
    with pytest.raises(ValueError, match="finite"):
        audio_feature("gcc-phat", np.full((2, FS), np.nan, np.float32), CFG)


@pytest.mark.parametrize("lead", [3, -5])
def test_gcc_phat_peaks_at_the_interaural_delay(lead):
    """Broadband noise reaching the left ear ``lead`` samples before the right: the cross-
    correlation peaks at +lead samples (positive: left leads, the sign of ITD), in every frame."""
    x = _noise()
    left, right = (x, _delay(x, lead)) if lead > 0 else (_delay(x, -lead), x)
    g = audio_feature("gcc-phat", np.stack([left, right]).astype(np.float32), CFG)
    centre = g.shape[0] // 2
    peaks = np.argmax(g[:, 1:-1, 0], axis=0) - centre  # quarter samples; inner frames
    assert np.all(peaks == 4 * lead), peaks
    assert g[:, 1:-1, 0].max(axis=0).min() > 0.5


def test_binaural_cues_carry_ild_and_ipd():
    """Left 6 dB louder and 2 samples earlier: the ILD channel reads +6 dB in every cell with
    sound, and the interaural phase advances with frequency as 2π f τ (cos, sin of it)."""
    x = _noise()
    left, right = 2.0 * x, _delay(x, 2)
    c = audio_feature("binaural-cues", np.stack([left, right]).astype(np.float32), CFG)
    ild_db = c[..., 2] * 30.0
    assert np.abs(ild_db[2:, 1:-1] - 20 * np.log10(2.0)).max() < 0.5
    # pooled cells span 4 bins of 31.25 Hz: their centre frequencies
    f = (np.arange(c.shape[0]) * 4 + 1.5) * FS / CFG.n_fft
    low = f < 1500
    phase = np.angle(np.exp(2j * np.pi * f[low] * 2 / FS))
    got = np.arctan2(c[low, 1:-1, 4], c[low, 1:-1, 3])
    assert np.abs(np.angle(np.exp(1j * (got - phase[:, None])))).max() < 0.1


def test_onset_cues_follow_the_first_wavefront_not_the_louder_echo():
    """Precedence: clicks whose first wavefront comes from the left (left leads, louder) followed
    5 ms later by a 3x stronger reflection from the right. Energy-weighted cues (binaural-cues)
    say "right"; onset-weighted cues say "left", as a listener would."""
    n = FS
    clicks = np.zeros(n)
    clicks[np.arange(800, n - 400, 2000)] = 1.0
    rng = np.random.default_rng(3)
    burst = rng.standard_normal(64) * np.hanning(64)
    src = np.convolve(clicks, burst)[:n]
    first = np.stack([src, 0.5 * _delay(src, 3)])  # from the left
    late = 3.0 * np.stack([0.5 * _delay(src, 80 + 3), _delay(src, 80)])  # 5 ms later, from the right
    audio = (first + late).astype(np.float32) * 0.1
    plain = audio_feature("binaural-cues", audio, CFG)[..., 2]
    onset = audio_feature("onset-cues", audio, CFG)[..., 2]
    assert plain.mean() < 0 < onset.mean(), (plain.mean(), onset.mean())
    # and the onset-weighted cross-correlation peaks at the first wavefront's ITD (+3 samples)
    g = audio_feature("gcc-phat", audio, CFG)
    centre = g.shape[0] // 2
    assert np.argmax(g[:, :, 1].mean(axis=1)) - centre == 12

import numpy as np
import pytest
import soundfile

from earshot.acoustics import SOUNDS, AudioConfig, convolve, hear, load_sound, make_sound, sound_names, spectrogram


def test_builtin_sounds_are_many_distinct_deterministic_and_split():
    heard, unheard = set(sound_names("heard")), set(sound_names("unheard"))
    assert len(heard | unheard) >= 12 and not heard & unheard and len(unheard) >= 4
    assert len({s.category for s in SOUNDS.values()}) >= 12
    spectra = {}
    for name in SOUNDS:
        x = make_sound(name, 16_000, seconds=2.0)
        assert x.dtype == np.float32 and x.shape == (32_000,)
        assert np.all(np.isfinite(x)) and 0.1 < np.abs(x).max() <= 0.5 + 1e-6
        np.testing.assert_array_equal(x, make_sound(name, 16_000, seconds=2.0))
        spectra[name] = np.abs(np.fft.rfft(x[:16000]))
    # telephone: energy at 440/480 Hz
    tel = spectra["telephone"]
    assert tel[440] > 50 * np.median(tel) and tel[480] > 50 * np.median(tel)
    with pytest.raises(ValueError, match="unknown sound"):
        make_sound("kazoo", 16_000)
    with pytest.raises(ValueError, match="split"):
        sound_names("seen")


def test_load_sound_resamples_and_rejects_bad_files(tmp_path):
    t = np.arange(44_100) / 44_100
    soundfile.write(tmp_path / "tone.wav", np.sin(2 * np.pi * 1000 * t), 44_100)
    soundfile.write(tmp_path / "stereo.flac", np.c_[np.sin(2 * np.pi * 500 * t), np.sin(2 * np.pi * 500 * t)], 44_100)
    x = load_sound(tmp_path / "tone.wav", 16_000)
    assert x.shape == (16_000,)
    assert np.argmax(np.abs(np.fft.rfft(x))) == 1000  # 1 kHz survives resampling
    assert load_sound(tmp_path / "stereo.flac", 16_000).shape == (16_000,)
    soundfile.write(tmp_path / "silent.wav", np.zeros(1000), 16_000)
    with pytest.raises(ValueError, match="silent"):
        load_sound(tmp_path / "silent.wav", 16_000)
    soundfile.write(tmp_path / "empty.wav", np.zeros(0), 16_000)
    with pytest.raises(ValueError, match="zero-length"):
        load_sound(tmp_path / "empty.wav", 16_000)
    (tmp_path / "junk.wav").write_bytes(b"RIFF not really")
    with pytest.raises(ValueError, match="could not read"):
        load_sound(tmp_path / "junk.wav", 16_000)
    with pytest.raises(FileNotFoundError):
        load_sound(tmp_path / "missing.wav", 16_000)


def test_convolution_matches_direct_sum():
    rng = np.random.default_rng(0)
    x, h = rng.standard_normal(300), rng.standard_normal(40)
    expected = np.convolve(x, h)[:300]
    np.testing.assert_allclose(convolve(x, h, backend="numpy"), expected, atol=1e-4)
    # a delayed, scaled impulse delays and scales the signal
    d = np.zeros(50)
    d[7] = 0.5
    np.testing.assert_allclose(convolve(x, d, backend="numpy")[7:], 0.5 * x[:-7], atol=1e-5)


def test_hear_includes_the_reverberation_of_earlier_audio():
    src = np.zeros(1000, np.float32)
    src[995] = 1.0  # a click just before the segment starts
    rir = np.zeros((2, 50), np.float32)
    rir[0, 10], rir[1, 20] = 1.0, 0.5
    out = hear(src, rir, start=1000, length=100, backend="numpy")
    assert out.shape == (2, 100)
    assert out[0, 5] == pytest.approx(1.0) and out[1, 15] == pytest.approx(0.5)


@pytest.mark.parametrize("fs, shape", [(16_000, (65, 26, 2)), (44_100, (65, 69, 2))])
def test_spectrogram_shape_and_physics(fs, shape):
    cfg = AudioConfig(sample_rate=fs)
    t = np.arange(fs) / fs
    tone = np.stack([np.sin(2 * np.pi * 1000 * t), 0.1 * np.sin(2 * np.pi * 1000 * t)])
    spec = spectrogram(tone, cfg, backend="numpy")
    assert spec.shape == shape and spec.dtype == np.float32
    # energy sits in the pooled bin containing 1 kHz; the louder left channel is brighter
    bin_1k = int(round(1000 / (fs / cfg.n_fft))) // cfg.pool
    profile = spec[:, 5:-5, 0].mean(axis=1)
    assert np.argmax(profile) == bin_1k
    assert spec[bin_1k, 5:-5, 0].mean() > spec[bin_1k, 5:-5, 1].mean()
    np.testing.assert_allclose(spectrogram(np.zeros((2, fs)), cfg, backend="numpy"), 0.0)


def test_torch_and_numpy_paths_agree():
    torch = pytest.importorskip("torch", reason="the torch path needs PyTorch (pip install torch)")
    rng = np.random.default_rng(1)
    audio = rng.standard_normal((3, 2, 16_000)).astype(np.float32)  # a batch of 3 binaural clips
    a = spectrogram(audio, backend="numpy")
    b = spectrogram(audio, backend="torch")
    assert isinstance(b, torch.Tensor) and tuple(b.shape) == a.shape == (3, 65, 26, 2)
    np.testing.assert_allclose(b.numpy(), a, rtol=1e-4, atol=1e-4)
    h = rng.standard_normal((3, 2, 4000)).astype(np.float32)
    np.testing.assert_allclose(convolve(audio, h, backend="torch").numpy(), convolve(audio, h, backend="numpy"),
                               rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="backend"):
        spectrogram(audio, backend="jax")


def _centroid(x, fs):
    power = np.abs(np.fft.rfft(x)) ** 2
    return float((power * np.fft.rfftfreq(len(x), 1 / fs)).sum() / power.sum())


def test_sound_variants_change_pitch_colour_rhythm_and_level_deterministically():
    from earshot.acoustics import is_sound_name, sound_variants
    from earshot.acoustics.sounds import SOUNDS as specs

    fs = 16_000
    names = sound_variants(["alarm"], 40)
    assert names[:2] == ["alarm~0", "alarm~1"] and len(set(names)) == 40 and all(is_sound_name(n) for n in names)
    base = make_sound("alarm", fs)  # a 3 kHz tone: a variant's tone sits at 3 kHz x 2^u, u in [-1, 1]
    peaks, periods, levels = [], [], []
    for name in names:
        x = make_sound(name, fs)
        np.testing.assert_array_equal(x, make_sound(name, fs))
        assert x.dtype == np.float32 and np.all(np.isfinite(x)) and 0.5 * 10 ** (-9 / 20) - 1e-6 <= np.abs(x).max() <= 0.5 + 1e-6
        spectrum = np.abs(np.fft.rfft(x))
        peak = np.fft.rfftfreq(len(x), 1 / fs)[spectrum.argmax()]
        # resampling scales the period by 1 / 2^u: the tone's frequency times the period stays 3 kHz x 0.5 s
        assert peak * len(x) / fs == pytest.approx(3000 * 0.5, rel=0.01)
        peaks.append(peak), periods.append(len(x) / fs), levels.append(np.abs(x).max())
        looped = make_sound(name, fs, seconds=2 * len(x) / fs)  # loops: the second period repeats the first
        np.testing.assert_array_equal(looped[len(x):], x)
    assert 1500 * 0.99 <= min(peaks) < 2400 and 3700 < max(peaks) <= 6000 * 1.01  # pitch spread over both octaves
    assert np.ptp(levels) > 0.1 and len(set(np.round(periods, 4))) > 30
    assert not np.array_equal(make_sound("alarm~0", fs)[: len(base)], base)
    # the spectral tilt: a broadband sound's colour moves both ways
    centroids = [_centroid(make_sound(f"water~{k}", fs), fs) for k in range(20)]
    water = _centroid(make_sound("water", fs), fs)
    assert min(centroids) < 0.8 * water and max(centroids) > 1.2 * water
    # the rhythm: some variants of a steady sound are gated (silent stretches), some are not
    gated = [np.mean(np.abs(make_sound(f"siren~{k}", fs)) < 1e-4) > 0.1 for k in range(20)]
    assert 3 <= sum(gated) <= 17
    for bad in ["alarm~", "alarm~-1", "alarm~01", "kazoo~1", "alarm~1~2", 7]:
        assert not is_sound_name(bad)
        with pytest.raises(ValueError, match="unknown sound"):
            make_sound(bad, fs)
    assert set(specs) <= {n.split("~")[0] for n in sound_variants(list(specs), 1)}

"""Audio features that keep the direction of a sound, next to the SoundSpaces spectrogram.

The spectrogram (``features.spectrogram``: log1p |STFT| per ear, pooled) keeps what each ear
hears but averages away timing: the interaural phase is gone, and in another room the first
wavefront through the door (whose direction a listener hears, by the precedence effect) holds
~1/1000 of the energy of a 1-second observation. The features here keep it:

- ``"binaural-cues"``: on the spectrogram's pooled time-frequency grid, per cell, the two ears'
  log magnitudes, the interaural level difference and the interaural phase difference (cos, sin
  of the angle of the summed cross-spectrum L·R*): (F, T, 5). Carries ITD (as phase, below
  ~1.5 kHz), ILD and the pinna's spectral cues per band.
- ``"gcc-phat"``: the generalised cross-correlation with phase transform per STFT frame, at
  interaural lags within ±1 ms (the largest ITD of a human head is ~0.7 ms), time-pooled like
  the spectrogram: (lags, T, 2), channel 0 plain, channel 1 weighted by each frame's onset
  strength (its rise in level over the previous frames), which keeps the frames where the first
  wavefront dominates (precedence): (lags, T, 2).
- ``"onset-cues"``: ``binaural-cues`` computed with short frames (8 ms at 16 kHz) and every
  time-frequency bin weighted by its onset strength before pooling, so that the first arrival of
  each onset sets the interaural cues: (F, T, 5) on a grid of the spectrogram's time frames.

Every feature is a function ``(audio (2, N) float32, config) -> (H, W, C) float32``, registered in
``FEATURES`` by name, bounded in [−1, 1] or [0, 1] per channel (see ``FEATURE_RANGES``), and
deterministic. ``feature_shape(name, config)`` gives the shape without audio.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.fft

from .config import AUDIO_FULL_SCALE, AudioConfig
from .features import _check_audio, _window, spectrogram

_ILD_RANGE_DB = 30.0  # ILDs are divided by this and clipped to [-1, 1]
_EPS = 1e-10
_MAX_LAG_S = 1e-3
_ONSET_FRAMES = 4  # frames of the past whose mean level an onset is measured against


def _stft(audio: np.ndarray, n_fft: int, hop: int, win: int) -> np.ndarray:
    """(2, F, T) complex STFT, centred with reflect padding (as ``features.spectrogram``)."""
    x = np.asarray(audio, np.float32)
    pad = n_fft // 2
    padded = np.pad(x, ((0, 0), (pad, pad)), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop]
    return scipy.fft.rfft(frames * _window(n_fft, win), axis=-1).transpose(0, 2, 1)


def _log_magnitude(power: np.ndarray, n_window: int) -> np.ndarray:
    """log1p of the rms magnitude, divided by the bound of audio within full scale: in [0, 1]."""
    bound = np.log1p(AUDIO_FULL_SCALE * n_window / 2)
    return np.minimum(np.log1p(np.sqrt(np.maximum(power, 0.0))) / bound, 1.0)


def _cues(spec: np.ndarray, weight: np.ndarray | None, pool_f: int, pool_t: int, n_window: int) -> np.ndarray:
    """(F', T', 5): pooled log magnitudes (L, R), ILD / 30 dB and cos, sin of the IPD.

    Without ``weight``: the ratio of the pooled powers and the angle of the pooled cross-spectrum
    (energy-weighted, what a long listen gives). With ``weight`` (F, T): the weighted means of
    each bin's own ILD (dB) and interaural phasor L·R*/|L·R*|, so that a bin's say depends on its
    weight and not on its level: a loud reflection does not outvote the first wavefront."""
    left, right = spec[0], spec[1]
    pl, pr = np.abs(left) ** 2, np.abs(right) ** 2
    cross = left * np.conj(right)

    def pool(x):
        x = np.asarray(x, np.float64)
        fs, ts = np.arange(0, x.shape[0], pool_f), np.arange(0, x.shape[1], pool_t)
        return np.add.reduceat(np.add.reduceat(x, fs, axis=0), ts, axis=1)

    if weight is None:
        count = pool(np.ones(pl.shape))
        sl, sr = pool(pl) / count, pool(pr) / count
        cr, ci = pool(cross.real), pool(cross.imag)
        ild_db = 10 * np.log10((sl + _EPS) / (sr + _EPS))
    else:
        wsum = np.maximum(pool(weight), _EPS)
        sl, sr = pool(weight * pl) / wsum, pool(weight * pr) / wsum
        audible = (pl + pr) > 1e-6 * max(float((pl + pr).max()), _EPS)
        w = weight * audible
        bin_ild = np.clip(10 * np.log10((pl + _EPS) / (pr + _EPS)), -_ILD_RANGE_DB, _ILD_RANGE_DB)
        ild_db = pool(w * bin_ild) / np.maximum(pool(w), _EPS)
        phasor = cross / np.maximum(np.abs(cross), _EPS)
        cr, ci = pool(w * phasor.real), pool(w * phasor.imag)
    norm = np.hypot(cr, ci)
    cos = np.where(norm > 0, cr / np.maximum(norm, _EPS), 0.0)
    sin = np.where(norm > 0, ci / np.maximum(norm, _EPS), 0.0)
    ild = np.clip(ild_db / _ILD_RANGE_DB, -1.0, 1.0)
    # cells 60 dB below the loudest one carry no usable direction (rounding noise): 0
    total = sl + sr
    quiet = total <= 1e-6 * max(float(total.max()), _EPS)
    if weight is not None:
        quiet |= pool(w) <= 0
    ild[quiet], cos[quiet], sin[quiet] = 0.0, 0.0, 0.0
    return np.stack([_log_magnitude(sl, n_window), _log_magnitude(sr, n_window), ild, cos, sin],
                    axis=-1).astype(np.float32)


def _onset_weight(power: np.ndarray, frames: int = _ONSET_FRAMES) -> np.ndarray:
    """(F, T) onset strength of each bin: the rise of its level (dB, floored at 0) over the mean
    power of the ``frames`` frames before it, from 0 (steady or falling) upwards."""
    p = np.maximum(power, _EPS)
    c = np.cumsum(np.pad(p, ((0, 0), (frames, 0)), mode="edge"), axis=1)
    past = (c[:, frames - 1:-1] - np.pad(c, ((0, 0), (1, 0)))[:, :-frames - 1]) / frames
    rise = 10 * np.log10(p / np.maximum(past, _EPS))
    return np.maximum(rise, 0.0)


def binaural_cues(audio, config: AudioConfig | None = None) -> np.ndarray:
    """(F, T, 5) float32: log magnitudes L, R in [0, 1], ILD / 30 dB in [−1, 1], cos and sin of
    the IPD, on the spectrogram's pooled grid (65 x 26 at 16 kHz with the defaults)."""
    cfg = config or AudioConfig()
    _check_audio(audio, cfg)
    spec = _stft(audio, cfg.n_fft, cfg.hop_length, cfg.win_length)
    return _cues(spec, None, cfg.pool, cfg.pool, cfg.win_length)


def onset_cues(audio, config: AudioConfig | None = None) -> np.ndarray:
    """(F, T, 5) float32: ``binaural_cues`` from short frames (``n_fft`` / 4), each bin weighted by
    its onset strength (``_onset_weight``) before pooling, so that the cues of each onset's first
    wavefront are kept. Pooled to the spectrogram's time frames and to the same frequency cells."""
    cfg = config or AudioConfig()
    _check_audio(audio, cfg)
    n_fft, hop, win = max(cfg.n_fft // 4, 16), max(cfg.hop_length // 4, 1), max(cfg.win_length // 4, 8)
    spec = _stft(audio, n_fft, hop, min(win, n_fft))
    weight = _onset_weight(np.abs(spec[0]) ** 2 + np.abs(spec[1]) ** 2)
    # short frames have n_fft/4 bins: pool frequency by pool/4 (at least 1) and time by 4 x pool
    # so that the grid has the spectrogram's cells in time and in hertz
    return _cues(spec, weight, max(cfg.pool // 4, 1), cfg.pool * 4, min(win, n_fft))


def gcc_phat(audio, config: AudioConfig | None = None) -> np.ndarray:
    """(L, T, 2) float32 in [−1, 1]: per STFT frame (the spectrogram's), the PHAT-weighted cross-
    correlation of the ears at lags −1..+1 ms in steps of a quarter sample (positive lag: the
    left ear leads), pooled over ``pool`` frames; channel 1 weights each frame by its onset strength
    (normalised to sum 1 over the frames of a pooled cell, 0 where nothing rises)."""
    cfg = config or AudioConfig()
    _check_audio(audio, cfg)
    spec = _stft(audio, cfg.n_fft, cfg.hop_length, cfg.win_length)  # (2, F, T)
    cross = spec[0] * np.conj(spec[1])
    mag = np.abs(cross)
    level = (np.abs(spec[0]) ** 2 + np.abs(spec[1]) ** 2).sum(axis=0)  # (T,)
    # PHAT: unit magnitude where there is sound (bins 60 dB below the frame's loudest are dropped)
    keep = mag > 1e-6 * np.maximum(mag.max(axis=0, keepdims=True), _EPS)
    phat = np.where(keep, cross / np.maximum(mag, _EPS), 0.0)
    up = 4
    size = cfg.n_fft * up
    corr = scipy.fft.irfft(phat, n=size, axis=0)  # (size, T): lag k / up samples
    max_lag = int(np.ceil(_MAX_LAG_S * cfg.sample_rate * up))
    lags = np.r_[size - max_lag:size, 0:max_lag + 1]
    # irfft lag k is Σ_n l[n + k] r[n], which peaks at k = −τ when the left ear leads by τ:
    # reversed, so that row max_lag + j is a lead of the left ear by j / (4 fs) (ITD's sign).
    # K unit-magnitude bins of a one-sided spectrum sum to 2K / size at a clean peak: scaled to 1
    corr = corr[lags][::-1] * (size / (2.0 * np.maximum(keep.sum(axis=0), 1)))[None]
    rise = _onset_weight(level[None])[0]  # each frame's rise in level over the frames before it
    t = np.arange(0, corr.shape[1], cfg.pool)
    plain = np.add.reduceat(corr, t, axis=1) / np.add.reduceat(np.ones(corr.shape[1]), t)[None]
    wsum = np.add.reduceat(rise, t)
    onset = np.add.reduceat(corr * rise[None], t, axis=1) / np.maximum(wsum, _EPS)[None]
    onset[:, wsum <= 0] = 0.0
    return np.clip(np.stack([plain, onset], axis=-1), -1.0, 1.0).astype(np.float32)


def spectrogram_bound(config: AudioConfig, full_scale: float = AUDIO_FULL_SCALE) -> float:
    """The exact upper bound of log1p |STFT| of audio within ±``full_scale``: log1p(full scale ×
    the window's sum), the Hann window summing to win_length / 2. Spectrogram observations are
    divided by it, so they lie in [0, 1]."""
    return float(np.log1p(full_scale * config.win_length / 2))


def scale_spectrogram(spec: np.ndarray, bound: float) -> np.ndarray:
    """float32 spectrogram / ``bound``, at most 1 (the observation's scaling)."""
    return np.minimum(np.asarray(spec, np.float32) / np.float32(bound), np.float32(1.0))


def _spectrogram(audio, config: AudioConfig | None = None) -> np.ndarray:
    """The SoundSpaces spectrogram scaled to [0, 1] as the env observes it."""
    cfg = config or AudioConfig()
    return scale_spectrogram(spectrogram(audio, cfg, backend="numpy"), spectrogram_bound(cfg))


FEATURES: dict[str, Callable[[np.ndarray, AudioConfig], np.ndarray]] = {
    "spectrogram": _spectrogram,
    "binaural-cues": binaural_cues,
    "gcc-phat": gcc_phat,
    "onset-cues": onset_cues,
}
FEATURE_RANGES = {"spectrogram": (0.0, 1.0), "binaural-cues": (-1.0, 1.0), "gcc-phat": (-1.0, 1.0),
                  "onset-cues": (-1.0, 1.0)}


def audio_feature(name: str, audio, config: AudioConfig | None = None) -> np.ndarray:
    """The feature ``name`` of binaural ``audio`` (2, N); one clear error for an unknown name."""
    if name not in FEATURES:
        raise ValueError(f"unknown audio feature {name!r}; choose one of {sorted(FEATURES)}")
    return FEATURES[name](audio, config or AudioConfig())


def feature_shape(name: str, config: AudioConfig | None = None) -> tuple[int, ...]:
    """The shape of feature ``name`` of one step's audio under ``config``."""
    cfg = config or AudioConfig()
    return audio_feature(name, np.zeros((2, cfg.step_samples), np.float32), cfg).shape


__all__ = ["FEATURES", "FEATURE_RANGES", "audio_feature", "binaural_cues", "feature_shape", "gcc_phat", "onset_cues",
           "scale_spectrogram", "spectrogram_bound"]

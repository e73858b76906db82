"""What an agent hears: FFT convolution of source audio with binaural RIRs, and the SoundSpaces
spectrogram (|STFT|, log1p, average-pooled), batched, in torch (GPU when present) or numpy.

Hearing (RIR -> audio) lives here, in its three shapes: ``hear`` (one source segment through one
binaural RIR), ``StepConvolver`` (the env's stream of steps, FFTs of revisited segments and RIRs
cached) and ``excerpt_spectrum`` / ``hear_excerpts`` (one looping source through many RIRs at
once, for datasets).

Both paths compute the same numbers (float32; agreement to ~1e-5 relative). torch is optional
(``pip install torch``); ``backend="auto"`` uses it when it is importable.
"""

from __future__ import annotations

import numba
import numpy as np

from ..scenes.lru import BUDGETS, LRU
from .config import AudioConfig


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError("backend='torch' needs PyTorch: pip install torch") from exc
    return torch


def _use_torch(backend: str) -> bool:
    if backend == "numpy":
        return False
    if backend == "torch":
        _torch()
        return True
    if backend == "auto":
        try:
            import torch  # noqa: F401
        except ImportError:
            return False
        return True
    raise ValueError(f"backend must be 'auto', 'torch' or 'numpy', got {backend!r}")


def convolve(signal, rir, backend: str = "auto", device=None):
    """Linear convolution truncated to the signal's length: out[..., n] = Σ_k rir[..., k] signal[..., n−k].

    Shapes broadcast over leading axes: signal (..., N), rir (..., M) -> (..., N) float32.
    """
    n = np.shape(signal)[-1]
    m = np.shape(rir)[-1]
    size = 1 << int(np.ceil(np.log2(n + m - 1)))
    if _use_torch(backend):
        torch = _torch()
        s = torch.as_tensor(np.asarray(signal, np.float32), device=device)
        h = torch.as_tensor(np.asarray(rir, np.float32), device=device)
        out = torch.fft.irfft(torch.fft.rfft(s, n=size) * torch.fft.rfft(h, n=size), n=size)[..., :n]
        return out
    s = np.asarray(signal, np.float64)
    h = np.asarray(rir, np.float64)
    return np.fft.irfft(np.fft.rfft(s, n=size) * np.fft.rfft(h, n=size), n=size)[..., :n].astype(np.float32)


def hear(source_audio: np.ndarray, binaural_rir: np.ndarray, start: int, length: int, backend: str = "auto"):
    """The (2, length) binaural audio heard over samples [start, start + length) of a source
    playing ``source_audio`` (looped) since sample 0, including the reverberation of what it
    played before ``start``."""
    from ..scenes.checks import check_int

    source_audio, binaural_rir = np.asarray(source_audio), np.asarray(binaural_rir)
    if source_audio.ndim != 1 or len(source_audio) == 0 or not np.isfinite(source_audio).all():
        raise ValueError(f"source_audio must be a non-empty finite (n,) signal, got shape {source_audio.shape}")
    if binaural_rir.ndim != 2 or binaural_rir.shape[0] != 2 or not np.isfinite(binaural_rir).all():
        raise ValueError(f"binaural_rir must be a finite (2, m) array (left, right), got shape {binaural_rir.shape}")
    check_int("start", start, low=0)
    check_int("length", length, low=1)
    m = binaural_rir.shape[-1]
    idx = np.arange(start - m + 1, start + length)
    segment = np.where(idx >= 0, np.asarray(source_audio)[np.mod(idx, len(source_audio))], 0.0)
    out = convolve(segment[None], binaural_rir, backend=backend)
    return out[..., m - 1:]


# A source that has played for ever, heard through many RIRs at once (the dataset generator's
# case): the excerpt's spectrum is computed once and multiplied with each RIR's.
def excerpt_fft_size(n: int, m: int) -> int:
    """A fast FFT length for ``hear_excerpts``: circular convolution of the (m - 1 + n)-sample
    excerpt with an m-sample RIR wraps only into its first m - 1 outputs, which are dropped."""
    import scipy.fft

    return scipy.fft.next_fast_len(n + m - 1, real=True)


def excerpt_spectrum(audio: np.ndarray, start: int, m: int, n: int, size: int) -> np.ndarray:
    """The spectrum (``size`` FFT) of the (m - 1 + n) samples of ``audio``, looped, that an
    m-sample RIR needs to give the n samples heard from ``start`` (the m - 1 before it included:
    the source has been playing for ever)."""
    import scipy.fft

    excerpt = audio[np.arange(start - m + 1, start + n) % len(audio)]
    return scipy.fft.rfft(np.asarray(excerpt, np.float32), n=size)


def hear_excerpts(spectrum: np.ndarray, rirs: np.ndarray, size: int, m: int, n: int) -> np.ndarray:
    """(R, 2, n) float32: the excerpt of ``spectrum`` (``excerpt_spectrum``) through each (2, m)
    RIR of ``rirs`` (R, 2, m): the n samples after the history (``hear`` for a looping source
    heard at a start past its first m - 1 samples), in single precision (relative error ~1e-6 of
    the peak)."""
    import scipy.fft

    out = scipy.fft.irfft(scipy.fft.rfft(rirs, n=size, axis=-1) * spectrum, n=size, axis=-1)
    return np.ascontiguousarray(out[..., m - 1: m - 1 + n], dtype=np.float32)


class StepConvolver:
    """``hear`` for a stream of environment steps, with the FFTs that revisits reuse cached:
    the spectrum of each source segment (per sound and position in its loop) and of each RIR
    (per caller key, e.g. node and heading). One step then costs a complex product and an
    inverse FFT. Output equals ``hear(...)`` to float32 rounding."""

    def __init__(self, step_samples: int, rir_samples: int, max_items: int = 512, max_segments: int | None = None):
        self.n, self.m = int(step_samples), int(rir_samples)
        import scipy.fft

        self._fft = scipy.fft
        self.size = scipy.fft.next_fast_len(self.n + self.m - 1)
        self.max_items = max_items
        # spectra kept as complex64 (a 1 s binaural RIR at 16 kHz: 256 kB), least recently used dropped
        self._segments = LRU(max_items if max_segments is None else max_segments)
        self._rirs = LRU(max_items)

    def segment_key(self, name: str, audio: np.ndarray, start: int) -> tuple:
        """What the segment heard from ``start`` depends on: the sound and the position in its
        loop (or, before a whole RIR length has played, the start itself)."""
        return (name, start % len(audio) if start >= self.m - 1 else ("head", start))

    def _segment_spectrum(self, name: str, audio: np.ndarray, start: int) -> np.ndarray:
        key = self.segment_key(name, audio, start)

        def make():
            idx = np.arange(start - self.m + 1, start + self.n)
            seg = np.where(idx >= 0, audio[np.mod(idx, len(audio))], 0.0)
            return self._fft.rfft(seg, n=self.size).astype(np.complex64)

        return self._segments.get_or_create(key, make)

    def rir_spectrum(self, key, rir) -> np.ndarray:
        """The spectrum of ``rir`` ((2, m) array, or a callable giving it, called only on a miss)."""
        return self._rirs.get_or_create(
            # (a double-precision FFT: on real RIRs pocketfft's single-precision one measured slower)
            key, lambda: self._fft.rfft(np.asarray(rir() if callable(rir) else rir, np.float64), n=self.size,
                                        axis=-1).astype(np.complex64))

    def hear(self, name: str, audio: np.ndarray, rir_key, rir: np.ndarray, start: int) -> np.ndarray:
        """(2, n) float32: what ``hear(audio, rir, start, n)`` returns."""
        spec = self._segment_spectrum(name, audio, start) * self.rir_spectrum(rir_key, rir)
        out = self._fft.irfft(spec, n=self.size, axis=-1)
        return out[..., self.m - 1: self.m - 1 + self.n].astype(np.float32)

    def clear_rirs(self) -> None:
        self._rirs.clear()


def spectrogram(audio, config: AudioConfig | None = None, backend: str = "auto", device=None):
    """SoundSpaces spectrogram: |STFT| (Hann window ``win_length`` zero-padded to ``n_fft``,
    ``hop_length``, centred with reflect padding), log1p, average pooling ``pool`` x ``pool``
    (edge windows averaged over the bins they hold).

    audio (..., C, N) -> (..., F, T, C) float32, e.g. (2, 16000) -> (65, 26, 2) at 16 kHz.
    """
    cfg = config or AudioConfig()
    if not isinstance(cfg, AudioConfig):
        raise ValueError(f"config must be an AudioConfig, got {type(cfg).__name__}")
    _check_audio(audio, cfg)
    if _use_torch(backend):
        torch = _torch()
        x = torch.as_tensor(np.asarray(audio, np.float32), device=device)
        lead = x.shape[:-1]
        window = torch.hann_window(cfg.win_length, periodic=True, device=x.device, dtype=x.dtype)
        spec = torch.stft(x.reshape(-1, x.shape[-1]), n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                          win_length=cfg.win_length, window=window, center=True, pad_mode="reflect",
                          return_complex=True).abs()
        spec = torch.log1p(spec)
        pooled = torch.nn.functional.avg_pool2d(spec[:, None], cfg.pool, cfg.pool, ceil_mode=True)[:, 0]
        pooled = pooled.reshape(*lead, *pooled.shape[-2:])
        return pooled.movedim(-3, -1) if len(lead) >= 1 else pooled
    import scipy.fft

    x = np.asarray(audio, np.float32)
    lead = x.shape[:-1]
    flat = np.ascontiguousarray(x.reshape(-1, x.shape[-1]))
    n_frames = flat.shape[-1] // cfg.hop_length + 1
    frames = np.empty((len(flat), n_frames, cfg.n_fft), np.float32)
    _windowed_frames(flat, cfg.hop_length, _window(cfg.n_fft, cfg.win_length), frames)
    spec = scipy.fft.rfft(frames, axis=-1)  # (B, T, F) complex64
    k = cfg.pool
    pooled = np.empty((len(flat), -(-spec.shape[2] // k), -(-n_frames // k)), np.float32)
    _pool(np.log1p(np.abs(spec)), k, pooled)  # (B, F', T')
    pooled = pooled.reshape(*lead, *pooled.shape[-2:])
    return np.moveaxis(pooled, -3, -1) if len(lead) >= 1 else pooled


def _check_audio(audio, cfg: AudioConfig) -> None:
    """audio must be (..., C, N) with N > n_fft / 2 samples (the reflect padding), all finite."""
    shape = tuple(getattr(audio, "shape", np.shape(audio)))
    if len(shape) < 2 or shape[-1] <= cfg.n_fft // 2:
        raise ValueError(f"audio must have shape (..., channels, samples) with more than {cfg.n_fft // 2} samples, "
                         f"got shape {shape}")
    values = audio.detach().cpu().numpy() if hasattr(audio, "detach") else np.asarray(audio)
    if not np.isfinite(values).all():
        raise ValueError("audio must be finite: it holds NaN or inf samples")


_windows: LRU = LRU(BUDGETS.noise_banks)


def _window(n_fft: int, win_length: int) -> np.ndarray:
    """Periodic Hann window of ``win_length`` centred in ``n_fft`` samples (torch.stft's layout)."""
    if (n_fft, win_length) not in _windows:
        n = np.arange(win_length)
        window = np.zeros(n_fft, np.float32)
        offset = (n_fft - win_length) // 2
        window[offset: offset + win_length] = 0.5 - 0.5 * np.cos(2 * np.pi * n / win_length)
        _windows[(n_fft, win_length)] = window
    return _windows[(n_fft, win_length)]


@numba.njit(cache=True, nogil=True)
def _windowed_frames(x, hop, window, out):  # pragma: no cover (compiled)
    """``out`` (B, T, n_fft): the frames of ``x`` (B, N) every ``hop`` samples, centred (frame t
    starts at t·hop − n_fft/2) with reflect padding at both ends (torch.stft's ``center=True``,
    ``pad_mode="reflect"``; N > n_fft/2), times ``window`` (n_fft,)."""
    n = x.shape[1]
    n_fft = window.shape[0]
    pad = n_fft // 2
    for b in range(x.shape[0]):
        for t in range(out.shape[1]):
            start = t * hop - pad
            if start >= 0 and start + n_fft <= n:  # inside the signal
                for i in range(n_fft):
                    out[b, t, i] = x[b, start + i] * window[i]
            else:
                for i in range(n_fft):
                    j = start + i
                    if j < 0:
                        j = -j
                    elif j >= n:
                        j = 2 * (n - 1) - j
                    out[b, t, i] = x[b, j] * window[i]


@numba.njit(cache=True, nogil=True)
def _pool(x, k, out):  # pragma: no cover (compiled)
    """``out`` (B, ceil(F / k), ceil(T / k)): ``x`` (B, T, F) averaged over k x k windows of
    (F, T), keeping partial edge windows (ceil mode: each divided by the bins it holds), as
    torch's ``avg_pool2d(..., ceil_mode=True)`` on x turned to (B, F, T)."""
    n_t, n_f = x.shape[1], x.shape[2]
    n_fo, n_to = out.shape[1], out.shape[2]
    acc = np.empty(n_fo, np.float32)
    for b in range(x.shape[0]):
        for to in range(n_to):
            acc[:] = 0
            t1 = min(to * k + k, n_t)
            for t in range(to * k, t1):
                row = x[b, t]
                fo, filled = 0, 0
                for f in range(n_f):  # bins f of output row f // k, without a division per bin
                    acc[fo] += row[f]
                    filled += 1
                    if filled == k:
                        fo, filled = fo + 1, 0
            for fo in range(n_fo):
                out[b, fo, to] = acc[fo] / ((min(n_f - fo * k, k)) * (t1 - to * k))



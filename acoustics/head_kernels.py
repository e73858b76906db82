"""The compiled and vectorised kernels of ``measured_head.MeasuredHead``: barycentric lookup of
a direction on the triangulated measurement grid, the mix of delay-aligned responses on an FFT
grid with each direction's onset rotation, phase ramps, and the DTFT of short impulse responses."""

from __future__ import annotations

import numba
import numpy as np
import scipy.fft


@numba.njit(cache=True, nogil=True)
def _smallest_weight(x, y, z, inverse, t):  # pragma: no cover (compiled)
    """The smallest barycentric weight of direction (x, y, z) in facet ``t`` (``inverse`` (T, 3, 3))."""
    low = np.inf
    for j in range(3):
        low = min(low, x * inverse[t, 0, j] + y * inverse[t, 1, j] + z * inverse[t, 2, j])
    return low


@numba.njit(cache=True, nogil=True)
def _barycentric(d, directions, around, inverse):  # pragma: no cover (compiled)
    """(facet (G,), weights (G, 3)) of unit directions ``d`` (G, 3) on the triangulation of the
    measured ``directions`` (M, 3) whose facets have the inverse corner matrices ``inverse``
    (T, 3, 3) (barycentric weights w = d @ inverse[t]) and whose facets around each measured
    direction are ``around`` (M, C) (-1 padded): the candidate facets are those around the
    nearest measured direction, every facet when none of them holds d (all weights >= -1e-9);
    the facet whose smallest weight is largest wins, its weights clipped at 0 and normalised."""
    n = d.shape[0]
    facet = np.zeros(n, np.int64)
    w = np.zeros((n, 3))
    for g in range(n):
        x, y, z = d[g, 0], d[g, 1], d[g, 2]
        near, best_dot = 0, -np.inf
        for m in range(directions.shape[0]):  # the nearest = the largest dot product
            dot = x * directions[m, 0] + y * directions[m, 1] + z * directions[m, 2]
            if dot > best_dot:
                near, best_dot = m, dot
        best, best_min = -1, -np.inf
        for c in range(around.shape[1]):
            t = around[near, c]
            if t >= 0:
                low = _smallest_weight(x, y, z, inverse, t)
                if low > best_min:
                    best, best_min = t, low
        if best_min < -1e-9:  # rare: no facet around the nearest direction holds d
            for t in range(inverse.shape[0]):
                low = _smallest_weight(x, y, z, inverse, t)
                if low > best_min:
                    best, best_min = t, low
        facet[g] = best
        total = 0.0
        for j in range(3):
            w[g, j] = max(x * inverse[best, 0, j] + y * inverse[best, 1, j] + z * inverse[best, 2, j], 0.0)
            total += w[g, j]
        for j in range(3):
            w[g, j] /= total
    return facet, w


@numba.njit(cache=True, nogil=True)
def _mix_grid(table, idx, w, theta, spectra, out):  # pragma: no cover (compiled)
    """Barycentric mixes of the rows of ``table`` (M, 2, F) at ``idx`` (G, 3) with weights ``w``
    (G, 3), each ear rotated by exp(i θ j) at bin j (``theta`` (G, 2) radians per bin). With
    ``spectra`` (G, F) the mixes are multiplied by them and summed over G into ``out`` (1, 2, F);
    with an empty ``spectra`` they are written to ``out`` (G, 2, F). The rotation is the product
    of a fine (j mod 32) and a coarse (j − j mod 32) exponential, each from cos/sin (error ~1e-15)."""
    n_bins = table.shape[2]
    n_blocks = (n_bins + 31) // 32
    summed = spectra.shape[0] > 0
    zr, zi = np.empty(n_blocks * 32), np.empty(n_blocks * 32)
    fr, fi = np.empty(32), np.empty(32)
    acc_r, acc_i = np.zeros((2, n_bins)), np.zeros((2, n_bins))
    for g in range(idx.shape[0]):
        w0, w1, w2 = w[g, 0], w[g, 1], w[g, 2]
        for e in range(2):
            th = theta[g, e]
            for k in range(32):
                fr[k], fi[k] = np.cos(th * k), np.sin(th * k)
            for b in range(n_blocks):
                cr, ci = np.cos(th * 32 * b), np.sin(th * 32 * b)
                for k in range(32):
                    zr[b * 32 + k] = cr * fr[k] - ci * fi[k]
                    zi[b * 32 + k] = cr * fi[k] + ci * fr[k]
            ta, tb, tc = table[idx[g, 0], e], table[idx[g, 1], e], table[idx[g, 2], e]
            if summed:
                sp = spectra[g]
                for j in range(n_bins):
                    hr = w0 * ta[j].real + w1 * tb[j].real + w2 * tc[j].real
                    hi = w0 * ta[j].imag + w1 * tb[j].imag + w2 * tc[j].imag
                    pr, pi = hr * zr[j] - hi * zi[j], hr * zi[j] + hi * zr[j]
                    sr, si = sp[j].real, sp[j].imag
                    acc_r[e, j] += sr * pr - si * pi
                    acc_i[e, j] += sr * pi + si * pr
            else:
                for j in range(n_bins):
                    hr = w0 * ta[j].real + w1 * tb[j].real + w2 * tc[j].real
                    hi = w0 * ta[j].imag + w1 * tb[j].imag + w2 * tc[j].imag
                    out[g, e, j] = complex(hr * zr[j] - hi * zi[j], hr * zi[j] + hi * zr[j])
    if summed:
        for e in range(2):
            for j in range(n_bins):
                out[0, e, j] = complex(acc_r[e, j], acc_i[e, j])


def _phase_ramps(theta: np.ndarray, n_bins: int, block: int = 32, dtype=np.complex128) -> np.ndarray:
    """(..., n_bins) ``dtype`` exp(i θ j) for j = 0..n_bins − 1, per element θ of ``theta``: the
    product of a fine (j mod block) and a coarse (j − j mod block) table of exponentials, so
    only ~2·sqrt(n_bins) complex exponentials per θ are evaluated (error ~1e-15 in double
    precision)."""
    fine = np.exp(1j * theta[..., None] * np.arange(block)).astype(dtype, copy=False)
    coarse = np.exp(1j * theta[..., None] * np.arange(0, n_bins + block - 1, block)).astype(dtype, copy=False)
    return (coarse[..., :, None] * fine[..., None, :]).reshape(*theta.shape, -1)[..., :n_bins]


def _dtft(h: np.ndarray, fs: float, freqs: np.ndarray) -> np.ndarray:
    """(..., F) DTFT of real (..., N) ``h`` at ``freqs`` (Hz), zero above fs/2. An rfft when
    ``freqs`` is the rfft grid of some size ≥ N at rate ``fs``; else a direct sum."""
    n = h.shape[-1]
    out_shape = h.shape[:-1] + (len(freqs),)
    if len(freqs) > 2 and freqs[0] == 0.0 and freqs[1] > 0:
        size = fs / freqs[1]
        grid = round(size)
        if (abs(size - grid) < 1e-9 * size and grid >= n and len(freqs) == grid // 2 + 1
                and np.abs(freqs - np.arange(len(freqs)) * freqs[1]).max() <= 1e-9 * freqs[-1]):
            return scipy.fft.rfft(h, n=grid, axis=-1)
    out = np.zeros(out_shape, dtype=np.complex128)
    inside = np.flatnonzero(np.abs(freqs) <= fs / 2 * (1 + 1e-12))
    t = np.arange(n) / fs
    flat = h.reshape(-1, n)
    for lo in range(0, len(inside), 2048):
        sel = inside[lo:lo + 2048]
        kernel = np.exp(-2j * np.pi * np.outer(t, freqs[sel]))
        out.reshape(-1, len(freqs))[:, sel] = flat @ kernel
    return out

"""Head-related transfer functions, evaluated in the frequency domain.

``SphericalHead`` needs no data: a rigid sphere of radius ``a`` with ears at ±90°:

- time of arrival at each ear (Woodworth / Brown & Duda 1998): with θ the angle between the
  source direction and the ear's axis, T(θ) = −(a/c) cos θ for θ < π/2 and (a/c)(θ − π/2)
  beyond, so that ITD = (a/c)(φ + sin φ) for a source at azimuth φ;
- head shadow (Brown & Duda 1998): the magnitude of the one-pole/one-zero filter
  |H(ω, θ)| = |1 + j α(θ) ω / 2ω₀| / |1 + j ω / 2ω₀|, ω₀ = c/a,
  α(θ) = (1 + α_min/2) + (1 − α_min/2) cos(π θ / θ_min), α_min = 0.1, θ_min = 150°:
  +6 dB at high frequencies for the ear facing the source, down to −20 dB behind the head.
  It is applied with zero phase, so the interaural delay is exactly Woodworth's (the minimum-
  phase filter would add up to ~0.24 ms of low-frequency group delay).

Measured heads (KEMAR, SOFA files) are ``acoustics.measured_head.MeasuredHead``.

Directions are unit vectors in the head frame: x forward, y left, z up.
"""

from __future__ import annotations

import numpy as np

from .config import HEAD_RADIUS, SPEED_OF_SOUND

_ALPHA_MIN = 0.1
_THETA_MIN = np.radians(150.0)


class SphericalHead:
    def __init__(self, radius: float = HEAD_RADIUS, speed_of_sound: float = SPEED_OF_SOUND):
        self.radius = float(radius)
        self.c = float(speed_of_sound)

    def ear_delays(self, directions: np.ndarray) -> np.ndarray:
        """(G, 2) seconds of arrival at (left, right) ears relative to the head centre."""
        d = np.atleast_2d(directions)
        delays = []
        for ear_y in (1.0, -1.0):
            cos_t = np.clip(d[:, 1] * ear_y, -1.0, 1.0)
            theta = np.arccos(cos_t)
            a_c = self.radius / self.c
            delays.append(np.where(theta < np.pi / 2, -a_c * cos_t, a_c * (theta - np.pi / 2)))
        return np.stack(delays, axis=1)

    def itd(self, directions: np.ndarray) -> np.ndarray:
        """(G,) interaural time difference right − left, seconds (positive: left ear leads)."""
        t = self.ear_delays(directions)
        return t[:, 1] - t[:, 0]

    def responses(self, directions: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        """(G, 2, F) complex transfer functions (left, right) for unit ``directions`` (G, 3)."""
        d = np.atleast_2d(directions)
        w = 2 * np.pi * np.asarray(freqs, dtype=np.float64)
        w0 = self.c / self.radius
        delays = self.ear_delays(d)
        out = np.empty((len(d), 2, len(w)), dtype=np.complex128)
        # on an FFT's grid (ω_k = k Δω) exp(−iω_k T) is the k-th power of exp(−iΔω T): a running
        # product (relative error ~k·1e-16) instead of a cos and a sin per element
        uniform = len(w) > 2 and w[0] == 0.0 and np.abs(np.diff(w) - w[1]).max() <= 1e-9 * w[1]
        for k, ear_y in enumerate((1.0, -1.0)):
            theta = np.arccos(np.clip(d[:, 1] * ear_y, -1.0, 1.0))
            mag = shadow_magnitude(shadow_alpha(theta), w / (2 * w0))
            if uniform:
                rot = np.empty((len(d), len(w)), np.complex128)
                rot[:, 0] = 1.0
                rot[:, 1:] = np.exp(-1j * w[1] * delays[:, k])[:, None]
                out[:, k] = mag * np.cumprod(rot, axis=1)
            else:
                phase = w[None] * delays[:, k, None]
                out[:, k].real = mag * np.cos(phase)  # exp(−iωT), written as cos/sin: vectorises better
                out[:, k].imag = -mag * np.sin(phase)
        return out


def shadow_alpha(theta: np.ndarray) -> np.ndarray:
    """Brown–Duda α(θ) for the angle θ (radians) between the source direction and the ear axis."""
    theta = np.minimum(np.asarray(theta, dtype=np.float64), _THETA_MIN)
    return (1 + _ALPHA_MIN / 2) + (1 - _ALPHA_MIN / 2) * np.cos(theta / _THETA_MIN * np.pi)


def shadow_magnitude(alpha: np.ndarray, x: np.ndarray) -> np.ndarray:
    """|H| = sqrt((1 + α²x²) / (1 + x²)) for (G,) α and (F,) normalised frequency x = ω / 2ω₀: (G, F)."""
    a = np.asarray(alpha, dtype=np.float64)[:, None]
    x2 = np.asarray(x, dtype=np.float64)[None] ** 2
    return np.sqrt((1 + a * a * x2) / (1 + x2))

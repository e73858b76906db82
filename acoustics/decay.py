"""Reverberation time measured from an energy decay (ISO 3382-1 T30)."""

from __future__ import annotations

import numpy as np

DECAY_60DB = float(np.log(1e6))  # 13.8155: energy falls by 60 dB (a factor 10⁶) in one T60


def t30(energy: np.ndarray, dt: float) -> float:
    """T60 from the −5 to −35 dB range of the Schroeder backward integral of ``energy`` (a
    squared impulse response, an energy histogram or an envelope sampled every ``dt`` seconds),
    extrapolated to 60 dB. NaN when the decay does not span that range."""
    e = np.asarray(energy, dtype=np.float64)
    schroeder = np.cumsum(e[::-1])[::-1]
    if schroeder[0] <= 0:
        return float("nan")
    db = 10 * np.log10(np.maximum(schroeder / schroeder[0], 1e-30))
    sel = (db <= -5) & (db >= -35)
    if sel.sum() < 3:
        return float("nan")
    slope = np.polyfit(np.flatnonzero(sel) * dt, db[sel], 1)[0]
    return -60.0 / slope

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


def edt(energy: np.ndarray, dt: float) -> float:
    """Early decay time (ISO 3382-1): T60 extrapolated from the 0 to −10 dB range of the
    Schroeder backward integral of ``energy``. NaN when the decay does not reach −10 dB."""
    e = np.asarray(energy, dtype=np.float64)
    schroeder = np.cumsum(e[::-1])[::-1]
    if schroeder[0] <= 0:
        return float("nan")
    db = 10 * np.log10(np.maximum(schroeder / schroeder[0], 1e-30))
    sel = db >= -10
    if sel.sum() < 3 or db.min() > -10:
        return float("nan")
    slope = np.polyfit(np.flatnonzero(sel) * dt, db[sel], 1)[0]
    return -60.0 / slope


def octave_band(h: np.ndarray, sample_rate: int, centre: float) -> np.ndarray:
    """``h`` filtered (zero phase) by a 4th-order Butterworth octave band around ``centre`` Hz."""
    from scipy.signal import butter, sosfiltfilt

    nyquist = sample_rate / 2
    lo, hi = centre / np.sqrt(2) / nyquist, min(centre * np.sqrt(2) / nyquist, 0.999)
    sos = butter(4, [lo, hi], btype="bandpass", output="sos")
    return sosfiltfilt(sos, np.asarray(h, dtype=np.float64))


def band_decay_times(h: np.ndarray, sample_rate: int, centres=(500.0, 1000.0)) -> dict[str, np.ndarray]:
    """{"t30": (B,), "edt": (B,)} seconds of an impulse response ``h`` in the octave bands ``centres``."""
    out = {"t30": [], "edt": []}
    for f in centres:
        e = octave_band(h, sample_rate, f) ** 2
        out["t30"].append(t30(e, 1.0 / sample_rate))
        out["edt"].append(edt(e, 1.0 / sample_rate))
    return {k: np.array(v) for k, v in out.items()}

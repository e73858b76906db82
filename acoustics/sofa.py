"""Reading measured HRIR sets from SOFA files (AES69, the ``SimpleFreeFieldHRIR`` convention)
with h5py, for ``acoustics.measured_head.MeasuredHead.from_sofa``: the convention and every
variable checked, one ``SofaError`` naming what is wrong."""

from __future__ import annotations

import numpy as np

SOFA_CONVENTION = "SimpleFreeFieldHRIR"
MIN_RATE, MAX_RATE = 1_000.0, 768_000.0  # Hz: the audio sample rates an HRIR set can be measured at


class SofaError(ValueError):
    """A SOFA file that cannot be used as a measured head (convention, missing or malformed data)."""


def _text(value) -> str:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace")
    return str(value)


def _read_sofa(f, where: str):
    conv = f.attrs.get("SOFAConventions")
    if conv is None:
        raise SofaError(f"{where}: no GLOBAL:SOFAConventions attribute, not a SOFA file "
                        f"(expected convention {SOFA_CONVENTION!r})")
    conv = _text(conv).strip()
    if conv != SOFA_CONVENTION:
        raise SofaError(f"{where}: SOFA convention {conv!r} is not supported; expected {SOFA_CONVENTION!r} "
                        f"(HRIRs of free-field sources)")
    for name in ("Data.IR", "Data.SamplingRate", "SourcePosition"):
        if name not in f:
            raise SofaError(f"{where}: malformed {SOFA_CONVENTION} file, variable {name!r} is missing")
    try:
        ir = np.asarray(f["Data.IR"], dtype=np.float64)
        fs = np.asarray(f["Data.SamplingRate"], dtype=np.float64).reshape(-1)
        pos = np.asarray(f["SourcePosition"], dtype=np.float64)
    except (TypeError, ValueError, OSError) as exc:  # h5py raises OSError for text it cannot convert
        raise SofaError(f"{where}: malformed {SOFA_CONVENTION} file, non-numeric data in Data.IR, Data.SamplingRate or "
                        f"SourcePosition ({exc})") from exc
    if ir.ndim != 3 or ir.shape[1] != 2 or ir.shape[0] < 1 or ir.shape[2] < 2:
        raise SofaError(f"{where}: malformed, Data.IR must be (measurements M, 2 receivers, taps N), got {ir.shape}")
    m = ir.shape[0]
    if pos.ndim != 2 or pos.shape[1] != 3 or pos.shape[0] not in (1, m) or (pos.shape[0] == 1 and m > 1):
        raise SofaError(f"{where}: malformed, SourcePosition must be ({m}, 3) to match Data.IR {ir.shape}, got {pos.shape}")
    if fs.size not in (1, m) or fs.size == 0:
        raise SofaError(f"{where}: malformed, Data.SamplingRate must hold 1 or {m} values, got {fs.size}")
    if not np.isfinite(ir).all():
        raise SofaError(f"{where}: malformed, Data.IR contains NaN or inf")
    if not np.isfinite(pos).all():
        raise SofaError(f"{where}: malformed, SourcePosition contains NaN or inf")
    if not (np.isfinite(fs).all() and ((fs >= MIN_RATE) & (fs <= MAX_RATE)).all()):
        raise SofaError(f"{where}: malformed, Data.SamplingRate must be positive, an audio rate between {MIN_RATE:g} and "
                        f"{MAX_RATE:g} Hz, got {fs[:4]}")
    if np.ptp(fs) > 0:
        raise SofaError(f"{where}: Data.SamplingRate differs between measurements ({fs.min():g}..{fs.max():g} Hz)")
    units_fs = _text(f["Data.SamplingRate"].attrs.get("Units", "hertz")).strip().lower()
    if units_fs not in ("hertz", "hz", ""):
        raise SofaError(f"{where}: Data.SamplingRate in {units_fs!r}; expected hertz")
    kind = _text(f["SourcePosition"].attrs.get("Type", "spherical")).strip().lower()
    units = _text(f["SourcePosition"].attrs.get("Units", "")).strip().lower()
    if kind == "cartesian":
        dist = np.linalg.norm(pos, axis=1)
        if (dist == 0).any():
            raise SofaError(f"{where}: malformed, a cartesian SourcePosition is at the origin")
        az = np.degrees(np.arctan2(pos[:, 1], pos[:, 0]))
        el = np.degrees(np.arcsin(np.clip(pos[:, 2] / dist, -1, 1)))
    elif kind == "spherical":
        scale = 180 / np.pi if "rad" in units else 1.0
        az, el, dist = pos[:, 0] * scale, pos[:, 1] * scale, pos[:, 2]
        if np.abs(el).max() > 90 + 1e-6:
            raise SofaError(f"{where}: malformed, SourcePosition elevations outside [-90, 90] degrees "
                            f"({el.min():g}..{el.max():g}; units {units or 'unspecified'!r})")
    else:
        raise SofaError(f"{where}: SourcePosition Type {kind!r}; expected 'spherical' or 'cartesian'")
    _check_directions(where, az, el)
    if "Data.Delay" in f:
        delay = np.asarray(f["Data.Delay"], dtype=np.float64)
        if delay.size not in (2, 2 * m) or not np.isfinite(delay).all() or (delay < 0).any() or (delay > fs[0]).any():
            raise SofaError(f"{where}: malformed, Data.Delay must be (1, 2) or ({m}, 2) non-negative samples of at most "
                            f"one second ({fs[0]:g}), got shape {delay.shape} with values "
                            f"{delay.min() if delay.size else None!r}..{delay.max() if delay.size else None!r}")
        delay = np.broadcast_to(np.round(delay.reshape(-1, 2)).astype(np.int64), (m, 2))
        if delay.any():
            ir = np.concatenate([ir, np.zeros((m, 2, int(delay.max())))], axis=2)
            for i, e in zip(*np.nonzero(delay)):
                ir[i, e] = np.roll(ir[i, e], delay[i, e])
    if "ReceiverPosition" in f:
        rp = np.asarray(f["ReceiverPosition"], dtype=np.float64)
        if rp.ndim >= 2 and rp.shape[0] == 2 and rp.shape[1] == 3:
            y = rp[:, 1].reshape(2, -1)[:, 0]
            if y[0] < y[1]:  # receiver 0 on the right: put the left ear first
                ir = ir[:, ::-1]
    meta = {str(k): _text(v) for k, v in f.attrs.items()
            if isinstance(v, (str, bytes, np.bytes_)) or (isinstance(v, np.ndarray) and v.dtype.kind in "SUO")}
    return ir, float(fs[0]), az, el, dist, meta


def _check_directions(where: str, az_deg: np.ndarray, el_deg: np.ndarray) -> None:
    """The measured directions must span the sphere: at least 4 distinct ones, not all in one
    plane (a horizontal ring, or one elevation), or no direction between them can be interpolated."""
    az, el = np.radians(az_deg), np.radians(el_deg)
    d = np.unique(np.round(np.c_[np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], 9), axis=0)
    flat = len(d) < 4 or np.linalg.svd(d - d.mean(axis=0), compute_uv=False)[-1] < 1e-6
    if flat:
        raise SofaError(f"{where}: the measured directions do not span the sphere: SourcePosition holds {len(d)} "
                        f"distinct directions, {'all in one plane' if len(d) >= 4 else 'fewer than 4'} (use a full "
                        "HRIR set)")


__all__ = ["SOFA_CONVENTION", "SofaError"]

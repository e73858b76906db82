"""Argument checks shared by every layer: each raises one ValueError sentence that names the
argument, the value given and what is allowed, at the public boundary where it was passed."""

from __future__ import annotations

import numbers

import numpy as np


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_number(name: str, value, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, unit: str = "") -> float:
    """A finite real number in [low, high] (open ends where asked); returns it as float."""
    unit = f" ({unit})" if unit else ""
    if not _is_real(value) or not np.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number{unit}, got {value!r}")
    v = float(value)
    bad_low = low is not None and (v <= low if low_open else v < low)
    bad_high = high is not None and (v >= high if high_open else v > high)
    if bad_low or bad_high:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        allowed = " and ".join(s for s in (lo, hi) if s)
        raise ValueError(f"{name} must be {allowed}{unit}, got {value!r}")
    return v


def check_positive(name: str, value, unit: str = "") -> float:
    """A finite number > 0."""
    return check_number(name, value, low=0.0, low_open=True, unit=unit)


def check_int(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """An integer (bool excluded; integral floats such as 3.0 are not accepted) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        if high is None:
            allowed = f">= {low}"
        elif low is None:
            allowed = f"<= {high}"
        else:
            allowed = f"between {low} and {high}"
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    return v


def check_choice(name: str, value, choices) -> object:
    """One of ``choices``."""
    choices = tuple(choices)
    try:
        ok = value in choices
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_points(name: str, value, dims: int | tuple[int, ...] = 3, *, single: bool = False) -> np.ndarray:
    """Finite coordinates: a (dims,) point when ``single``, else an (M, dims) array (a single
    point is promoted to (1, dims)). ``dims`` may list several accepted widths, e.g. (2, 3)."""
    widths = (dims,) if isinstance(dims, int) else tuple(dims)
    shape_text = " or ".join(f"({w},)" if single else f"(M, {w})" for w in widths)
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {shape_text} coordinates in metres, got {value!r}") from None
    ok = (a.ndim == 1 and a.shape[0] in widths) if single else (a.ndim in (1, 2) and a.shape[-1] in widths and a.size > 0)
    if not ok:
        raise ValueError(f"{name} must be {shape_text} coordinates in metres, got an array of shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite coordinates in metres, got {value!r}")
    return a if single else np.atleast_2d(a)

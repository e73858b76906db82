"""The files of an ``RIRCache``: the arrays of one source's file (every receiver computed for it,
as arrivals and tail parameters), what a process holds of one source, and which temporary files
are stale (left by a killed writer, named ``.<entry>.<pid>.<id>.tmp`` by ``earshot.files``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .binaural import DirectionalRIR
from .geometry import N_BANDS

_STALE_TMP_SECONDS = 3600.0  # a temporary file of a process on another host is stale after this


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _tmp_is_stale(path: Path, now: float) -> bool:
    """Temporary files are named ``.<entry>.<pid>.<id>.tmp``: stale when that process is gone, or
    (a process of another host sharing the folder) when older than an hour."""
    parts = path.name.split(".")
    try:
        pid = int(parts[-3])
    except (IndexError, ValueError):
        pid = -1
    try:
        age = now - path.stat().st_mtime
    except OSError:
        return False
    return (pid > 0 and pid != os.getpid() and not _pid_alive(pid)) or age > _STALE_TMP_SECONDS


def _point_key(p: np.ndarray) -> str:
    return f"{p[0]:.3f},{p[1]:.3f},{p[2]:.3f}"


def _rir_nbytes(rir: DirectionalRIR) -> int:
    return int(sum(a.nbytes for a in (rir.delays, rir.gains, rir.directions, rir.tail_times, rir.tail_level, rir.tail_rt60)) + 200)


# ---------------------------------------------------------------------- one file per source
_PER_ENTRY = ("delays", "gains", "directions", "tail_knots", "tail_level")


def pack_source(receivers: np.ndarray, rirs: list[DirectionalRIR]) -> dict[str, np.ndarray]:
    """The arrays of one source's file: per-receiver arrays concatenated, with offsets."""
    parts = [r.to_arrays() for r in rirs]
    out: dict[str, np.ndarray] = {"receivers": np.asarray(receivers, np.float64).reshape(-1, 3)}
    for name in _PER_ENTRY:
        out[name] = np.concatenate([p[name] for p in parts]) if parts else np.zeros((0,))
    out["k_offsets"] = np.r_[0, np.cumsum([len(p["delays"]) for p in parts])].astype(np.int64)
    out["j_offsets"] = np.r_[0, np.cumsum([len(p["tail_level"]) for p in parts])].astype(np.int64)
    out["sizes"] = np.array([[p["sample_rate"], p["n_samples"]] for p in parts], np.int64).reshape(-1, 2)
    out["tail_times"] = np.array([p["tail_times"] for p in parts], np.float64).reshape(-1, 2)
    out["tail_rt60"] = np.array([p["tail_rt60"] for p in parts], np.float64).reshape(-1, N_BANDS)
    out["seeds"] = np.array([p["seed"] for p in parts], np.uint64)
    out["head"] = np.array([p["head"] for p in parts], np.float64).reshape(-1, 2)
    return out


def unpack_source(a: dict[str, np.ndarray]) -> tuple[np.ndarray, list[DirectionalRIR]]:
    """(receivers (N, 3), their RIRs) from the arrays of one source's file."""
    receivers = np.asarray(a["receivers"], np.float64).reshape(-1, 3)
    n = len(receivers)
    k, j = np.asarray(a["k_offsets"]), np.asarray(a["j_offsets"])
    if len(k) != n + 1 or len(j) != n + 1 or len(a["seeds"]) != n:
        raise ValueError("receiver count does not match the offsets")
    rirs = []
    for i in range(n):
        rirs.append(DirectionalRIR.from_arrays({
            "sample_rate": a["sizes"][i, 0], "n_samples": a["sizes"][i, 1],
            "delays": a["delays"][k[i]:k[i + 1]], "gains": a["gains"][k[i]:k[i + 1]],
            "directions": a["directions"][k[i]:k[i + 1]],
            "tail_knots": a["tail_knots"][j[i]:j[i + 1]], "tail_level": a["tail_level"][j[i]:j[i + 1]],
            "tail_rt60": a["tail_rt60"][i],
            "tail_times": a["tail_times"][i], "seed": a["seeds"][i], "head": a["head"][i],
        }))
    return receivers, rirs


@dataclass
class _Source:
    """What this process holds of one source: its RIRs by receiver key, which of them are not on
    disk yet, and the (mtime, size) of the file they were read from."""

    rirs: dict[str, DirectionalRIR] = field(default_factory=dict)
    receivers: dict[str, np.ndarray] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)
    stamp: tuple | None = None
    nbytes: int = 0
    key: str = ""

    def add(self, rkey: str, receiver: np.ndarray, rir: DirectionalRIR) -> None:
        if rkey not in self.rirs:
            self.rirs[rkey], self.receivers[rkey] = rir, receiver
            self.nbytes += _rir_nbytes(rir)


__all__ = ["pack_source", "unpack_source"]

"""The files of an ``RIRCache``: the arrays of one source's file (every receiver computed for it,
as arrivals and tail parameters), what a process holds of one source, which temporary files
are stale (left by a killed writer, named ``.<entry>.<pid>.<id>.tmp`` by ``earshot.files``), and
the record of the audio config that made a config folder's files (``audio_config.json``), read
back to say how a cache filled with other settings differs from the config looking it up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import json

import numpy as np

from ..files import write_json_atomic
from .binaural import DirectionalRIR
from .config import AudioConfig
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


# ---------------------------------------------------------------------- the config of a folder
CONFIG_RECORD = "audio_config.json"  # in each config folder: the AudioConfig its files were made with


def record_config(folder: Path, config: AudioConfig) -> None:
    """Write ``folder``'s record of the config its files are made with, unless it is there."""
    path = folder / CONFIG_RECORD
    if not path.exists():
        write_json_atomic(path, {"config_hash": config.config_hash, "audio_config": config.to_dict()})


def has_entries(folder: str | os.PathLike) -> bool:
    """Whether a config folder holds at least one source file."""
    try:
        return any(f.name.endswith(".npz") and not f.name.startswith(".") for f in os.scandir(folder))
    except OSError:
        return False


def read_config_record(folder: str | os.PathLike) -> dict | None:
    """The recorded AudioConfig fields of a config folder, or None (not recorded: filled before
    records were written, or unreadable)."""
    try:
        record = json.loads((Path(folder) / CONFIG_RECORD).read_text())
        fields = record["audio_config"]
        return fields if isinstance(fields, dict) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def differing_settings(config: AudioConfig, other: dict) -> list[str]:
    """The fields of ``config`` that ``other`` (recorded fields) sets differently and that change an
    RIR (those of ``config_hash``), in declaration order."""
    mine = config.to_dict()
    out = []
    for name, value in mine.items():
        if name not in other or other[name] == value:
            continue
        try:
            changes_rir = config.replace(**{name: other[name]}).config_hash != config.config_hash
        except (TypeError, ValueError):  # not a valid value on its own: report it
            changes_rir = True
        if changes_rir:
            out.append(name)
    return out


def mismatch_message(root: Path, config: AudioConfig, others: list[tuple[str, dict | None]]) -> str:
    """The warning for a cache whose folder for a scene holds files made with other configs
    (``others``: (folder name, recorded fields or None)) and none with ``config``."""
    theirs, names = [], []
    for folder, fields in others:
        diff = differing_settings(config, fields) if fields is not None else []
        if diff:
            theirs.append(", ".join(f"{k}={fields[k]!r}" for k in diff))
            names += [k for k in diff if k not in names]
        else:
            theirs.append(f"other audio settings (config hash {folder}…, not recorded)")
    ours = ", ".join(f"{k}={getattr(config, k)!r}" for k in names) or f"config hash {config.config_hash[:16]}…"
    return (f"the RIR cache at {root} was filled with {' or '.join(theirs)}; this env uses {ours}: nothing in it will "
            f"be read; rerun scripts/precompute_rirs.py with the env's settings")


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
    config: AudioConfig | None = None  # the config its RIRs are made with

    def add(self, rkey: str, receiver: np.ndarray, rir: DirectionalRIR) -> None:
        if rkey not in self.rirs:
            self.rirs[rkey], self.receivers[rkey] = rir, receiver
            self.nbytes += _rir_nbytes(rir)


__all__ = ["pack_source", "unpack_source"]

"""Verified ``.npz`` files for earshot's on-disk caches: plain arrays plus the entry's key and a
SHA-256 of the arrays, written to a temporary name and renamed into place (readers see a whole
file or none), read back with ``allow_pickle=False`` and checked before use."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..files import atomic_path


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of ``arrays``."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_atomic(path: Path, arrays: dict[str, np.ndarray], key: str, tag: str = "") -> None:
    """Write ``arrays`` with ``key`` and their checksum to ``path`` atomically (the temporary
    file is ``.<name>.<pid>[.<tag>].tmp`` in the same folder). OS errors propagate."""
    payload = dict(arrays, _checksum=np.array(checksum(arrays)), _key=np.array(key))
    with atomic_path(path, tag) as tmp, open(tmp, "wb") as f:
        np.savez(f, **payload)


def read_verified(path: Path, key: str) -> dict[str, np.ndarray]:
    """The arrays stored at ``path``. Raises FileNotFoundError when it is gone, and ValueError
    saying what is wrong when it cannot be read, holds another key or fails its checksum."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise ValueError(f"unreadable ({type(exc).__name__}: {exc})") from exc
    stored_sum = str(arrays.pop("_checksum", np.array(""))[()])
    stored_key = str(arrays.pop("_key", np.array(""))[()])
    if stored_key != key:
        raise ValueError("its key does not match")
    if stored_sum != checksum(arrays):
        raise ValueError("its checksum does not match its contents")
    return arrays

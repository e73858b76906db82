"""Verified ``.npz`` files for earshot's on-disk caches: plain arrays plus the entry's key and a
SHA-256 of the arrays, written to a temporary name and renamed into place (readers see a whole
file or none), read back with ``allow_pickle=False`` and checked before use."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
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


class KeyedStore:
    """A folder of verified ``.npz`` entries addressed by a key string (the file name is a hash
    of it): what the on-disk caches (``store.SceneCache``, ``acoustics.tail_store.TailStore``)
    share. A corrupt entry is reported, removed and treated as absent; a folder that cannot be
    written is reported once and left alone from then on.

    Args:
        root: the folder (created on demand); share it between workers and runs.
        option: the argument's name, for errors ("scene_cache").
        what: the cache's name in messages ("scene cache").
        redo: what happens to a corrupt entry ("rebuilding it").
        fallback: what happens when the folder cannot be written ("building scenes in memory").
    """

    def __init__(self, root, *, option: str, what: str, redo: str, fallback: str):
        if not isinstance(root, (str, os.PathLike)) or str(root).strip() == "":
            raise ValueError(f"{option} must be a folder path, got {root!r}")
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"{option} {str(self.root)!r} is a file, not a folder: pass a folder path")
        self._what, self._redo, self._fallback = what, redo, fallback
        self.writable = True
        self.hits = self.misses = self.corrupt = 0

    def path(self, key: str) -> Path:
        return self.root / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"

    def load_entry(self, key: str, decode: Callable[[dict], object]):
        """``decode(arrays)`` of the entry of ``key``, or None when it is absent or damaged (any
        error reading or decoding it: reported, the file removed). Counts hits and corrupt entries."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            out = decode(read_verified(path, key))
        except FileNotFoundError:
            return None
        except Exception as exc:  # any damage: report, remove, make it again
            self.corrupt += 1
            logging.getLogger(__name__).warning("corrupt %s entry %s (%s: %s); %s", self._what, path,
                                                type(exc).__name__, exc, self._redo)
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
            return None
        self.hits += 1
        return out

    def save_entry(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Store atomically; on an OS error warn once and go on without writing."""
        if not self.writable:
            return
        try:
            write_atomic(self.path(key), arrays, key)
        except OSError as exc:
            self.writable = False
            logging.getLogger(__name__).warning("%s at %s cannot be written (%s: %s); %s from now on", self._what,
                                                self.root, type(exc).__name__, exc, self._fallback)

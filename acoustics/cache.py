"""On-disk RIR cache: lazy compute, atomic writes, checksums verified on read.

Layout: ``root/<scene hash[:16]>/<config hash[:16]>/<key hash[:2]>/<key hash>.npz``, one
DirectionalRIR per file (a few kB: arrivals and tail parameters, not sample arrays). A file is
written to a temporary name in the same folder and renamed into place, so readers in other
processes see a whole entry or none. Each entry stores its key and a SHA-256 of its arrays; an
entry that fails to load or verify is reported (logged), deleted and recomputed — never returned.
Files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..scenes import Scene

from .config import AudioConfig
from .rir import DirectionalRIR, compute_rirs

logger = logging.getLogger(__name__)


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class CorruptEntry(Exception):
    pass


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


class RIRCache:
    """RIRs keyed by (scene content hash, config hash, source, receiver), positions rounded to 1 mm.

    Args:
        root: cache folder (created on demand).
        memory_items: how many RIRs to keep in an in-process LRU on top of the disk (a rendered
            RIR holds ~1.5 MB of tail signals at 16 kHz, so keep this modest).

    Robustness: entries are written to a temporary file and renamed into place; temporary
    files left by killed processes are removed (``clean``, and in each folder written to). A
    corrupt entry is reported, removed and recomputed. Processes that need the same source
    take turns on a lock file per (scene, config, source), so the second reads what the first
    wrote instead of computing it again. A cache that cannot be written (read-only, full, an
    entry path that is a folder) falls back to computing in memory, with one warning.
    """

    def __init__(self, root: str | os.PathLike, memory_items: int = 256):
        from ..scenes.checks import check_int

        if not isinstance(root, (str, os.PathLike)) or str(root).strip() == "":
            raise ValueError(f"rir_cache root must be a folder path, got {root!r}")
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"rir_cache root {str(self.root)!r} is a file, not a folder: pass a folder path")
        self.memory_items = check_int("memory_items", memory_items, low=0)
        self._memory: OrderedDict[str, DirectionalRIR] = OrderedDict()
        self.hits = self.misses = self.corrupt = 0
        self.writable = True
        self._warned: set[str] = set()
        self._cleaned: set[Path] = set()

    def _disable_disk(self, exc: OSError) -> None:
        """Stop using the disk after an OS error, with one warning for the whole cache."""
        self.writable = False
        self._warn_once("write", "RIR cache at %s cannot be written (%s: %s); computing RIRs in memory from now on",
                        self.root, type(exc).__name__, exc)

    def _warn_once(self, kind: str, message: str, *args) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            logger.warning(message, *args)

    # ------------------------------------------------------------------ keys and paths
    @staticmethod
    def key(scene: Scene, source, receiver, *, config: AudioConfig) -> str:
        s = np.round(np.asarray(source, dtype=np.float64).reshape(3), 3) + 0.0
        r = np.round(np.asarray(receiver, dtype=np.float64).reshape(3), 3) + 0.0
        return f"{scene.content_hash}|{config.config_hash}|{s[0]:.3f},{s[1]:.3f},{s[2]:.3f}|{r[0]:.3f},{r[1]:.3f},{r[2]:.3f}"

    def _folder(self, scene: Scene, config: AudioConfig) -> Path:
        return self.root / scene.content_hash[:16] / config.config_hash[:16]

    def path(self, scene: Scene, source, receiver, *, config: AudioConfig) -> Path:
        k = self.key(scene, source, receiver, config=config)
        digest = hashlib.sha256(k.encode()).hexdigest()
        return self._folder(scene, config) / digest[:2] / f"{digest}.npz"

    # ------------------------------------------------------------------ reading and writing
    def _read(self, path: Path, key: str) -> DirectionalRIR:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except Exception as exc:
            raise CorruptEntry(f"unreadable ({type(exc).__name__}: {exc})") from exc
        stored_sum = str(arrays.pop("_checksum", np.array(""))[()])
        stored_key = str(arrays.pop("_key", np.array(""))[()])
        if stored_key != key:
            raise CorruptEntry("its key does not match")
        if stored_sum != _checksum(arrays):
            raise CorruptEntry("its checksum does not match its contents")
        try:
            return DirectionalRIR.from_arrays(arrays)
        except Exception as exc:
            raise CorruptEntry(f"missing or malformed arrays ({exc})") from exc

    def _write(self, path: Path, key: str, rir: DirectionalRIR) -> None:
        """Store one entry atomically; on an OS error (read-only or full disk, a folder in the
        way) warn once and go on without the disk."""
        if not self.writable:
            return
        arrays = rir.to_arrays()
        payload = dict(arrays, _checksum=np.array(_checksum(arrays)), _key=np.array(key))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(rir)}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._clean_folder(path.parent)
            try:
                with open(tmp, "wb") as f:
                    np.savez(f, **payload)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            self._disable_disk(exc)

    def _clean_folder(self, folder: Path) -> int:
        """Remove stale temporary files in one folder (once per folder and process)."""
        if folder in self._cleaned:
            return 0
        self._cleaned.add(folder)
        removed, now = 0, time.time()
        for tmp in folder.glob(".*.tmp"):
            if _tmp_is_stale(tmp, now):
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed

    def clean(self) -> int:
        """Remove stale temporary files (left by killed writers) under the whole cache; returns
        how many were removed."""
        if not self.root.is_dir():
            return 0
        removed, now = 0, time.time()
        for tmp in self.root.rglob(".*.tmp"):
            if _tmp_is_stale(tmp, now):
                try:
                    tmp.unlink()
                    removed += 1
                except OSError:
                    pass
        return removed

    def _remember(self, key: str, rir: DirectionalRIR) -> None:
        if self.memory_items <= 0:
            return
        self._memory[key] = rir
        self._memory.move_to_end(key)
        while len(self._memory) > self.memory_items:
            self._memory.popitem(last=False)

    def lookup(self, scene: Scene, source, receiver, *, config: AudioConfig) -> DirectionalRIR | None:
        """The cached RIR, or None if absent (or unusable: then it is reported and, when it is a
        corrupt file, removed)."""
        key = self.key(scene, source, receiver, config=config)
        if key in self._memory:
            self._memory.move_to_end(key)
            self.hits += 1
            return self._memory[key]
        path = self.path(scene, source, receiver, config=config)
        try:
            if not path.exists():
                return None
        except OSError:
            return None
        if not path.is_file():
            self._warn_once("not_a_file", "RIR cache entry %s is not a file; computing that RIR in memory", path)
            return None
        try:
            rir = self._read(path, key)
        except CorruptEntry as exc:
            self.corrupt += 1
            logger.warning("corrupt RIR cache entry %s: %s; recomputing it", path, exc)
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
            return None
        self.hits += 1
        self._remember(key, rir)
        return rir

    def contains(self, scene: Scene, source, receiver, *, config: AudioConfig) -> bool:
        return self.path(scene, source, receiver, config=config).is_file()

    def get(self, scene: Scene, source, receiver, *, config: AudioConfig | None = None) -> DirectionalRIR:
        """The RIR from cache, computing and storing it if needed."""
        return self.get_many(scene, source, np.asarray(receiver, dtype=np.float64).reshape(1, 3), config=config)[0]

    def get_many(self, scene: Scene, source, receivers, *, config: AudioConfig | None = None) -> list[DirectionalRIR]:
        """RIRs from one source to many receivers; the missing ones are computed in one batch,
        by one process at a time per source (others wait, then read its entries)."""
        from ..scenes.checks import check_points

        config = config or AudioConfig()
        if not isinstance(config, AudioConfig):
            raise ValueError(f"config must be an AudioConfig, got {type(config).__name__}")
        # entries are computed at the rounded positions of their keys: the content depends on the key only
        source = np.round(check_points("source", source, 3, single=True), 3)
        receivers = np.round(check_points("receivers", receivers, 3), 3)
        out: list[DirectionalRIR | None] = [self.lookup(scene, source, r, config=config) for r in receivers]
        missing = [i for i, r in enumerate(out) if r is None]
        if missing:
            with self._source_lock(scene, source, config):
                # another process may have computed them while we waited for the lock
                still = []
                for i in missing:
                    out[i] = self.lookup(scene, source, receivers[i], config=config)
                    if out[i] is None:
                        still.append(i)
                if still:
                    self.misses += len(still)
                    computed = compute_rirs(scene, source, receivers[still], config)
                    for i, rir in zip(still, computed):
                        key = self.key(scene, source, receivers[i], config=config)
                        self._write(self.path(scene, source, receivers[i], config=config), key, rir)
                        self._remember(key, rir)
                        out[i] = rir
        return out  # type: ignore[return-value]

    @contextmanager
    def _source_lock(self, scene: Scene, source, config: AudioConfig):
        """An exclusive advisory lock (flock) per source, released when the holder exits or dies.
        Without a writable cache (or fcntl) there is nothing to share, so no lock is taken."""
        handle = None
        if self.writable:
            try:
                import fcntl

                digest = hashlib.sha256(np.round(source, 3).tobytes()).hexdigest()[:24]
                folder = self._folder(scene, config) / ".locks"
                folder.mkdir(parents=True, exist_ok=True)
                handle = open(folder / f"{digest}.lock", "a+b")
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            except (ImportError, OSError) as exc:
                if handle is not None:
                    handle.close()
                    handle = None
                if isinstance(exc, OSError):
                    self._disable_disk(exc)
        try:
            yield
        finally:
            if handle is not None:
                handle.close()  # closing releases the flock

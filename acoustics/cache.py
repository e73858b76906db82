"""On-disk RIR cache: one file per source (all the receivers computed for it), lazy compute,
atomic writes, checksums verified on read, memory and disk budgets enforced.

Layout: ``root/<scene hash[:16]>/<config hash[:16]>/<source key hash>.npz``. A file holds every
receiver computed so far for one source, as arrivals and tail parameters (a few kB per receiver,
not sample arrays), with its key and a SHA-256 of its arrays. New receivers are gathered in
memory and merged into the file in batches (``write_batch``, ``flush()``, ``close()`` and at
exit), under a lock per source: the merged file is written to a temporary name in the same
folder and renamed into place, so readers in other processes see a whole file or none. A file
that fails to load or verify is reported (logged), deleted and its receivers recomputed —
never returned. Files are read with ``allow_pickle=False``.

Each config folder records the AudioConfig its files are made with (``audio_config.json``). A
cache that holds files for a scene made with other configs and none with the config looking them
up (a precompute run with other settings than the env's) is reported once per process, naming
the settings that differ.
"""

from __future__ import annotations

import hashlib
import logging
import os
import atexit
import time
import weakref
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..scenes import Scene
from ..scenes.lru import BUDGETS, LRU
from ..scenes.npzio import read_verified, write_atomic

from .cache_files import (
    _point_key, _Source, _tmp_is_stale, has_entries, mismatch_message, pack_source, read_config_record, record_config,
    unpack_source,
)
from .config import AudioConfig
from .rir import DirectionalRIR, compute_rirs
from .scene_acoustics import SceneAcoustics
from .heads import load_head

logger = logging.getLogger(__name__)

FORMAT = 3  # one file per source, knot tails; older versions are not read

# Config folders this process has checked against the other configs of their scene's folder, and
# the (root, config) pairs it has warned about: one warning per process, however many caches
# (a precompute opens one per job) or scenes meet the same mismatch.
_checked_folders: set[tuple[str, str, str]] = set()  # (root, scene folder, config folder)
_mismatch_warned: set[tuple[str, str]] = set()


class CorruptEntry(Exception):
    pass


class RIRCache:
    """RIRs keyed by (scene content hash, config hash, source, receiver), positions rounded to 1 mm,
    stored on disk one file per source.

    Args:
        root: cache folder (created on demand).
        memory_mb: budget of the RIRs kept in this process (as parameters, a few kB each),
            enforced by dropping the least recently used sources; receivers not yet written are
            written before their source is dropped. 0 keeps nothing beyond the call.
        disk_mb: budget of the files under ``root``, enforced after each write by deleting the
            least recently used source files (their modification time is refreshed when they
            are read). ``None`` for no limit.
        write_batch: new receivers gathered in memory before they are merged into their files.

    Robustness: files are written to a temporary name and renamed into place; temporary files
    left by killed processes are removed (``clean``, and in each folder written to). A corrupt
    file is reported, removed and its receivers recomputed. Processes that need the same source
    take turns on a lock file per (scene, config, source); a batch of at least ``write_batch``
    receivers (or any, with ``memory_mb=0``) is written before the lock is released, so the
    second process reads it instead of computing it again. Receivers computed one at a time
    (an env's lazy RIRs) are written in batches, so two workers may both compute one of them. A cache that cannot be written (read-only, full, a
    folder where a file must go) falls back to computing in memory, with one warning.
    """

    def __init__(self, root: str | os.PathLike, memory_mb: float = BUDGETS.cache_memory_mb,
                 disk_mb: float | None = BUDGETS.cache_disk_mb, write_batch: int = 64):
        from ..scenes.checks import check_int, check_number

        if not isinstance(root, (str, os.PathLike)) or str(root).strip() == "":
            raise ValueError(f"rir_cache root must be a folder path, got {root!r}")
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"rir_cache root {str(self.root)!r} is a file, not a folder: pass a folder path")
        self.memory_bytes = int(check_number("memory_mb", memory_mb, low=0) * 2**20)
        self.disk_bytes = None if disk_mb is None else int(check_number("disk_mb", disk_mb, low=0, low_open=True) * 2**20)
        self.write_batch = check_int("write_batch", write_batch, low=1)
        # sources kept in memory, weighed by the bytes of their RIRs' parameters (a weak
        # reference back, so that a cache nobody holds is collected, and flushed, at once)
        ref = weakref.ref(self)
        self._sources: LRU = LRU(2**31, on_evict=lambda path, entry: ref() is not None and ref()._evicted(path, entry),
                                 weigh=lambda e: e.nbytes, max_weight=self.memory_bytes)
        self._pending = 0
        self._held: Path | None = None
        self._disk_used: int | None = None  # bytes under root, scanned on the first write
        self.hits = self.misses = self.corrupt = self.evicted_files = 0
        self.writable = True
        self._warned: set[str] = set()
        self._cleaned: set[Path] = set()
        self._recorded: set[Path] = set()  # config folders whose config record is known to be written
        self._root_key = str(self.root.resolve())  # this cache's folder in the process's once-only checks
        atexit.register(lambda: ref() is not None and ref()._pending and ref().flush())  # receivers not yet written

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
    def key(scene: Scene, source, *, config: AudioConfig) -> str:
        """The key of one source's file (positions rounded to 1 mm)."""
        s = np.round(np.asarray(source, dtype=np.float64).reshape(3), 3) + 0.0
        return f"{FORMAT}|{scene.content_hash}|{config.config_hash}|{_point_key(s)}"

    def _folder(self, scene: Scene, config: AudioConfig) -> Path:
        return self.root / scene.content_hash[:16] / config.config_hash[:16]

    def path(self, scene: Scene, source, *, config: AudioConfig) -> Path:
        """The file that holds every stored receiver of ``source``."""
        digest = hashlib.sha256(self.key(scene, source, config=config).encode()).hexdigest()
        return self._folder(scene, config) / f"{digest[:32]}.npz"

    # ------------------------------------------------------------------ reading and writing
    def _read(self, path: Path, key: str) -> tuple[np.ndarray, list[DirectionalRIR]]:
        try:
            arrays = read_verified(path, key)
        except ValueError as exc:
            raise CorruptEntry(str(exc)) from exc
        try:
            return unpack_source(arrays)
        except Exception as exc:
            raise CorruptEntry(f"missing or malformed arrays ({exc})") from exc

    @staticmethod
    def _stamp(path: Path) -> tuple | None:
        try:
            st = path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _load(self, path: Path, key: str, entry: _Source) -> None:
        """Merge what the file holds into ``entry`` (if the file changed since last read)."""
        stamp = self._stamp(path)
        if stamp is None or stamp == entry.stamp:
            return
        if not path.is_file():
            self._warn_once("not_a_file", "RIR cache entry %s is not a file; computing its RIRs in memory", path)
            entry.stamp = stamp
            return
        try:
            receivers, rirs = self._read(path, key)
        except FileNotFoundError:  # removed (by a budget) between stat and open
            return
        except CorruptEntry as exc:
            self.corrupt += 1
            logger.warning("corrupt RIR cache entry %s: %s; recomputing its RIRs", path, exc)
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
            return
        entry.stamp = stamp
        for r, rir in zip(receivers, rirs):
            entry.add(_point_key(r), r, rir)
        try:
            os.utime(path)  # recently used: the disk budget removes it last
            entry.stamp = self._stamp(path)
        except OSError:
            pass

    def _write_source(self, path: Path, entry: _Source) -> None:
        """Merge the receivers of ``entry`` with those on disk (another process may have added
        some) and replace the file atomically. On an OS error (read-only or full disk, a folder
        in the way) warn once and go on without the disk."""
        if not entry.pending:
            return
        self._pending -= len(entry.pending)
        entry.pending.clear()
        if not self.writable:
            return
        key = entry.key
        with self._source_lock(path):
            if not self.writable:
                return
            self._load(path, key, entry)  # receivers other processes wrote meanwhile
            order = sorted(entry.rirs)
            arrays = pack_source(np.array([entry.receivers[k] for k in order]), [entry.rirs[k] for k in order])
            old = self._stamp(path)
            try:
                self._clean_folder(path.parent)
                if entry.config is not None and path.parent not in self._recorded:
                    record_config(path.parent, entry.config)
                    self._recorded.add(path.parent)
                write_atomic(path, arrays, key, tag=str(id(entry)))
            except OSError as exc:
                self._disable_disk(exc)
                return
            entry.stamp = self._stamp(path)
        if self._disk_used is not None and entry.stamp is not None:
            self._disk_used += entry.stamp[1] - (old[1] if old else 0)
        self._enforce_disk_budget()

    # ------------------------------------------------------------------ budgets
    def _evicted(self, path: Path, entry: _Source) -> None:
        if entry.pending:
            self._write_source(path, entry)

    def _enforce_memory_budget(self, path: Path, entry: _Source) -> None:
        """Weigh the source again (it may have grown); least recently used sources beyond the
        budget are dropped, their unwritten receivers written first."""
        self._sources[path] = entry

    def disk_usage(self) -> int:
        """Bytes of the cache's files under ``root`` (scanned now)."""
        return sum(size for _, size, _ in self._files())

    def _files(self):
        out = []
        if not self.root.is_dir():
            return out
        for scene_dir in os.scandir(self.root):
            if not scene_dir.is_dir():
                continue
            for config_dir in os.scandir(scene_dir.path):
                if not config_dir.is_dir():
                    continue
                for f in os.scandir(config_dir.path):
                    if f.name.endswith(".npz") and not f.name.startswith("."):
                        try:
                            st = f.stat()
                        except OSError:
                            continue
                        out.append((f.path, st.st_size, st.st_mtime_ns))
        return out

    def _enforce_disk_budget(self) -> None:
        if self.disk_bytes is None:
            return
        if self._disk_used is None:
            self._disk_used = self.disk_usage()
        if self._disk_used <= self.disk_bytes:
            return
        files = sorted(self._files(), key=lambda f: f[2])  # least recently used first
        used = sum(size for _, size, _ in files)
        target = int(self.disk_bytes * 0.9)
        for name, size, _ in files:
            if used <= target:
                break
            try:
                os.unlink(name)
            except OSError:
                continue
            used -= size
            self.evicted_files += 1
        self._disk_used = used

    # ------------------------------------------------------------------ maintenance
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

    def flush(self) -> None:
        """Write every receiver gathered in memory to its source's file."""
        RIRCache._flush_all(self._sources, self._write_source)

    @staticmethod
    def _flush_all(sources, write) -> None:
        for path, entry in list(sources.items()):
            if entry.pending:
                write(path, entry)

    def close(self) -> None:
        """Flush, then forget what is in memory."""
        self.flush()
        self._sources.clear()

    def __del__(self):
        if not getattr(self, "_pending", 0):
            return  # the common case: nothing to write, so nothing that a Ctrl-C here could interrupt
        try:
            self.flush()
        except Exception:  # interpreter shutting down: nothing more can be done
            pass

    @property
    def memory_used(self) -> int:
        """Bytes of RIR parameters this process keeps (the ``memory_mb`` budget's measure)."""
        return int(self._sources.weight)

    # ------------------------------------------------------------------ lookups
    def _entry(self, scene: Scene, source: np.ndarray, config: AudioConfig) -> tuple[Path, _Source]:
        path = self.path(scene, source, config=config)
        entry = self._sources.get(path)
        if entry is None:
            if (self._root_key, path.parent.parent.name, path.parent.name) not in _checked_folders:
                self._check_config(path.parent, config)
            entry = _Source()
            entry.key = self.key(scene, source, config=config)
            entry.config = config
            self._sources[path] = entry
            self._load(path, entry.key, entry)
        return path, entry

    def _check_config(self, folder: Path, config: AudioConfig) -> None:
        """Warn (once per process for this root and config) when the scene's folder holds files made
        with other configs and ``folder`` (this config's) holds none: nothing will be read."""
        _checked_folders.add((self._root_key, folder.parent.name, folder.name))
        once = (self._root_key, config.config_hash)
        if once in _mismatch_warned:
            return
        try:
            others = [Path(d.path) for d in os.scandir(folder.parent) if d.is_dir() and d.name != folder.name]
        except OSError:  # nothing stored for this scene
            return
        others = [d for d in others if has_entries(d)]
        if not others or has_entries(folder):
            return
        _mismatch_warned.add(once)
        logger.warning("%s", mismatch_message(self.root, config, [(d.name, read_config_record(d)) for d in sorted(others)]))

    def lookup(self, scene: Scene, source, receiver, *, config: AudioConfig) -> DirectionalRIR | None:
        """The cached RIR, or None if absent (or unusable: then it is reported and, when its
        file is corrupt, the file is removed)."""
        source, receiver = np.round(np.asarray(source, np.float64).reshape(3), 3), np.round(np.asarray(receiver, np.float64).reshape(3), 3)
        path, entry = self._entry(scene, source, config)
        rkey = _point_key(receiver)
        if rkey not in entry.rirs:
            self._load(path, entry.key, entry)  # another process may have added it
        rir = entry.rirs.get(rkey)
        if rir is not None:
            self.hits += 1
        self._enforce_memory_budget(path, entry)
        return rir

    def missing(self, scene: Scene, source, receivers, *, config: AudioConfig) -> list[int]:
        """Indices of the receivers with no stored RIR from ``source``."""
        from ..scenes.checks import check_points

        source = np.round(check_points("source", source, 3, single=True), 3)
        receivers = np.round(check_points("receivers", receivers, 3), 3)
        path, entry = self._entry(scene, source, config)
        out = [i for i, r in enumerate(receivers) if _point_key(r) not in entry.rirs]
        self._enforce_memory_budget(path, entry)
        return out

    def contains(self, scene: Scene, source, receiver, *, config: AudioConfig) -> bool:
        return not self.missing(scene, source, np.asarray(receiver, np.float64).reshape(1, 3), config=config)

    def get(self, scene: Scene, source, receiver, *, config: AudioConfig | None = None,
            acoustics: SceneAcoustics | None = None) -> DirectionalRIR:
        """The RIR from cache, computing and storing it if needed."""
        return self.get_many(scene, source, np.asarray(receiver, dtype=np.float64).reshape(1, 3), config=config,
                             acoustics=acoustics)[0]

    def get_many(self, scene: Scene, source, receivers, *, config: AudioConfig | None = None,
                 acoustics: SceneAcoustics | None = None) -> list[DirectionalRIR]:
        """RIRs from one source to many receivers; the missing ones are computed in one batch,
        by one process at a time per source (others wait, then read what it wrote), with the
        scene's ``acoustics`` (``compute_rirs``'s argument: default, the scene's own)."""
        from ..scenes.checks import check_points

        config = config or AudioConfig()
        if not isinstance(config, AudioConfig):
            raise ValueError(f"config must be an AudioConfig, got {type(config).__name__}")
        # entries are computed at the rounded positions of their keys: the content depends on the key only
        source = np.round(check_points("source", source, 3, single=True), 3)
        receivers = np.round(check_points("receivers", receivers, 3), 3)
        path, entry = self._entry(scene, source, config)
        rkeys = [_point_key(r) for r in receivers]
        if any(k not in entry.rirs for k in rkeys):
            self._load(path, entry.key, entry)  # another process may have added them
        still = [i for i, k in enumerate(rkeys) if k not in entry.rirs]
        if still:
            with self._source_lock(path):
                self._load(path, entry.key, entry)  # computed by another process while we waited
                still = [i for i in still if rkeys[i] not in entry.rirs]
                if still:
                    self.misses += len(still)
                    for i, rir in zip(still, compute_rirs(scene, source, receivers[still], config, acoustics=acoustics)):
                        entry.add(rkeys[i], receivers[i], rir)
                        entry.pending.add(rkeys[i])
                    self._pending += len(still)
                    if len(entry.pending) >= self.write_batch or self.memory_bytes == 0:
                        # written before the lock is released, so a process waiting for this
                        # source reads these instead of computing them again
                        self._write_source(path, entry)
        out = [entry.rirs[k] for k in rkeys]
        hrtf = load_head(config)
        for rir in out:  # RIRs are head-independent: they render with the head of the config that fetched them
            rir.hrtf = hrtf
        self.hits += len(rkeys) - len(still)
        if self._pending >= self.write_batch:
            self.flush()
        self._enforce_memory_budget(path, entry)
        return out

    @contextmanager
    def _source_lock(self, path: Path):
        """An exclusive advisory lock (flock) per source file, released when the holder exits or
        dies. Without a writable cache (or fcntl) there is nothing to share, so no lock is taken.
        The lock is re-entrant within this process."""
        if getattr(self, "_held", None) == path:
            yield
            return
        handle = None
        if self.writable:
            try:
                import fcntl

                folder = path.parent / ".locks"
                folder.mkdir(parents=True, exist_ok=True)
                handle = open(folder / f"{path.stem}.lock", "a+b")
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            except (ImportError, OSError) as exc:
                if handle is not None:
                    handle.close()
                    handle = None
                if isinstance(exc, OSError):
                    self._disable_disk(exc)
        self._held = path
        try:
            yield
        finally:
            self._held = None
            if handle is not None:
                handle.close()  # closing releases the flock

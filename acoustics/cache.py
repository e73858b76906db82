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
from collections import OrderedDict
from pathlib import Path

import numpy as np

from scenes import Scene

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


class RIRCache:
    """RIRs keyed by (scene content hash, config hash, source, receiver), positions rounded to 1 mm.

    Args:
        root: cache folder (created on demand).
        memory_items: how many RIRs to keep in an in-process LRU on top of the disk (a rendered
            RIR holds ~1.5 MB of tail signals at 16 kHz, so keep this modest).
    """

    def __init__(self, root: str | os.PathLike, memory_items: int = 256):
        self.root = Path(root)
        self.memory_items = int(memory_items)
        self._memory: OrderedDict[str, DirectionalRIR] = OrderedDict()
        self.hits = self.misses = self.corrupt = 0

    # ------------------------------------------------------------------ keys and paths
    @staticmethod
    def key(scene: Scene, config: AudioConfig, source, receiver) -> str:
        s = np.round(np.asarray(source, dtype=np.float64).reshape(3), 3) + 0.0
        r = np.round(np.asarray(receiver, dtype=np.float64).reshape(3), 3) + 0.0
        return f"{scene.content_hash}|{config.config_hash}|{s[0]:.3f},{s[1]:.3f},{s[2]:.3f}|{r[0]:.3f},{r[1]:.3f},{r[2]:.3f}"

    def path(self, scene: Scene, config: AudioConfig, source, receiver) -> Path:
        k = self.key(scene, config, source, receiver)
        digest = hashlib.sha256(k.encode()).hexdigest()
        return self.root / scene.content_hash[:16] / config.config_hash[:16] / digest[:2] / f"{digest}.npz"

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
        arrays = rir.to_arrays()
        payload = dict(arrays, _checksum=np.array(_checksum(arrays)), _key=np.array(key))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(rir)}.tmp")
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _remember(self, key: str, rir: DirectionalRIR) -> None:
        if self.memory_items <= 0:
            return
        self._memory[key] = rir
        self._memory.move_to_end(key)
        while len(self._memory) > self.memory_items:
            self._memory.popitem(last=False)

    def lookup(self, scene: Scene, config: AudioConfig, source, receiver) -> DirectionalRIR | None:
        """The cached RIR, or None if absent (or corrupt: then it is reported and removed)."""
        key = self.key(scene, config, source, receiver)
        if key in self._memory:
            self._memory.move_to_end(key)
            self.hits += 1
            return self._memory[key]
        path = self.path(scene, config, source, receiver)
        if not path.exists():
            return None
        try:
            rir = self._read(path, key)
        except CorruptEntry as exc:
            self.corrupt += 1
            logger.warning("corrupt RIR cache entry %s: %s; recomputing it", path, exc)
            path.unlink(missing_ok=True)
            return None
        self.hits += 1
        self._remember(key, rir)
        return rir

    def contains(self, scene: Scene, config: AudioConfig, source, receiver) -> bool:
        return self.path(scene, config, source, receiver).exists()

    def get(self, scene: Scene, source, receiver, config: AudioConfig | None = None) -> DirectionalRIR:
        """The RIR from cache, computing and storing it if needed."""
        return self.get_many(scene, source, np.asarray(receiver, dtype=np.float64).reshape(1, 3), config)[0]

    def get_many(self, scene: Scene, source, receivers, config: AudioConfig | None = None) -> list[DirectionalRIR]:
        """RIRs from one source to many receivers; the missing ones are computed in one batch."""
        config = config or AudioConfig()
        # entries are computed at the rounded positions of their keys: the content depends on the key only
        source = np.round(np.asarray(source, dtype=np.float64).reshape(3), 3)
        receivers = np.round(np.atleast_2d(np.asarray(receivers, dtype=np.float64)), 3)
        out: list[DirectionalRIR | None] = [self.lookup(scene, config, source, r) for r in receivers]
        missing = [i for i, r in enumerate(out) if r is None]
        if missing:
            self.misses += len(missing)
            computed = compute_rirs(scene, source, receivers[missing], config)
            for i, rir in zip(missing, computed):
                key = self.key(scene, config, source, receivers[i])
                self._write(self.path(scene, config, source, receivers[i]), key, rir)
                self._remember(key, rir)
                out[i] = rir
        return out  # type: ignore[return-value]

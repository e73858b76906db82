"""Traced tails on disk: the ray-traced energy field of a (scene, trace origin, tracing settings)
computed once and shared by every process and run that points at the same folder.

Tracing a room's tail costs ~0.2–0.5 s and used to be redone in every process and every run
(55% of a cold random-policy run's time). A ``TailStore`` keeps each ``raytrace.EnergyField``
as one verified ``.npz`` (arrays, the entry's key and a SHA-256: ``scenes.npzio``), written
atomically, read with ``allow_pickle=False``. The key holds the scene's content hash, the trace
origin, the tracing settings, the seed text and the tracer's source code, so a changed scene,
setting or tracer never reads a stale field. A corrupt entry is reported once, removed and traced
again. A loaded field is bit-identical to a traced one (same float64 arrays).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..scenes.npzio import KeyedStore

FORMAT = 1
_ARRAYS = ("density", "valid_bins", "times", "levels", "rt60", "start", "volume")


@lru_cache(maxsize=1)
def tracer_version() -> str:
    """SHA-256 (16 hex digits) of the source of the tracer and the scene state it reads."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in ("raytrace.py", "scene_acoustics.py", "tail_store.py"):
        h.update(name.encode())
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


class TailStore(KeyedStore):
    """Energy fields on disk, one file per (scene, origin, settings).

    Args:
        root: the folder (created on demand); share it between workers and runs.
    """

    def __init__(self, root):
        super().__init__(root, option="tail_cache", what="traced-tail cache", redo="tracing it again",
                         fallback="tracing in memory")

    @staticmethod
    def key(scene_hash: str, origin: np.ndarray, rays: int, seconds: float, ism_order: int, speed_of_sound: float,
            seed_text: str) -> str:
        return json.dumps({"format": FORMAT, "code": tracer_version(), "scene": scene_hash,
                           "origin": np.round(np.asarray(origin, np.float64), 6).tolist(), "rays": int(rays),
                           "seconds": float(seconds), "order": int(ism_order), "c": float(speed_of_sound),
                           "seed": seed_text}, sort_keys=True)

    def load(self, key: str):
        """The stored EnergyField of ``key``, or None (absent; or corrupt: reported and removed)."""
        from .raytrace import EnergyField

        def decode(a: dict):
            return EnergyField(**{k: a[k] for k in _ARRAYS}, bin_s=float(a["bin_s"][()]),
                               source_cell=int(a["source_cell"][()]))

        field = self.load_entry(key, decode)
        if field is None:
            self.misses += 1
        return field

    def save(self, key: str, field) -> None:
        """Store atomically; on an OS error warn once and go on without writing."""
        arrays = {k: np.asarray(getattr(field, k)) for k in _ARRAYS}
        arrays.update(bin_s=np.float64(field.bin_s), source_cell=np.int64(field.source_cell))
        self.save_entry(key, arrays)


__all__ = ["TailStore", "tracer_version"]

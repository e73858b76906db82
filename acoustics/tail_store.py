"""Traced tails on disk: the ray-traced energy field of a (scene, trace origin, tracing settings)
computed once and shared by every process and run that points at the same folder.

Tracing a room's tail costs ~0.2–0.5 s and used to be redone in every process and every run
(55% of a cold random-policy run's time). A ``TailStore`` keeps each ``raytrace.EnergyField``
as one verified ``.npz`` (arrays, the entry's key and a SHA-256: ``scenes.npzio``), written
atomically, read with ``allow_pickle=False``. The key holds the scene's content hash, the trace
origin, the tracing settings, the seed text and the tracer's source code, so a changed scene,
setting or tracer never reads a stale field. A corrupt entry is reported once, removed and traced
again. A loaded field is bit-identical to a traced one (same float64 arrays).

By default every environment and every caller of the scene's own acoustics
(``scene_acoustics(scene)``: ``compute_rirs`` without ``acoustics=``, the RIR precompute, dataset
generation) shares one per-user folder, ``default_tail_store()``: ``$EARSHOT_CACHE/tails`` when
the variable names a folder, else ``$XDG_CACHE_HOME/earshot/tails`` (``~/.cache/earshot/tails``).
``EARSHOT_CACHE=off`` (or ``none``, ``0``, ``false``, empty) turns it off; an env's
``tail_cache=False`` turns it off for that env, and ``tail_cache=PATH`` picks another folder.
"""

from __future__ import annotations

import hashlib
import json
import os
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

    def load(self, key: str, field_type):
        """The stored field of ``key`` as a ``field_type`` (``raytrace.EnergyField``, passed in so
        that this module imports nothing of the tracer's), or None (absent; or corrupt: reported
        and removed)."""

        def decode(a: dict):
            return field_type(**{k: a[k] for k in _ARRAYS}, bin_s=float(a["bin_s"][()]),
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


CACHE_ENV = "EARSHOT_CACHE"  # the per-user cache folder (its "tails" subfolder holds traced tails)
_OFF = {"", "off", "none", "0", "false", "no"}
_defaults: dict[Path, TailStore] = {}  # one store per folder and process (shared hit counters)


def default_cache_root() -> Path | None:
    """The per-user cache folder: ``$EARSHOT_CACHE`` when set (None when it says ``off``, ``none``,
    ``0``, ``false``, ``no`` or is empty), else ``$XDG_CACHE_HOME/earshot``, else
    ``~/.cache/earshot``."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        if value.strip().lower() in _OFF:
            return None
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or ""
    return (Path(base).expanduser() if base.strip() else Path.home() / ".cache") / "earshot"


def default_tail_store() -> TailStore | None:
    """The TailStore of the per-user cache (``default_cache_root() / "tails"``), one per process
    and folder; None when ``EARSHOT_CACHE`` turns the cache off."""
    root = default_cache_root()
    if root is None:
        return None
    if root.exists() and not root.is_dir():
        raise ValueError(f"{CACHE_ENV} / the default cache folder {str(root)!r} is a file, not a folder "
                         f"(set {CACHE_ENV} to a folder, or to 'off')")
    folder = root / "tails"
    store = _defaults.get(folder)
    if store is None:
        try:
            store = TailStore(folder)
        except ValueError as exc:
            raise ValueError(f"{CACHE_ENV} / the default cache folder {str(root)!r} cannot hold traced tails: {exc} "
                             f"(set {CACHE_ENV} to a folder, or to 'off')") from None
        store = _defaults.setdefault(folder, store)
    return store


def resolve_tail_store(tail_cache) -> TailStore | None:
    """An env's ``tail_cache`` as a store: None -> ``default_tail_store()``, False -> no disk
    cache, a folder path -> a TailStore there."""
    if tail_cache is None:
        return default_tail_store()
    if tail_cache is False:
        return None
    return TailStore(tail_cache)


__all__ = ["CACHE_ENV", "TailStore", "default_cache_root", "default_tail_store", "resolve_tail_store", "tracer_version"]

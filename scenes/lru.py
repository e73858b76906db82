"""One bounded least-recently-used cache for every layer, and the budgets of all of them, named
in one place (``BUDGETS``). Nothing in earshot caches without a bound."""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import dataclass, fields, replace
from typing import Callable, Generic, Hashable, TypeVar

V = TypeVar("V")


@dataclass(frozen=True)
class Budgets:
    """Item limits of earshot's in-memory caches (each with the memory it stands for).

    ``BUDGETS`` holds the defaults and is immutable; a component that keeps a cache takes its
    budgets as an argument (e.g. ``SceneAcoustics(scene, budgets=...)``), so other limits are
    passed, not patched in: ``dataclasses.replace(BUDGETS, step_spectra=2048)`` for a large warm
    working set.

    Attributes:
        scenes: scene contexts an env keeps (Scene + NavGraph + renderer; 1–5 MB each).
        rirs: source → receiver RIRs a simulator keeps as parameters (arrivals and tail
            parameters; ~5 kB each with their objects): 20,000 ≈ 100 MB.
        rendered_rirs: of those, how many keep their rendering caches (early spectra, the
            measured head's diffuse tail, the sphere's head-shadow parts for headings off the 45°
            grid; ~0.4 MB each at 16 kHz with KEMAR, measured): 96 ≈ 40 MB.
        step_spectra: spectra of binaural RIRs per (source, position, heading) for the step
            convolution (complex64, 256 kB each at 16 kHz, 1 s): 512 ≈ 128 MB. The warm state
            of an env is this many (position, heading) pairs.
        step_spectrograms: observed spectrograms per (sound, point in its loop, source,
            position, heading), so a revisit at the same point of the loop costs no audio work
            (13.5 kB each at 16 kHz): 2048 ≈ 28 MB.
        source_segments: spectra of source sound segments (128 kB each): 128 ≈ 16 MB.
        sounds: a simulator's sources' samples, one period each (0.1–1.5 MB at 16 kHz; sound
            variants meet hundreds): 32 ≈ 16 MB.
        tail_decays: band envelopes of late tails, shared by the receivers of a room pair
            (384 kB each at 16 kHz, 1 s): 64 ≈ 25 MB.
        noise_banks: per (RIR length, sample rate, head) tables: the tails' band-filtered noise
            banks (~6 MB each at 16 kHz), head-shadow bases, STFT windows, pooling counts.
        heading_banks: the tail noise bank as heard by the two ears at one heading on the 45°
            grid, per (RIR length, sample rate, head) (1.5 MB each at 16 kHz): 8 covers every
            heading of a grid-motion env.
        head_grids: a measured head's delay-aligned responses on one FFT grid, per grid size
            the renderers use (complex64; KEMAR: 3–17.5 MB, 512 to 3,072 points; renders use ~5
            sizes, larger grids are not kept): 6 ≈ 50 MB.
        dijkstra_rows: shortest-path rows a NavGraph keeps (16 bytes per node each).
        image_sources: image-source lists kept per scene for its most recent sources (a few
            kB each at order 3).
        energy_fields: ray-traced energy fields kept per scene for its most recent sources
            (per room, band and 4 ms bin: ~60 kB for a 5-room apartment at 1 s, ~1 MB for a
            mesh of 100 cells); each costs ~0.2 s to trace again.
        cache_memory_mb: RIR parameters an ``RIRCache`` keeps in memory on top of the disk.
        cache_disk_mb: size of an ``RIRCache``'s folder; beyond it, the least recently used
            source files are deleted. A source with every node of a 4-room apartment as
            receivers takes ~0.5 MB.

    Per-scene acoustic state (room statistics, ray casters, image sources, traced fields) lives
    in one ``earshot.acoustics.scene_acoustics.SceneAcoustics`` per scene, freed with it.

    **One memory setting.** ``nominal_mb()`` adds up what the budgets stand for (each count
    times its item's size above; a kept scene counted at 5 MB with its per-scene caches as they
    typically fill): ~800 MB by default. ``within(mb)`` scales every count (and
    ``cache_memory_mb``) by the same factor so that the nominal figure is ``mb``. Setting the
    environment variable ``EARSHOT_MEMORY_MB`` before earshot is imported does that for the
    process: ``EARSHOT_MEMORY_MB=256 python scripts/train.py ...``. Caches held per env
    (a simulator's RIRs and spectra) count once per env in the process; the disk budget is not
    memory and is left alone.
    """

    scenes: int = 64
    rirs: int = 20_000
    rendered_rirs: int = 96
    step_spectra: int = 512
    step_spectrograms: int = 2048
    source_segments: int = 128
    sounds: int = 32
    tail_decays: int = 64
    noise_banks: int = 4
    heading_banks: int = 8
    head_grids: int = 6
    dijkstra_rows: int = 4096
    image_sources: int = 64
    energy_fields: int = 16
    cache_memory_mb: float = 64.0
    cache_disk_mb: float = 4096.0


    def nominal_mb(self) -> float:
        """MB the caches stand for when full (see the class docstring)."""
        return sum(getattr(self, name) * mb for name, mb in ITEM_MB.items()) + self.cache_memory_mb

    def within(self, memory_mb: float) -> "Budgets":
        """These budgets scaled so that ``nominal_mb()`` is at most ``memory_mb`` (every count
        at least 1, or its ``MIN_COUNTS`` floor)."""
        if isinstance(memory_mb, bool) or not isinstance(memory_mb, (int, float)) or not math.isfinite(memory_mb) \
                or memory_mb < MIN_MEMORY_MB:
            raise ValueError(f"the memory budget must be a number of MB >= {MIN_MEMORY_MB:g}, got {memory_mb!r}")
        def scaled(scale: float) -> "Budgets":
            counts = {f.name: max(MIN_COUNTS.get(f.name, 1), int(getattr(self, f.name) * scale)) for f in fields(self)
                      if f.name not in ("cache_memory_mb", "cache_disk_mb")}
            return replace(self, **counts, cache_memory_mb=self.cache_memory_mb * scale)

        lo, hi = 0.0, memory_mb / self.nominal_mb()  # the largest scale whose total fits (bisection)
        if scaled(hi).nominal_mb() <= memory_mb:
            return scaled(hi)
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if scaled(mid).nominal_mb() <= memory_mb else (lo, mid)
        return scaled(lo)


# MB one item of each budget stands for (16 kHz, 1 s RIRs, KEMAR): the figures of the docstring
ITEM_MB = {"scenes": 5.0, "rirs": 0.005, "rendered_rirs": 0.4, "step_spectra": 0.25, "step_spectrograms": 0.0135,
           "source_segments": 0.125, "sounds": 0.5, "tail_decays": 0.375, "noise_banks": 6.0, "heading_banks": 1.5, "head_grids": 8.5}
# below these counts a cache thrashes on every step (a grid env's 4 headings, the few FFT grids
# renders use, the noise bank beside the STFT window), so a budget never goes lower
MIN_COUNTS = {"heading_banks": 4, "head_grids": 5, "noise_banks": 2}
MEMORY_ENV = "EARSHOT_MEMORY_MB"
MIN_MEMORY_MB = 128.0


def _budgets_from_environment() -> Budgets:
    value = os.environ.get(MEMORY_ENV, "").strip()
    if not value:
        return Budgets()
    try:
        mb = float(value)
    except ValueError:
        mb = None
    if mb is None or not math.isfinite(mb) or mb < MIN_MEMORY_MB:
        raise ValueError(f"{MEMORY_ENV}={value!r}: set it to a number of MB >= {MIN_MEMORY_MB:g} "
                         f"(the caches' memory budget; default {Budgets().nominal_mb():.0f}), or unset it")
    return Budgets().within(mb)


BUDGETS = _budgets_from_environment()


class LRU(Generic[V]):
    """A mapping that keeps at most ``max_items`` entries, dropping the least recently used
    (``on_evict(key, value)`` is called for each dropped entry, e.g. to free GPU buffers).

    With ``weigh`` (a function of the value, e.g. its bytes) and ``max_weight``, the total weight
    is bounded too; an entry is weighed when it is set, so set it again after it grows. An entry
    heavier than ``max_weight`` on its own is dropped at once.

    ``get`` and ``__getitem__`` count hits and misses; ``get_or_create(key, make)`` builds
    missing entries.
    """

    def __init__(self, max_items: int, on_evict: Callable[[Hashable, V], None] | None = None,
                 weigh: Callable[[V], float] | None = None, max_weight: float | None = None):
        if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 0:
            raise ValueError(f"max_items must be an integer >= 0, got {max_items!r}")
        if (weigh is None) != (max_weight is None):
            raise ValueError("weigh and max_weight go together: pass both or neither")
        self.max_items = max_items
        self.on_evict = on_evict
        self.weigh, self.max_weight = weigh, max_weight
        self._weights: dict[Hashable, float] = {}
        self.weight = 0.0
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key) -> bool:
        return key in self._data

    def __iter__(self):
        return iter(self._data)

    def values(self):
        return self._data.values()

    def items(self):
        return self._data.items()

    def get(self, key, default=None):
        if key in self._data:
            self._data.move_to_end(key)
            self.hits += 1
            return self._data[key]
        self.misses += 1
        return default

    def __getitem__(self, key) -> V:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        if self.weigh is not None:
            w = float(self.weigh(value))
            self.weight += w - self._weights.get(key, 0.0)
            self._weights[key] = w
        while len(self._data) > self.max_items or (self.weigh is not None and self.weight > self.max_weight and self._data):
            self._evict_oldest()

    def _evict_oldest(self) -> None:
        old_key, old = self._data.popitem(last=False)
        self.weight -= self._weights.pop(old_key, 0.0)
        if self.on_evict is not None:
            self.on_evict(old_key, old)

    def get_or_create(self, key, make: Callable[[], V]) -> V:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            value = make()
            self[key] = value
        return value

    def pop(self, key, default=None):
        """Remove and return an entry (``on_evict`` is not called)."""
        self.weight -= self._weights.pop(key, 0.0)
        return self._data.pop(key, default)

    def clear(self) -> None:
        """Drop everything (``on_evict`` is called for each entry)."""
        while self._data:
            self._evict_oldest()


_MISSING = object()

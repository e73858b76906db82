"""The head an agent hears with: ``load_head(config)`` turns ``AudioConfig.head`` into the object
``DirectionalRIR.binaural`` renders with.

- "kemar": ``MeasuredHead.kemar`` (MIT KEMAR, shipped; ``acoustics.measured_head``), resampled to
  the config's rate;
- "sphere": ``SphericalHead(head_radius, speed_of_sound)`` (``acoustics.hrtf``);
- a path: ``MeasuredHead.from_sofa`` (.sofa) or ``MeasuredHead.from_npz`` (.npz) at the config's rate.

Loaded heads are kept per process (a measured head at one rate holds ~10 MB of spectra), keyed by
what makes them: the name or the file's path, size and modification time, the rate, and for the
sphere its radius and the speed of sound.
"""

from __future__ import annotations

import os

from ..scenes.lru import LRU
from .config import AudioConfig, check_head
from .hrtf import SphericalHead
from .measured_head import MeasuredHead

_heads: LRU = LRU(8)


def head_identity(config: AudioConfig) -> tuple:
    """A hashable key that changes whenever ``load_head(config)`` would give another head."""
    head = config.head
    if head == "sphere":
        return ("sphere", config.head_radius, config.speed_of_sound, config.sample_rate)
    if head == "kemar":
        return ("kemar", config.sample_rate)
    st = os.stat(head)
    return (head, st.st_size, st.st_mtime_ns, config.sample_rate)


def load_head(config: AudioConfig | str | None = None):
    """The head object (``SphericalHead`` or ``MeasuredHead``) of ``config.head`` at
    ``config.sample_rate``; a bare string is taken as ``AudioConfig(head=...)``."""
    if config is None or isinstance(config, (str, os.PathLike)):
        config = AudioConfig(head=check_head(config or "kemar"))
    if not isinstance(config, AudioConfig):
        raise ValueError(f"load_head takes an AudioConfig or a head name/path, got {type(config).__name__}")
    key = head_identity(config)
    head = _heads.get(key)
    if head is None:
        if config.head == "sphere":
            head = SphericalHead(config.head_radius, config.speed_of_sound)
        elif config.head == "kemar":
            head = MeasuredHead.kemar(config.sample_rate)
        else:
            head = _load_file(config.head, config.sample_rate)
        _heads[key] = head
    return head


def _load_file(path: str, sample_rate: int) -> MeasuredHead:
    """A measured head from a .sofa or .npz file; anything wrong with the file is one ValueError
    (one line) naming it, never a KeyError or a parser's report from inside."""
    try:
        if path.lower().endswith(".sofa"):
            return MeasuredHead.from_sofa(path, sample_rate)
        return MeasuredHead.from_npz(path, sample_rate)
    except FileNotFoundError:
        raise
    except (KeyError, ValueError, OSError, EOFError, TypeError) as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        text = lines[0].strip("'\"")
        if path in text:
            if len(lines) == 1 and isinstance(exc, ValueError):
                raise  # already one sentence naming the file (e.g. a SofaError)
            raise ValueError(text) from exc
        kind = "SOFA" if path.lower().endswith(".sofa") else ".npz (hrir, sample_rate, azimuth_deg, elevation_deg)"
        raise ValueError(f"head {path!r} is not a usable {kind} HRIR set: {text}") from exc


__all__ = ["head_identity", "load_head"]

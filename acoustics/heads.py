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
        elif config.head.lower().endswith(".sofa"):
            head = MeasuredHead.from_sofa(config.head, config.sample_rate)
        else:
            head = MeasuredHead.from_npz(config.head, config.sample_rate)
        _heads[key] = head
    return head


__all__ = ["head_identity", "load_head"]

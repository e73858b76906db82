"""earshot.acoustics — binaural room impulse responses from scene geometry and materials.

``AudioConfig`` holds every audio number; ``compute_rir``/``compute_rirs`` turn a Scene and
source/receiver points into ``DirectionalRIR``s (image-source early part, diffraction through
doors, a ray-traced late tail) that render ``binaural(heading)`` for any head orientation.

Per-scene acoustic state (geometry model, image sources, door graph, traced tails) is one
``SceneAcoustics`` per scene: pass it as ``compute_rirs(..., acoustics=...)`` (and ``close()`` it
with the scene), or let the scene keep its own (``scene_acoustics(scene)``).
"""

from .cache import RIRCache
from .config import AudioConfig
from .features import convolve, hear, spectrogram
from .heads import load_head
from .hrtf import SphericalHead
from .measured_head import MeasuredHead, SofaError, SofaHRTF
from .rir import DirectionalRIR, band_weights, compute_rir, compute_rirs, tail_vs_raytraced
from .scene_acoustics import SceneAcoustics, scene_acoustics
from .sounds import SOUNDS, is_sound_name, load_sound, make_sound, sound_names, sound_variants

__all__ = [
    "AudioConfig", "DirectionalRIR", "MeasuredHead", "RIRCache", "SOUNDS", "SceneAcoustics", "SofaError", "SofaHRTF",
    "SphericalHead", "band_weights", "compute_rir", "compute_rirs", "convolve", "hear", "load_head", "load_sound",
    "make_sound", "scene_acoustics",
    "is_sound_name", "sound_names", "sound_variants", "spectrogram", "tail_vs_raytraced",
]

"""earshot.acoustics — binaural room impulse responses from scene geometry and materials.

``AudioConfig`` holds every audio number; ``compute_rir``/``compute_rirs`` turn a Scene and
source/receiver points into ``DirectionalRIR``s (image-source early part from pyroomacoustics +
parametric late tail) that render ``binaural(heading)`` for any head orientation.
"""

from .config import AudioConfig
from .hrtf import SofaHRTF, SphericalHead
from .rir import DirectionalRIR, band_weights, compute_rir, compute_rirs

__all__ = ["AudioConfig", "DirectionalRIR", "SofaHRTF", "SphericalHead", "band_weights", "compute_rir", "compute_rirs"]

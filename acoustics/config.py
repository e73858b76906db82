"""AudioConfig: the single source of every audio number in earshot."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

SUPPORTED_SAMPLE_RATES = (16_000, 22_050, 32_000, 44_100, 48_000)
SPEED_OF_SOUND = 343.0  # m/s, air at about 20 °C
HEAD_RADIUS = 0.0875  # m, the spherical head of Woodworth's ITD formula


@dataclass(frozen=True)
class AudioConfig:
    """Every audio parameter, with SoundSpaces-compatible defaults.

    Attributes:
        sample_rate: Hz (16 kHz default, like Matterport3D in SoundSpaces; 44.1 kHz like Replica).
        rir_seconds: length of every RIR.
        ism_order: image-source reflection order of the early part (pyroomacoustics).
        tail: "parametric" (Eyring decay from the room's volume, surfaces and absorption; default)
            or "raytraced" (pyroomacoustics' hybrid ray tracer; ~0.1 s per receiver, for offline work).
        rays: rays of the ray-traced tail.
        speed_of_sound: m/s.
        head_radius: m, of the spherical head model.
        ear_height: m above its floor position at which an agent hears (environments add it;
            ``compute_rir`` takes 3-D points as given).
        source_height: m above its floor position at which a sound source plays.
        n_fft, hop_length, win_length: STFT sizes of the spectrogram, samples.
        pool: average pooling of the spectrogram (time and frequency), SoundSpaces' 4.
        step_seconds: audio heard per environment step.
        include_furniture: give the ray tracer of ``tail="raytraced"`` the furniture's surfaces too
            (slower). Early paths always see furniture (it obstructs them); the parametric tail
            counts its absorption and volume.
    """

    sample_rate: int = 16_000
    rir_seconds: float = 1.0
    ism_order: int = 3
    tail: str = "parametric"
    rays: int = 2_000
    speed_of_sound: float = SPEED_OF_SOUND
    head_radius: float = HEAD_RADIUS
    ear_height: float = 1.5
    source_height: float = 1.5
    n_fft: int = 512
    hop_length: int = 160
    win_length: int = 400
    pool: int = 4
    step_seconds: float = 1.0
    include_furniture: bool = False

    def __post_init__(self) -> None:
        if self.sample_rate not in SUPPORTED_SAMPLE_RATES:
            raise ValueError(
                f"sample_rate {self.sample_rate} Hz is not supported; use one of {SUPPORTED_SAMPLE_RATES} "
                "(audio files at other rates are resampled on load)"
            )
        if self.tail not in ("parametric", "raytraced"):
            raise ValueError(f"tail must be 'parametric' or 'raytraced', got {self.tail!r}")
        if not 0 <= self.ism_order <= 10:
            raise ValueError(f"ism_order must be between 0 and 10, got {self.ism_order}")
        for name in ("rir_seconds", "speed_of_sound", "head_radius", "step_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 < self.win_length <= self.n_fft or self.hop_length <= 0 or self.pool <= 0:
            raise ValueError("need 0 < win_length <= n_fft, hop_length > 0 and pool > 0")

    @property
    def rir_samples(self) -> int:
        return int(round(self.rir_seconds * self.sample_rate))

    @property
    def step_samples(self) -> int:
        return int(round(self.step_seconds * self.sample_rate))

    @property
    def config_hash(self) -> str:
        """SHA-256 hex digest of the fields that change an RIR (cache key)."""
        keys = ("sample_rate", "rir_seconds", "ism_order", "tail", "rays", "speed_of_sound", "head_radius",
                "include_furniture")
        fields = {k: getattr(self, k) for k in keys}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict:
        return asdict(self)

    def replace(self, **changes) -> "AudioConfig":
        return replace(self, **changes)

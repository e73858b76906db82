"""AudioConfig: the single source of every audio number in earshot."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, replace

from ..scenes.render.camera import DEFAULT_CAMERA_HEIGHT

SUPPORTED_SAMPLE_RATES = (16_000, 22_050, 32_000, 44_100, 48_000)
SPEED_OF_SOUND = 343.0  # m/s, air at about 20 °C
HEAD_RADIUS = 0.0875  # m, the spherical head of Woodworth's ITD formula
# The microphones' full scale: heard audio is clipped to ±AUDIO_FULL_SCALE like an ADC, which
# bounds the waveform, spectrogram and cue observations exactly. Sounds peak at 0.5 and a
# source's direct path gains at most 1 / source_radius = 5, so only a loud source within its own
# radius with strong early reflections comes near it.
AUDIO_FULL_SCALE = 4.0


HEADS = ("kemar", "sphere")
MAX_RAYS = 1_000_000  # rays of a traced tail: 500x the default, minutes per room; beyond it, a typo
MAX_N_FFT = 65_536  # samples: 1.4 s at 48 kHz, longer than any step's audio


def check_head(head) -> str:
    """``head`` as stored on an AudioConfig: "kemar", "sphere" or the absolute path of an existing
    .sofa / .npz file; one clear error for anything else."""
    import os

    if isinstance(head, os.PathLike):
        head = os.fspath(head)
    if not isinstance(head, str) or not head:
        raise ValueError(f"head must be one of {HEADS} or the path of a .sofa or .npz HRIR file, got {head!r}")
    if head in HEADS:
        return head
    if not head.lower().endswith((".sofa", ".npz")):
        raise ValueError(f"head must be one of {HEADS} or the path of a .sofa or .npz HRIR file, got {head!r}")
    path = os.path.abspath(os.path.expanduser(head))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"head: HRIR file {head!r} does not exist (give 'kemar', 'sphere' or the path of a "
                                "SOFA file, e.g. from the SADIE II or SONICOM databases)")
    return path


@dataclass(frozen=True)
class AudioConfig:
    """Every audio parameter, with SoundSpaces-compatible defaults.

    Attributes:
        sample_rate: Hz (16 kHz default, like Matterport3D in SoundSpaces; 44.1 kHz like Replica).
        rir_seconds: length of every RIR.
        ism_order: image-source reflection order of the early part (pyroomacoustics).
        tail: "traced" (default: earshot's ray tracer over the mesh, one pass per source for every
            receiver, ~0.2 s for a 4-room apartment; see ``acoustics.raytrace``), "parametric"
            (the older statistical model: coupled rooms with Fitzroy's decay; instant, less
            accurate) or "raytraced" (pyroomacoustics' ray tracer; slow, for validation).
        rays: rays of the traced tail (and of "raytraced"). 2,000 is the smallest count whose noise
            against a 32,000-ray trace stays within ``validation.RAY_BUDGET_TOLERANCE`` (mean T30
            7%, EDT 3% at 500 Hz–1 kHz over 4 apartments' rooms; ``validation.ray_budget_errors``,
            docs/acoustics-validation.md); the time per room grows about linearly with rays
            (~170 ms at 2,000 on one core).
        speed_of_sound: m/s.
        head: the head the agent hears with (``acoustics.heads.load_head``): "kemar" (default: the
            MIT KEMAR manikin's measured HRTFs, shipped with earshot; pinnae give front/back and
            elevation cues), "sphere" (a rigid sphere of ``head_radius``: ITD and head shadow only,
            identical for a source in front and its mirror image behind) or the path of a SOFA
            file (``SimpleFreeFieldHRIR``: SADIE II, SONICOM, CIPIC, ...) or of an .npz saved like
            ``acoustics/data/kemar.npz``, resampled to ``sample_rate``. The head does not change an
            RIR's arrivals (nor ``config_hash``): it is applied when an RIR is rendered binaurally.
        head_radius: m, of the spherical head model.
        ear_height: m above its floor position at which an agent hears (environments add it;
            ``compute_rir`` takes 3-D points as given).
        source_height: m above its floor position at which a sound source plays.
        source_radius: m, the size of a sound source. Sources are bodies, not points: closer to
            its centre than this, a listener is at the radiating surface and the received
            amplitude saturates at 1 / source_radius instead of growing as 1 / d (which diverges
            as d -> 0). Beyond it every arrival keeps its exact 1 / d. 0.2 m (a telephone, a
            speaker, a dog) keeps the level on the source's node within ~8 dB of a 0.5 m step away.
        n_fft, hop_length, win_length: STFT sizes of the spectrogram, samples.
        pool: average pooling of the spectrogram (time and frequency), SoundSpaces' 4.
        step_seconds: audio heard per environment step.
        include_furniture: give the ray tracer of ``tail="raytraced"`` the furniture's surfaces too
            (slower). Early paths always see furniture (it obstructs them); the parametric tail
            counts its absorption and volume.
        chirp_seconds, chirp_low_hz, chirp_high_hz: the linear sweep an agent emits for echoes
            (VisualEchoes: 3 ms, 20 Hz to 20 kHz, at 44.1 kHz; see ``acoustics.echo``, whose
            ``ECHO_CONFIG`` also sets the echo's length as ``step_seconds``, 60 ms).
        emitter: the echo emitter's directivity: "cardioid" (a speaker facing where the agent
            faces, like a phone's or a robot's: amplitude (1 + cos θ) / 2 at θ from the front) or
            "omni". With an omnidirectional emitter and the spherical head (which has no pinnae),
            echoes from in front and from behind are indistinguishable.
    """

    sample_rate: int = 16_000
    rir_seconds: float = 1.0
    ism_order: int = 3
    tail: str = "traced"
    rays: int = 2_000
    speed_of_sound: float = SPEED_OF_SOUND
    head: str = "kemar"
    head_radius: float = HEAD_RADIUS
    ear_height: float = DEFAULT_CAMERA_HEIGHT  # the ears at the camera's height
    source_height: float = DEFAULT_CAMERA_HEIGHT
    source_radius: float = 0.2
    n_fft: int = 512
    hop_length: int = 160
    win_length: int = 400
    pool: int = 4
    step_seconds: float = 1.0
    include_furniture: bool = False
    chirp_seconds: float = 0.003
    chirp_low_hz: float = 20.0
    chirp_high_hz: float = 20_000.0
    emitter: str = "cardioid"

    def __post_init__(self) -> None:
        from ..scenes.checks import check_bool, check_choice, check_int, check_number

        if isinstance(self.sample_rate, bool) or self.sample_rate not in SUPPORTED_SAMPLE_RATES:
            raise ValueError(
                f"sample_rate must be one of {SUPPORTED_SAMPLE_RATES} Hz, got {self.sample_rate!r} "
                "(audio files at other rates are resampled on load)"
            )
        object.__setattr__(self, "sample_rate", int(self.sample_rate))
        check_choice("tail", self.tail, ("traced", "parametric", "raytraced"))
        check_int("ism_order", self.ism_order, low=0, high=10)
        check_int("rays", self.rays, low=1, high=MAX_RAYS)
        check_int("n_fft", self.n_fft, low=1, high=MAX_N_FFT)
        for name in ("hop_length", "win_length", "pool"):
            check_int(name, getattr(self, name), low=1)
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length must be <= n_fft ({self.n_fft}), got {self.win_length}")
        # a hop longer than the window skips audio; a pool wider than the spectrum's bins leaves none
        if self.hop_length > self.n_fft:
            raise ValueError(f"hop_length must be <= n_fft ({self.n_fft}) samples, got {self.hop_length}")
        if self.pool > self.n_fft // 2 + 1:
            raise ValueError(f"pool must be <= the spectrogram's {self.n_fft // 2 + 1} frequency bins (n_fft // 2 + 1), "
                             f"got {self.pool}")
        check_number("rir_seconds", self.rir_seconds, low=0.01, high=10.0, unit="s")
        check_number("step_seconds", self.step_seconds, low=0.01, high=10.0, unit="s")
        check_number("speed_of_sound", self.speed_of_sound, low=100.0, high=2000.0, unit="m/s")
        object.__setattr__(self, "head", check_head(self.head))
        check_number("head_radius", self.head_radius, low=0.0, high=0.5, low_open=True, unit="m")
        check_number("ear_height", self.ear_height, low=0.0, high=10.0, low_open=True, unit="m")
        check_number("source_height", self.source_height, low=0.0, high=10.0, low_open=True, unit="m")
        check_number("source_radius", self.source_radius, low=0.01, high=2.0, unit="m")
        check_bool("include_furniture", self.include_furniture)
        check_choice("emitter", self.emitter, ("cardioid", "omni"))
        check_number("chirp_seconds", self.chirp_seconds, low=0.0, high=1.0, low_open=True, unit="s")
        check_number("chirp_low_hz", self.chirp_low_hz, low=0.0, unit="Hz")
        # no supported sample rate holds a frequency above half the highest one (24 kHz)
        check_number("chirp_high_hz", self.chirp_high_hz, low=0.0, low_open=True, high=max(SUPPORTED_SAMPLE_RATES) / 2,
                     unit="Hz")
        if self.chirp_high_hz <= self.chirp_low_hz:
            raise ValueError(f"chirp_high_hz ({self.chirp_high_hz}) must be above chirp_low_hz ({self.chirp_low_hz})")
        if self.step_samples < self.n_fft:
            raise ValueError(f"step_seconds must give at least n_fft ({self.n_fft}) samples per step, got {self.step_seconds}")

    @property
    def rir_samples(self) -> int:
        return int(round(self.rir_seconds * self.sample_rate))

    @property
    def step_samples(self) -> int:
        return int(round(self.step_seconds * self.sample_rate))

    @functools.cached_property
    def config_hash(self) -> str:
        """SHA-256 hex digest of the fields that change an RIR (cache key); computed once (the
        config is frozen)."""
        keys = ("sample_rate", "rir_seconds", "ism_order", "tail", "rays", "speed_of_sound", "head_radius",
                "include_furniture", "source_radius")
        fields = {k: getattr(self, k) for k in keys}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict:
        return asdict(self)

    def replace(self, **changes) -> "AudioConfig":
        return replace(self, **changes)

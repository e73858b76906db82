"""What a synthetic binaural dataset is: ``DatasetSpec`` (split or meshes, sample count, seed,
fields, audio settings) fixes every byte of it, and is stored in its manifest. Also the fields a
sample may hold and the shard layout (shard ``i`` holds samples ``[i * shard_size, ...)`` of one
scene, chosen by ``shard_scene``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from ..acoustics import AudioConfig, sound_names, spectrogram
from ..acoustics.config import SUPPORTED_SAMPLE_RATES
from ..acoustics.sounds import SOUNDS
from ..scenes import load_split_file, split_seeds
from ..scenes.checks import check_choice, check_int, check_number
from ..scenes.refs import procedural_ref
from ..scenes.splits import SEED_SALT, SPLITS

AUDIO_FIELDS = ("rir", "audio", "stems", "spectrogram")
VIEW_FIELDS = ("rgb", "depth")
FIELDS = AUDIO_FIELDS + VIEW_FIELDS
ECHO_FIELDS = ("echo", "echo_spectrogram") + VIEW_FIELDS
KINDS = {"binaural": FIELDS, "echo": ECHO_FIELDS}
# stored with every sample whatever ``fields`` says: small arrays for batching (and the JSON)
POSE_FIELDS = ("receiver_position", "receiver_heading", "source_position", "geodesic", "euclidean", "doa",
               "first_arrival", "sound_id")
ECHO_POSE_FIELDS = ("receiver_position", "receiver_heading")
HEADING_STEP = np.pi / 4  # headings="grid": multiples of 45°, the grid every RIR renders fastest on
ECHO_HEADING_STEP = np.pi / 2  # echo samples on the grid: VisualEchoes' 4 orientations per location


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that decides a dataset's bytes (stored in its manifest).

    Attributes:
        kind: "binaural" (sources heard by a listener) or "echo" (a chirp emitted from the
            listener's head and its echoes, for echo-based depth estimation: fields echo (the
            waveform), echo_spectrogram, rgb, depth; audio settings default to
            ``acoustics.echo.ECHO_CONFIG``: 44.1 kHz, 60 ms).
        split: "train", "val" or "test": procedural apartments of that split, or the split's
            meshes in ``split_file``.
        scenes: use the first N apartments of the split (0 = all of them).
        meshes: user mesh files (.glb/.obj/.ply) instead of procedural apartments.
        split_file: a JSON file of mesh paths per split (see ``earshot.scenes.load_split_file``).
        samples: total samples; seed: of every random choice.
        shard_size: samples per shard (each shard is one scene).
        fields: which of rir, audio, stems, spectrogram, rgb, depth to store (poses, distances,
            directions of arrival and the JSON metadata are always stored).
        sources: sound sources per sample (> 1: mixtures; ``stems`` holds each one's part).
        receivers_per_source: receivers that share one set of sources (and their RIR passes).
        headings: "grid" (multiples of 45°, fastest; echo samples: the 4 multiples of 90°) or
            "uniform" (any angle).
        sounds: the built-in sounds to draw from ("heard", "unheard", "all" or names).
        sample_rate, rir_seconds, audio_seconds, ism_order, tail, head: audio settings (AudioConfig;
            None: 16 kHz, 1 s, 1 s for binaural samples, ECHO_CONFIG's for echoes; head "kemar",
            "sphere" or a SOFA file, see ``AudioConfig.head``).
        spacing: NavGraph spacing in metres (where sources and receivers stand).
        resolution, hfov_deg, renderer: the camera of rgb and depth.
        up_axis, scale: how user meshes are read (``earshot.scenes.load_scene``).
    """

    kind: str = "binaural"
    split: str = "train"
    scenes: int = 0
    meshes: tuple[str, ...] = ()
    split_file: str = ""
    samples: int = 1000
    seed: int = 0
    shard_size: int = 500
    fields: tuple[str, ...] | None = None  # None: rir, audio, spectrogram (+ stems); echo: echo, rgb, depth
    sources: int = 1
    receivers_per_source: int = 50
    headings: str = "grid"
    sounds: tuple[str, ...] = ("heard",)
    sample_rate: int | None = None
    rir_seconds: float | None = None
    audio_seconds: float | None = None
    ism_order: int = 3
    tail: str = "traced"
    head: str = "kemar"
    spacing: float = 0.5
    resolution: int = 128
    hfov_deg: float = 90.0
    renderer: str = "auto"
    up_axis: str = "z"
    scale: float = 1.0
    _refs: tuple = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, tuple(KINDS))
        echo = self.kind == "echo"
        if self.fields is None:
            default = ("echo", "rgb", "depth") if echo else ("rir", "audio", "spectrogram") + (("stems",) if self.sources > 1 else ())
            object.__setattr__(self, "fields", default)
        if echo:
            from ..acoustics.echo import ECHO_CONFIG

            defaults = (ECHO_CONFIG.sample_rate, ECHO_CONFIG.rir_seconds, ECHO_CONFIG.step_seconds)
        else:
            defaults = (16_000, 1.0, 1.0)
        for name, value in zip(("sample_rate", "rir_seconds", "audio_seconds"), defaults):
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if echo and self.sources != 1:
            raise ValueError("sources applies to binaural samples; an echo sample's only source is the agent's chirp")
        check_choice("split", self.split, tuple(SPLITS))
        check_int("scenes", self.scenes, low=0)
        check_int("samples", self.samples, low=1, high=10**9)
        check_int("seed", self.seed, low=0, high=2**63 - 1)
        check_int("shard_size", self.shard_size, low=1, high=1_000_000)
        check_int("sources", self.sources, low=1, high=16)
        check_int("receivers_per_source", self.receivers_per_source, low=1, high=100_000)
        check_choice("headings", self.headings, ("grid", "uniform"))
        allowed = KINDS[self.kind]
        if not self.fields or isinstance(self.fields, str):
            raise ValueError(f"fields must name at least one of {', '.join(allowed)}, got {self.fields!r}")
        unknown = [f for f in self.fields if f not in allowed]
        if unknown:
            raise ValueError(f"unknown fields {unknown} for {self.kind} samples; choose from {', '.join(allowed)}")
        if len(set(self.fields)) != len(self.fields):
            raise ValueError(f"fields lists a field twice: {list(self.fields)}")
        object.__setattr__(self, "fields", tuple(f for f in allowed if f in self.fields))  # one canonical order
        object.__setattr__(self, "meshes", tuple(str(Path(m).resolve()) for m in self.meshes))
        object.__setattr__(self, "sounds", tuple(_resolve_sounds(self.sounds)))
        if self.sources > 1 and self.sources > len(self.sounds):
            raise ValueError(f"sources={self.sources} needs at least that many sounds (a mixture plays different "
                             f"sounds), got {len(self.sounds)}: {list(self.sounds)}")
        check_number("spacing", self.spacing, low=0.05, high=5.0, unit="m")
        check_int("resolution", self.resolution, low=8, high=2048)
        check_number("hfov_deg", self.hfov_deg, low=0.0, high=180.0, low_open=True, high_open=True, unit="degrees")
        check_choice("renderer", self.renderer, ("auto", "raycast", "gl", "habitat"))
        check_choice("up_axis", self.up_axis, ("z", "y"))
        check_number("scale", self.scale, low=0.0, low_open=True, unit="")
        if self.meshes and self.split_file:
            raise ValueError("give meshes or split_file, not both")
        if self.sample_rate not in SUPPORTED_SAMPLE_RATES:
            raise ValueError(f"sample_rate must be one of {SUPPORTED_SAMPLE_RATES} Hz, got {self.sample_rate!r}")
        self.audio_config()  # validates the audio settings with AudioConfig's own messages
        object.__setattr__(self, "_refs", tuple(self._resolve_refs()))

    # ------------------------------------------------------------------ derived
    def audio_config(self) -> AudioConfig:
        if self.kind == "echo":
            from ..acoustics.echo import ECHO_CONFIG, chirp

            cfg = ECHO_CONFIG.replace(sample_rate=self.sample_rate, rir_seconds=self.rir_seconds,
                                      step_seconds=self.audio_seconds, ism_order=self.ism_order, tail=self.tail,
                                      head=self.head)
            chirp(cfg)  # the chirp must fit under the Nyquist frequency
            return cfg
        return AudioConfig(sample_rate=self.sample_rate, rir_seconds=self.rir_seconds, step_seconds=self.audio_seconds,
                           ism_order=self.ism_order, tail=self.tail, head=self.head)

    @property
    def pose_fields(self) -> tuple[str, ...]:
        return ECHO_POSE_FIELDS if self.kind == "echo" else POSE_FIELDS

    def _resolve_refs(self) -> list[str]:
        if self.meshes:
            refs = list(self.meshes)
        elif self.split_file:
            refs = [str(Path(p).resolve()) for p in load_split_file(self.split_file).get(self.split, [])]
            if not refs:
                raise ValueError(f"split_file {self.split_file!r} lists no meshes for split {self.split!r}")
        else:
            seeds = split_seeds(self.split)
            if self.scenes > len(seeds):
                raise ValueError(f"scenes: the {self.split} split has {len(seeds)} apartments, got {self.scenes}")
            return [procedural_ref(s) for s in list(seeds)[: self.scenes or len(seeds)]]
        for r in refs:
            if not Path(r).is_file():
                raise FileNotFoundError(f"mesh {r!r} does not exist")
        return refs

    @property
    def shards(self) -> int:
        return -(-self.samples // self.shard_size)

    def shard_range(self, index: int) -> tuple[int, int]:
        """(first sample, sample count) of shard ``index``."""
        first = index * self.shard_size
        return first, min(self.shard_size, self.samples - first)

    def shard_scene(self, index: int) -> str:
        """The scene of shard ``index``: the split's scenes in a seeded order, repeated as needed."""
        refs = self._refs
        order = np.random.default_rng([SEED_SALT, self.seed, 0x5CE]).permutation(len(refs))
        return refs[int(order[index % len(refs)])]

    def shard_name(self, index: int) -> str:
        return f"shard-{index:06d}.tar"

    def schema(self) -> dict[str, dict]:
        """{member suffix: {"dtype", "shape"}} of every array of a sample."""
        cfg, k = self.audio_config(), self.sources
        n, m = cfg.step_samples, cfg.rir_samples
        spec_shape = spectrogram(np.zeros((2, n), np.float32), cfg, backend="numpy").shape
        r = self.resolution
        shapes = {"echo": ((2, n), "float32"), "echo_spectrogram": (tuple(spec_shape), "float32"),"rir": ((k, 2, m), "float32"), "audio": ((2, n), "float32"), "stems": ((k, 2, n), "float32"),
                  "spectrogram": (tuple(spec_shape), "float32"), "rgb": ((r, r, 3), "uint8"), "depth": ((r, r), "float32"),
                  "receiver_position": ((3,), "float32"), "receiver_heading": ((), "float32"),
                  "source_position": ((k, 3), "float32"), "geodesic": ((k,), "float32"), "euclidean": ((k,), "float32"),
                  "doa": ((k, 2), "float32"), "first_arrival": ((k, 3), "float32"), "sound_id": ((k,), "int64")}
        return {f"{name}.npy": {"dtype": shapes[name][1], "shape": list(shapes[name][0])}
                for name in self.fields + self.pose_fields}

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("_refs")
        d["meshes"], d["fields"], d["sounds"] = list(self.meshes), list(self.fields), list(self.sounds)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DatasetSpec":
        known = {f.name for f in fields(cls)} - {"_refs"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown dataset options {unknown}")
        d = dict(d)
        for key in ("meshes", "fields", "sounds"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def _resolve_sounds(sounds) -> list[str]:
    if isinstance(sounds, str):
        sounds = (sounds,)
    names: list[str] = []
    for s in sounds:
        if s in ("heard", "unheard"):
            names += sound_names(s)
        elif s == "all":
            names += sound_names()
        elif isinstance(s, str) and s in SOUNDS:
            names.append(s)
        else:
            raise ValueError(f"unknown sound {s!r}; use 'heard', 'unheard', 'all' or built-in names: {', '.join(SOUNDS)}")
    out = list(dict.fromkeys(names))
    if not out:
        raise ValueError("sounds must name at least one sound")
    return out


__all__ = ["AUDIO_FIELDS", "ECHO_FIELDS", "ECHO_HEADING_STEP", "ECHO_POSE_FIELDS", "FIELDS", "HEADING_STEP", "KINDS",
           "POSE_FIELDS", "VIEW_FIELDS", "DatasetSpec"]

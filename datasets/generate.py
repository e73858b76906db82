"""Synthetic binaural datasets: sampling, shard building and the resumable generation job.

A dataset is fixed by its ``DatasetSpec`` (split or meshes, sample count, seed, fields, audio
settings). Shard ``i`` holds samples ``[i * shard_size, ...)`` of one scene, and everything in it
is drawn from a generator seeded by (seed, i) alone, so any process, in any order, on any
number of workers or Ray nodes, writes the same bytes for it. A run records each finished shard
(its SHA-256, size and sample count) in ``manifest.json``; a rerun verifies the recorded shards,
keeps those that match and makes the rest again. Shards and the manifest are written to a
temporary name and renamed, so a run killed at any moment leaves only whole files behind.

Within a shard, samples come in groups: ``sources`` source nodes with their sounds, heard at
``receivers_per_source`` receiver nodes and headings. A group shares one image-source pass and
one traced tail per source room, which is what makes a sample cost a few milliseconds.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..acoustics import AudioConfig, compute_rirs, make_sound, sound_names, spectrogram
from ..acoustics.config import SUPPORTED_SAMPLE_RATES
from ..acoustics.sounds import SOUNDS
from ..scenes import NavGraph, generate_apartment, load_scene, load_split_file, split_seeds
from ..scenes.checks import check_choice, check_int, check_number
from ..scenes.materials import OCTAVE_BANDS_HZ
from ..scenes.splits import SEED_SALT, SPLITS
from . import shards as tarshards

FORMAT = "earshot-binaural-dataset"
VERSION = 1
MANIFEST = "manifest.json"

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
        sample_rate, rir_seconds, audio_seconds, ism_order, tail: audio settings (AudioConfig;
            None: 16 kHz, 1 s, 1 s for binaural samples, ECHO_CONFIG's for echoes).
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
                                      step_seconds=self.audio_seconds, ism_order=self.ism_order, tail=self.tail)
            chirp(cfg)  # the chirp must fit under the Nyquist frequency
            return cfg
        return AudioConfig(sample_rate=self.sample_rate, rir_seconds=self.rir_seconds, step_seconds=self.audio_seconds,
                           ism_order=self.ism_order, tail=self.tail)

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
            return [f"procedural:{s}" for s in list(seeds)[: self.scenes or len(seeds)]]
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


# ---------------------------------------------------------------------------------- scenes
@lru_cache(maxsize=2)
def _scene(ref: str, spacing: float, up_axis: str, scale: float):
    """(scene, graph, materials summary) of a scene reference, kept for the next shard."""
    if ref.startswith("procedural:"):
        scene = generate_apartment(int(ref.split(":", 1)[1]), nav_spacing=spacing)
    else:
        scene = load_scene(ref, up_axis=up_axis, scale=scale)
    graph = NavGraph.build(scene, spacing=spacing)
    return scene, graph, materials_summary(scene)


def materials_summary(scene) -> dict:
    """Area fraction of each material and the area-weighted absorption per octave band."""
    area = np.asarray(scene.mesh.area_faces, np.float64)
    per = np.bincount(np.asarray(scene.face_materials), weights=area, minlength=len(scene.materials))
    total = float(per.sum())
    absorption = sum(per[i] * np.asarray(m.absorption) for i, m in enumerate(scene.materials)) / max(total, 1e-12)
    fractions: dict[str, float] = {}
    for i, m in enumerate(scene.materials):
        if per[i] > 0:
            fractions[m.name] = round(fractions.get(m.name, 0.0) + float(per[i]) / total, 4)
    return {"area_fraction": dict(sorted(fractions.items())), "mean_absorption": [round(float(a), 4) for a in absorption],
            "bands_hz": list(OCTAVE_BANDS_HZ), "surface_area_m2": round(total, 2)}


@lru_cache(maxsize=32)
def _sound(name: str, sample_rate: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(one period of the sound, the loop positions where a ``window``-sample excerpt holds at
    least half the energy of its loudest excerpt: a sample never plays only a ring's silence)."""
    x = make_sound(name, sample_rate).astype(np.float64)
    looped = np.resize(x, len(x) + window)
    energy = np.concatenate([[0.0], np.cumsum(looped * looped)])
    excerpt = energy[window: window + len(x)] - energy[: len(x)]
    return x.astype(np.float32), np.flatnonzero(excerpt >= 0.5 * excerpt.max())


# ---------------------------------------------------------------------------------- shards
def build_shard(spec: DatasetSpec, index: int, writer, rir_cache: str | None = None) -> dict:
    """Sample and write the samples of shard ``index`` through ``writer`` (a ShardWriter).
    Returns {"scene", "scene_hash", "samples"}."""
    if spec.kind == "echo":
        return _build_echo_shard(spec, index, writer)
    ref = spec.shard_scene(index)
    scene, graph, materials = _scene(ref, spec.spacing, spec.up_axis, spec.scale)
    cfg = spec.audio_config()
    k_src, n_nodes = spec.sources, len(graph)
    if n_nodes < k_src + 1:
        raise ValueError(f"scene {ref!r} has {n_nodes} navigable nodes: too few for {k_src} source(s) and a receiver; "
                         "use a larger mesh or a smaller --spacing")
    rng = np.random.default_rng([SEED_SALT, spec.seed, 1 + index])
    first, count = spec.shard_range(index)
    n, m, fs = cfg.step_samples, cfg.rir_samples, cfg.sample_rate
    want = set(spec.fields)
    cache = None
    if rir_cache:
        from ..acoustics import RIRCache

        cache = RIRCache(rir_cache)
    renderer = None
    if want & set(VIEW_FIELDS):
        from ..scenes.render import make_renderer

        renderer = make_renderer(spec.renderer, scene, width=spec.resolution, height=spec.resolution,
                                 hfov_deg=spec.hfov_deg)
    rooms = scene.rooms
    made = 0
    try:
        while made < count:
            r = min(spec.receivers_per_source, count - made)
            src_nodes = rng.choice(n_nodes, k_src, replace=False)
            others = np.setdiff1d(np.arange(n_nodes), src_nodes)
            rec_nodes = rng.choice(others, r, replace=len(others) < r)
            if spec.headings == "grid":
                headings = rng.integers(0, 8, size=r) * HEADING_STEP
            else:
                headings = rng.uniform(0.0, 2 * np.pi, size=r)
            sound_ids = rng.choice(len(spec.sounds), k_src, replace=False) if k_src > 1 else rng.integers(0, len(spec.sounds), 1)
            src_pos = graph.positions[src_nodes] + [0.0, 0.0, cfg.source_height]
            ears = graph.positions[rec_nodes] + [0.0, 0.0, cfg.ear_height]
            starts, spectra = [], []
            size = _fft_size(n, m)
            for sid in sound_ids:
                audio, active = _sound(spec.sounds[sid], fs, n)
                start = int(active[rng.integers(len(active))])
                starts.append(start)
                # the source has been playing for ever: the excerpt heard from ``start`` includes
                # the reverberation of the m - 1 samples before it
                excerpt = audio[np.arange(start - m + 1, start + n) % len(audio)]
                spectra.append(_rfft(excerpt, size))

            rirs = np.zeros((r, k_src, 2, m), np.float32)
            stems = np.zeros((r, k_src, 2, n), np.float32)
            first_arrival = np.full((r, k_src, 3), np.nan, np.float32)
            for k in range(k_src):
                if cache is not None:
                    directional = cache.get_many(scene, src_pos[k], ears, config=cfg)
                else:
                    directional = compute_rirs(scene, src_pos[k], ears, cfg, check_free_space=False)
                for j, (d, h) in enumerate(zip(directional, headings)):
                    rirs[j, k] = d.binaural(float(h))
                    d.drop_render_cache()
                    if len(d.delays):
                        a = int(np.argmin(d.delays))
                        az, el = _head_angles(d.directions[a], h)
                        first_arrival[j, k] = (d.delays[a], az, el)
                stems[:, k] = _convolve(spectra[k], rirs[:, k], size, m, n)
            audio_mix = stems.sum(axis=1)
            specs = spectrogram(audio_mix, cfg, backend="numpy") if "spectrogram" in want else None
            if cache is not None:
                cache.flush()

            for j in range(r):
                i = first + made + j
                rec = ears[j]
                geodesic = np.array([graph.geodesic_distance(int(s), int(rec_nodes[j])) for s in src_nodes], np.float32)
                vec = src_pos - rec
                euclid = np.linalg.norm(vec, axis=1).astype(np.float32)
                doa = np.array([_head_angles(v, headings[j]) for v in vec], np.float32)
                arrays = {
                    "rir": rirs[j], "audio": audio_mix[j], "stems": stems[j],
                    "spectrogram": specs[j] if specs is not None else None,
                }
                if renderer is not None:
                    rgb, depth = renderer.render(graph.positions[rec_nodes[j]], float(headings[j]))
                    arrays["rgb"], arrays["depth"] = np.asarray(rgb, np.uint8), np.asarray(depth, np.float32)
                members = {f"{name}.npy": tarshards.npy_bytes(arrays[name]) for name in spec.fields}
                pose = {
                    "receiver_position": rec.astype(np.float32), "receiver_heading": np.float32(headings[j]),
                    "source_position": src_pos.astype(np.float32), "geodesic": geodesic, "euclidean": euclid,
                    "doa": doa, "first_arrival": first_arrival[j], "sound_id": np.asarray(sound_ids, np.int64),
                }
                members.update({f"{name}.npy": tarshards.npy_bytes(pose[name]) for name in spec.pose_fields})
                meta = {
                    "index": i, "shard": index,
                    "scene": {"ref": ref if ref.startswith("procedural:") else os.path.basename(ref),
                              "hash": scene.content_hash, "split": spec.split, "name": scene.name},
                    "materials": materials,
                    "receiver": {"node": int(rec_nodes[j]), "position": _floats(rec), "heading": float(headings[j]),
                                 "room": _room_kind(scene, rooms, rec)},
                    "sources": [{"node": int(s), "position": _floats(src_pos[q]), "sound": spec.sounds[sound_ids[q]],
                                 "category": SOUNDS[spec.sounds[sound_ids[q]]].category,
                                 "start_sample": starts[q], "room": _room_kind(scene, rooms, src_pos[q]),
                                 "geodesic_m": float(geodesic[q]), "euclidean_m": float(euclid[q]),
                                 "azimuth": float(doa[q, 0]), "elevation": float(doa[q, 1]),
                                 "first_arrival_s": _none_if_nan(first_arrival[j, q, 0])}
                                for q, s in enumerate(src_nodes)],
                    "sample_rate": fs,
                }
                members["json"] = tarshards.json_bytes(meta)
                writer.add(f"{i:09d}", members)
            made += r
    finally:
        if renderer is not None:
            renderer.close()
        if cache is not None:
            cache.close()
    return {"scene": ref if ref.startswith("procedural:") else os.path.basename(ref),
            "scene_hash": scene.content_hash, "samples": count}


def _build_echo_shard(spec: DatasetSpec, index: int, writer) -> dict:
    """Echo samples: (node, heading) pairs of the shard's scene, each with the echo of a chirp
    emitted from the agent's head (``acoustics.echo``), and the view and depth there."""
    from ..acoustics.echo import echo_audio, echo_rirs, echo_spectrogram

    ref = spec.shard_scene(index)
    scene, graph, materials = _scene(ref, spec.spacing, spec.up_axis, spec.scale)
    cfg = spec.audio_config()
    rng = np.random.default_rng([SEED_SALT, spec.seed, 1 + index, 0xEC0])
    first, count = spec.shard_range(index)
    n_nodes = len(graph)
    if spec.headings == "grid":  # every (node, orientation) pair once, as long as they last
        pairs = rng.choice(4 * n_nodes, count, replace=4 * n_nodes < count)
        nodes, headings = pairs // 4, (pairs % 4) * ECHO_HEADING_STEP
    else:
        nodes, headings = rng.integers(0, n_nodes, count), rng.uniform(0.0, 2 * np.pi, count)
    renderer = None
    if set(spec.fields) & set(VIEW_FIELDS):
        from ..scenes.render import make_renderer

        renderer = make_renderer(spec.renderer, scene, width=spec.resolution, height=spec.resolution, hfov_deg=spec.hfov_deg)
    heads = graph.positions + [0.0, 0.0, cfg.ear_height]
    rirs: dict[int, object] = {}
    try:
        for j in range(count):
            node, heading = int(nodes[j]), float(headings[j])
            if node not in rirs:
                rirs[node] = echo_rirs(scene, heads[node][None], cfg, check_free_space=False)[0]
            audio = echo_audio(rirs[node], heading, cfg)
            rirs[node].drop_render_cache()
            arrays = {"echo": audio}
            if "echo_spectrogram" in spec.fields:
                arrays["echo_spectrogram"] = np.asarray(echo_spectrogram(audio, cfg), np.float32)
            if renderer is not None:
                rgb, depth = renderer.render(graph.positions[node], heading)
                arrays["rgb"], arrays["depth"] = np.asarray(rgb, np.uint8), np.asarray(depth, np.float32)
            arrays["receiver_position"] = heads[node].astype(np.float32)
            arrays["receiver_heading"] = np.float32(heading)
            members = {f"{name}.npy": tarshards.npy_bytes(arrays[name]) for name in spec.fields + spec.pose_fields}
            i = first + j
            members["json"] = tarshards.json_bytes({
                "index": i, "shard": index, "kind": "echo",
                "scene": {"ref": ref if ref.startswith("procedural:") else os.path.basename(ref), "hash": scene.content_hash,
                          "split": spec.split, "name": scene.name},
                "materials": materials,
                "receiver": {"node": node, "position": _floats(heads[node]), "heading": heading,
                             "room": _room_kind(scene, scene.rooms, heads[node])},
                "sample_rate": cfg.sample_rate,
                "chirp": {"seconds": cfg.chirp_seconds, "low_hz": cfg.chirp_low_hz, "high_hz": cfg.chirp_high_hz},
            })
            writer.add(f"{i:09d}", members)
    finally:
        if renderer is not None:
            renderer.close()
    return {"scene": ref if ref.startswith("procedural:") else os.path.basename(ref), "scene_hash": scene.content_hash,
            "samples": count}


def _floats(v) -> list[float]:
    return [float(x) for x in v]


def _none_if_nan(x) -> float | None:
    return None if not np.isfinite(x) else float(x)


def _room_kind(scene, rooms, point) -> str | None:
    i = scene.room_at(point) if rooms else -1
    return rooms[i].kind if i >= 0 else None


def _head_angles(vec, heading: float) -> tuple[float, float]:
    """(azimuth, elevation) radians of world direction ``vec`` for a head facing ``heading``:
    azimuth counter-clockwise from straight ahead (+π/2 = the left ear's side), in (-π, π]."""
    x, y, z = vec
    az = math.atan2(y, x) - float(heading)
    az = (az + math.pi) % (2 * math.pi) - math.pi
    if az <= -math.pi:
        az += 2 * math.pi
    return az, math.atan2(z, math.hypot(x, y))


def _fft_size(n: int, m: int) -> int:
    """A fast FFT length for ``_convolve``: circular convolution of the (m - 1 + n)-sample
    excerpt with an m-sample RIR wraps only into its first m - 1 outputs, which are dropped."""
    import scipy.fft

    return scipy.fft.next_fast_len(n + m - 1, real=True)


def _rfft(x: np.ndarray, size: int) -> np.ndarray:
    import scipy.fft

    return scipy.fft.rfft(np.asarray(x, np.float32), n=size)


def _convolve(excerpt_spectrum: np.ndarray, rirs: np.ndarray, size: int, m: int, n: int) -> np.ndarray:
    """(R, 2, n) float32: the excerpt (m - 1 samples of history, then n) through each (2, m)
    RIR, the n samples after the history (``earshot.acoustics.hear`` for a looping source), in
    single precision (relative error ~1e-6 of the peak)."""
    import scipy.fft

    out = scipy.fft.irfft(scipy.fft.rfft(rirs, n=size, axis=-1) * excerpt_spectrum, n=size, axis=-1)
    return np.ascontiguousarray(out[..., m - 1: m - 1 + n], dtype=np.float32)


# ---------------------------------------------------------------------------------- manifest
def _manifest_path(out: Path) -> Path:
    return Path(out) / MANIFEST


def read_manifest(out) -> dict:
    """The manifest of dataset folder ``out`` (ValueError naming the problem when unreadable)."""
    path = _manifest_path(Path(out))
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist: {str(out)!r} is not an earshot dataset folder "
                                "(make one with scripts/generate_dataset.py)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not readable JSON ({exc}); regenerate the dataset") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not an earshot dataset manifest")
    if manifest.get("version") != VERSION:
        raise ValueError(f"{str(path)!r} has dataset format version {manifest.get('version')!r}; this earshot reads "
                         f"version {VERSION}: regenerate it with this version")
    return manifest


def _new_manifest(spec: DatasetSpec) -> dict:
    from .. import __version__

    return {"format": FORMAT, "version": VERSION, "earshot": __version__, "config": spec.to_dict(),
            "audio_config": spec.audio_config().to_dict(), "sounds": list(spec.sounds),
            "schema": spec.schema(), "samples": spec.samples, "shard_count": spec.shards,
            "complete": False, "shards": []}


def _write_manifest(out: Path, manifest: dict) -> None:
    manifest["shards"].sort(key=lambda s: s["index"])
    done = sum(s["samples"] for s in manifest["shards"])
    manifest["complete"] = len(manifest["shards"]) == manifest["shard_count"] and done == manifest["samples"]
    tarshards.write_bytes_atomic(_manifest_path(out), (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())


def _differences(a: dict, b: dict) -> list[str]:
    return [f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


class _Lock:
    """An exclusive lock on the dataset folder, so that two runs never write it at once."""

    def __init__(self, out: Path):
        self.path = out / ".lock"

    def __enter__(self):
        self.f = open(self.path, "a+")
        try:
            fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.f.close()
            raise RuntimeError(f"another run is writing {str(self.path.parent)!r}; wait for it to finish "
                               "or choose another --out") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


# ---------------------------------------------------------------------------------- the job
@dataclass
class Progress:
    """What a run did (kept by the caller, so it can be read after an interruption)."""

    shards_total: int = 0
    shards_done: int = 0  # recorded in the manifest, earlier runs included
    samples_done: int = 0
    samples_made: int = 0  # by this run
    kept: int = 0  # shards of earlier runs verified and kept
    redone: list = field(default_factory=list)  # shards of earlier runs that failed verification
    seconds: float = 0.0


def _entry(spec: DatasetSpec, index: int, info: dict, digest: str, size: int, offsets: list[int]) -> dict:
    """The manifest entry of a written shard."""
    return dict(info, index=index, name=spec.shard_name(index), sha256=digest, bytes=size, offsets=offsets,
                first_sample=spec.shard_range(index)[0])


def _local_task(spec_dict: dict, index: int, out: str, rir_cache: str | None) -> dict:
    spec = DatasetSpec.from_dict(spec_dict)
    info: dict = {}

    def build(writer):
        info.update(build_shard(spec, index, writer, rir_cache))

    digest, size, offsets = tarshards.write_atomic(Path(out) / spec.shard_name(index), build)
    return _entry(spec, index, info, digest, size, offsets)


def _ray_task(spec_dict: dict, index: int, rir_cache: str | None) -> tuple[bytes, dict]:
    import io

    spec = DatasetSpec.from_dict(spec_dict)
    buf = io.BytesIO()
    writer = tarshards.ShardWriter(buf)
    info = build_shard(spec, index, writer, rir_cache)
    digest = writer.close()
    data = buf.getvalue()
    return data, _entry(spec, index, info, digest, len(data), writer.offsets)


def _ignore_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def generate(spec: DatasetSpec, out, workers: int = 1, backend: str = "local", rir_cache: str | None = None,
             progress: Progress | None = None, bar: bool = True) -> Progress:
    """Write the dataset of ``spec`` into folder ``out``, or finish one a killed run left there.

    Shards the manifest records are verified (size and SHA-256) and kept; the others, and any
    that fail, are made (again). ``backend="ray"`` runs shards as Ray tasks (``ray.init()`` is
    called if Ray is not initialised: set RAY_ADDRESS to join a cluster); their bytes come back
    to this process, which writes them. ``bar`` shows a progress bar (samples/s); pass a
    ``Progress`` to read the counts after a Ctrl-C. Returns the run's ``Progress``."""
    from tqdm import tqdm

    check_choice("backend", backend, ("local", "ray"))
    check_int("workers", workers, low=1, high=1024)
    if not isinstance(spec, DatasetSpec):
        raise ValueError(f"spec must be a DatasetSpec, got {type(spec).__name__}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out {str(out)!r} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    state = progress if progress is not None else Progress()
    state.shards_total = spec.shards
    with _Lock(out):
        for stale in out.glob(".shard-*.tmp"):
            stale.unlink(missing_ok=True)  # a killed run's unfinished shard
        manifest = _new_manifest(spec)
        if _manifest_path(out).exists():
            old = read_manifest(out)
            for part in ("config", "audio_config"):
                if old.get(part) != manifest[part]:
                    diff = "; ".join(_differences(old.get(part, {}), manifest[part]))
                    what = "options" if part == "config" else "audio settings (an earshot upgrade changed AudioConfig)"
                    raise ValueError(f"{str(out)!r} holds a dataset made with other {what} ({diff}): rerun with the "
                                     "same options to resume it, or choose a new --out")
            for entry in old.get("shards", []):
                problem = _check_shard(out, entry, spec)
                if problem is None:
                    manifest["shards"].append(entry)
                    state.kept += 1
                else:
                    state.redone.append(f"{entry.get('name')}: {problem}")
        done = {s["index"] for s in manifest["shards"]}
        _write_manifest(out, manifest)
        todo = [i for i in range(spec.shards) if i not in done]
        state.shards_done = len(done)
        state.samples_done = sum(s["samples"] for s in manifest["shards"])
        shown = tqdm(total=spec.samples, initial=state.samples_done, desc="samples", unit="sample", smoothing=0.1,
                     disable=not bar, dynamic_ncols=True)
        t0 = time.perf_counter()

        def finished(entry: dict) -> None:
            entry = {k: entry[k] for k in ("index", "name", "scene", "scene_hash", "first_sample", "samples", "bytes", "sha256",
                                           "offsets")}
            manifest["shards"].append(entry)
            _write_manifest(out, manifest)
            state.shards_done += 1
            state.samples_done += entry["samples"]
            state.samples_made += entry["samples"]
            state.seconds = time.perf_counter() - t0
            shown.update(entry["samples"])

        spec_dict = spec.to_dict()
        try:
            if backend == "ray":
                _run_ray(spec_dict, todo, out, rir_cache, finished)
            elif workers <= 1:
                for i in todo:
                    finished(_local_task(spec_dict, i, str(out), rir_cache))
            else:
                _run_pool(spec_dict, todo, out, rir_cache, workers, finished)
        finally:
            state.seconds = time.perf_counter() - t0
            shown.close()
    return state


def _run_pool(spec_dict, todo, out, rir_cache, workers, finished) -> None:
    import itertools
    import multiprocessing as mp
    from collections import deque

    saved = {k: os.environ.get(k) for k in _ONE_THREAD}
    os.environ.update({k: "1" for k in _ONE_THREAD})  # one core per worker (spawned children read it at start)
    try:
        # spawn: Embree and EGL state must not cross a fork
        pool = mp.get_context("spawn").Pool(workers, initializer=_ignore_sigint)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    with pool:
        queue = iter(todo)
        pending = deque(pool.apply_async(_local_task, (spec_dict, i, str(out), rir_cache))
                        for i in itertools.islice(queue, 2 * workers))
        try:
            while pending:
                finished(pending.popleft().get())
                i = next(queue, None)
                if i is not None:
                    pending.append(pool.apply_async(_local_task, (spec_dict, i, str(out), rir_cache)))
        except KeyboardInterrupt:
            pool.close()
            pool.join()  # shards in flight finish and are recorded: nothing half-written
            for result in pending:
                if result.ready() and result.successful():
                    finished(result.get())
            raise


def _run_ray(spec_dict, todo, out, rir_cache, finished) -> None:
    try:
        import ray
    except ImportError as exc:
        raise ImportError("backend='ray' needs Ray: pip install 'earshot[dist]'") from exc
    if not ray.is_initialized():
        ray.init()
    remote = ray.remote(num_cpus=1)(_ray_task)
    limit = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))  # results waiting in the object store, bounded
    queue = iter(todo)
    pending = [remote.remote(spec_dict, i, rir_cache) for i in [next(queue) for _ in range(min(limit, len(todo)))]]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        data, entry = ray.get(ready[0])
        tarshards.write_bytes_atomic(out / entry["name"], data)
        del data
        finished(entry)
        i = next(queue, None)
        if i is not None:
            pending.append(remote.remote(spec_dict, i, rir_cache))


# ---------------------------------------------------------------------------------- checks
def _check_shard(out: Path, entry: dict, spec: DatasetSpec | None = None, deep: bool = False) -> str | None:
    """None if the shard ``entry`` of a manifest is whole, else what is wrong with it."""
    try:
        path = out / entry["name"]
        size, digest, samples = int(entry["bytes"]), str(entry["sha256"]), int(entry["samples"])
    except (KeyError, TypeError, ValueError):
        return "its manifest entry is malformed"
    if not path.is_file():
        return "missing"
    if path.stat().st_size != size:
        return f"size {path.stat().st_size} bytes, the manifest says {size}"
    if tarshards.sha256_file(path) != digest:
        return "checksum mismatch (the file is corrupted or was changed)"
    if deep:
        try:
            members = tarshards.index(path)
        except ValueError as exc:
            return str(exc)
        if len(members) != samples:
            return f"holds {len(members)} samples, the manifest says {samples}"
        starts = [min(off for off, _ in m.values()) - 512 for m in members.values()]
        if starts != list(entry.get("offsets", starts + [None]))[:-1]:
            return "its samples do not start where the manifest's offsets say"
        if spec is not None:
            expected = set(spec.schema()) | {"json"}
            for key, suffixes in members.items():
                if set(suffixes) != expected:
                    return f"sample {key} has members {sorted(suffixes)}, expected {sorted(expected)}"
    return None


def verify(out) -> list[str]:
    """Every problem of dataset folder ``out`` against its manifest (empty when it is whole):
    missing, resized, corrupted or unlisted shards, wrong sample counts, an incomplete run."""
    out = Path(out)
    try:
        manifest = read_manifest(out)
        spec = DatasetSpec.from_dict(manifest["config"])
    except (FileNotFoundError, ValueError, KeyError, TypeError) as exc:
        return [str(exc)]
    problems = []
    listed = set()
    for entry in manifest.get("shards", []):
        listed.add(entry.get("name"))
        problem = _check_shard(out, entry, spec, deep=True)
        if problem is not None:
            problems.append(f"{entry.get('name')}: {problem}")
    for path in sorted(out.glob("shard-*.tar")):
        if path.name not in listed:
            problems.append(f"{path.name}: not in the manifest (left by an interrupted run; rerun the generation to finish)")
    recorded = sum(int(s.get("samples", 0)) for s in manifest.get("shards", []))
    if not manifest.get("complete") or recorded != manifest.get("samples"):
        problems.append(f"incomplete: {len(manifest.get('shards', []))} of {manifest.get('shard_count')} shards, "
                        f"{recorded} of {manifest.get('samples')} samples (rerun the same command to finish it)")
    return problems

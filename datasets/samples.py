"""Making a dataset's samples: shard ``i`` draws everything from a generator seeded by (seed, i)
alone, so any process, in any order, writes the same bytes for it.

Within a shard, samples come in groups: ``sources`` source nodes with their sounds, heard at
``receivers_per_source`` receiver nodes and headings. A group shares one image-source pass and
one traced tail per source room (the scene's SceneAcoustics), which is what makes a sample cost
a few milliseconds. Echo samples (``kind="echo"``) are the echoes of a chirp emitted from the
listener's head, with the view and depth there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..acoustics import compute_rirs, make_sound, spectrogram
from ..acoustics.sounds import SOUNDS, active_starts
from ..acoustics.features import excerpt_fft_size, excerpt_spectrum, hear_excerpts
from ..scenes.materials import OCTAVE_BANDS_HZ
from ..scenes.refs import build_scene_and_graph, ref_label
from ..scenes.splits import SEED_SALT
from . import shards as tarshards
from .spec import ECHO_HEADING_STEP, HEADING_STEP, VIEW_FIELDS, DatasetSpec
from ..acoustics.heads import load_head


# ---------------------------------------------------------------------------------- scenes
@lru_cache(maxsize=2)
def _scene(ref: str, spacing: float, up_axis: str, scale: float):
    """(scene, graph, materials summary) of a scene reference, kept in this process for the next
    shard (consecutive shards often share a scene, and the scene carries its SceneAcoustics)."""
    scene, graph = build_scene_and_graph(ref, spacing, {"up_axis": up_axis, "scale": scale})
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
    x = make_sound(name, sample_rate)
    return x, active_starts(x, window)


# ---------------------------------------------------------------------------------- shards
def build_shard(spec: DatasetSpec, index: int, writer, rir_cache: str | None = None) -> dict:
    """Sample and write the samples of shard ``index`` through ``writer`` (a ShardWriter).
    Returns {"scene", "scene_hash", "samples"}."""
    if spec.kind == "echo":
        return _build_echo_shard(spec, index, writer)
    ref = spec.shard_scene(index)
    scene, graph, materials = _scene(ref, spec.spacing, spec.up_axis, spec.scale)
    cfg = spec.audio_config()
    if len(graph) < spec.sources + 1:
        raise ValueError(f"scene {ref!r} has {len(graph)} navigable nodes: too few for {spec.sources} source(s) and a "
                         "receiver; use a larger mesh or a smaller --spacing")
    rng = np.random.default_rng([SEED_SALT, spec.seed, 1 + index])
    first, count = spec.shard_range(index)
    cache = None
    if rir_cache:
        from ..acoustics import RIRCache

        cache = RIRCache(rir_cache)
    renderer = _renderer(spec, scene) if set(spec.fields) & set(VIEW_FIELDS) else None
    made = 0
    try:
        while made < count:
            group = _draw_group(spec, cfg, rng, graph, min(spec.receivers_per_source, count - made))
            _hear_group(group, spec, cfg, scene, cache)
            for j in range(len(group.rec_nodes)):
                i = first + made + j
                pose = _pose(group, j, graph)
                members = _sample_members(spec, group, j, pose, renderer, graph)
                members["json"] = tarshards.json_bytes(_sample_meta(spec, cfg, group, j, pose, i, index, ref, scene, materials))
                writer.add(f"{i:09d}", members)
            made += len(group.rec_nodes)
    finally:
        if renderer is not None:
            renderer.close()
        if cache is not None:
            cache.close()
    return {"scene": ref_label(ref), "scene_hash": scene.content_hash, "samples": count}


def _renderer(spec: DatasetSpec, scene):
    from ..scenes.render import make_renderer

    return make_renderer(spec.renderer, scene, width=spec.resolution, height=spec.resolution, hfov_deg=spec.hfov_deg)


@dataclass
class _Group:
    """One group of samples: K sources heard at R receivers (drawn, then heard)."""

    src_nodes: np.ndarray  # (K,) NavGraph nodes
    rec_nodes: np.ndarray  # (R,)
    headings: np.ndarray  # (R,) radians
    sound_ids: np.ndarray  # (K,) indices into spec.sounds
    starts: list  # (K,) loop position of each sound's excerpt, samples
    src_pos: np.ndarray  # (K, 3) m
    ears: np.ndarray  # (R, 3) m
    rirs: np.ndarray | None = None  # (R, K, 2, m) float32
    stems: np.ndarray | None = None  # (R, K, 2, n) float32
    first_arrival: np.ndarray | None = None  # (R, K, 3) float32 (delay s, azimuth, elevation)
    audio: np.ndarray | None = None  # (R, 2, n) float32, the mixture
    spectrograms: np.ndarray | None = None  # (R, ...) of the mixture, when stored


def _draw_group(spec: DatasetSpec, cfg, rng: np.random.Generator, graph, r: int) -> _Group:
    """Every random choice of one group of ``r`` receivers, in the generator's fixed order."""
    k_src, n_nodes = spec.sources, len(graph)
    src_nodes = rng.choice(n_nodes, k_src, replace=False)
    others = np.setdiff1d(np.arange(n_nodes), src_nodes)
    rec_nodes = rng.choice(others, r, replace=len(others) < r)
    if spec.headings == "grid":
        headings = rng.integers(0, 8, size=r) * HEADING_STEP
    else:
        headings = rng.uniform(0.0, 2 * np.pi, size=r)
    sound_ids = rng.choice(len(spec.sounds), k_src, replace=False) if k_src > 1 else rng.integers(0, len(spec.sounds), 1)
    starts = []
    for sid in sound_ids:
        active = _sound(spec.sounds[sid], cfg.sample_rate, cfg.step_samples)[1]
        starts.append(int(active[rng.integers(len(active))]))
    return _Group(src_nodes, rec_nodes, headings, sound_ids, starts,
                  graph.positions[src_nodes] + [0.0, 0.0, cfg.source_height],
                  graph.positions[rec_nodes] + [0.0, 0.0, cfg.ear_height])


def _hear_group(group: _Group, spec: DatasetSpec, cfg, scene, cache) -> None:
    """The group's binaural RIRs, stems, mixture and spectrograms (one RIR pass per source)."""
    n, m, fs = cfg.step_samples, cfg.rir_samples, cfg.sample_rate
    r, k_src = len(group.rec_nodes), len(group.src_nodes)
    head = load_head(cfg)
    size = excerpt_fft_size(n, m)
    group.rirs = np.zeros((r, k_src, 2, m), np.float32)
    group.stems = np.zeros((r, k_src, 2, n), np.float32)
    group.first_arrival = np.full((r, k_src, 3), np.nan, np.float32)
    for k in range(k_src):
        # the source has been playing for ever: the excerpt heard from its start includes the
        # reverberation of the m - 1 samples before it
        audio = _sound(spec.sounds[group.sound_ids[k]], fs, n)[0]
        spectrum = excerpt_spectrum(audio, group.starts[k], m, n, size)
        if cache is not None:
            directional = cache.get_many(scene, group.src_pos[k], group.ears, config=cfg)
        else:
            directional = compute_rirs(scene, group.src_pos[k], group.ears, cfg, check_free_space=False)
        for j, (d, h) in enumerate(zip(directional, group.headings)):
            group.rirs[j, k] = d.binaural(float(h), hrtf=head)
            d.drop_render_cache()
            if len(d.delays):
                a = int(np.argmin(d.delays))
                az, el = _head_angles(d.directions[a], h)
                group.first_arrival[j, k] = (d.delays[a], az, el)
        group.stems[:, k] = hear_excerpts(spectrum, group.rirs[:, k], size, m, n)
    group.audio = group.stems.sum(axis=1)
    group.spectrograms = spectrogram(group.audio, cfg, backend="numpy") if "spectrogram" in spec.fields else None
    if cache is not None:
        cache.flush()


def _pose(group: _Group, j: int, graph) -> dict[str, np.ndarray]:
    """The pose arrays of the group's ``j``-th sample (stored whatever ``fields`` says)."""
    rec = group.ears[j]
    vec = group.src_pos - rec
    return {
        "receiver_position": rec.astype(np.float32), "receiver_heading": np.float32(group.headings[j]),
        "source_position": group.src_pos.astype(np.float32),
        "geodesic": np.array([graph.geodesic_distance(int(s), int(group.rec_nodes[j])) for s in group.src_nodes], np.float32),
        "euclidean": np.linalg.norm(vec, axis=1).astype(np.float32),
        "doa": np.array([_head_angles(v, group.headings[j]) for v in vec], np.float32),
        "first_arrival": group.first_arrival[j], "sound_id": np.asarray(group.sound_ids, np.int64),
    }


def _sample_members(spec: DatasetSpec, group: _Group, j: int, pose: dict, renderer, graph) -> dict[str, bytes]:
    """The ``.npy`` members of the group's ``j``-th sample: its fields, then its pose."""
    arrays = {
        "rir": group.rirs[j], "audio": group.audio[j], "stems": group.stems[j],
        "spectrogram": group.spectrograms[j] if group.spectrograms is not None else None,
    }
    if renderer is not None:
        rgb, depth = renderer.render(graph.positions[group.rec_nodes[j]], float(group.headings[j]))
        arrays["rgb"], arrays["depth"] = np.asarray(rgb, np.uint8), np.asarray(depth, np.float32)
    members = {f"{name}.npy": tarshards.npy_bytes(arrays[name]) for name in spec.fields}
    members.update({f"{name}.npy": tarshards.npy_bytes(pose[name]) for name in spec.pose_fields})
    return members


def _sample_meta(spec: DatasetSpec, cfg, group: _Group, j: int, pose: dict, i: int, index: int, ref: str, scene,
                 materials: dict) -> dict:
    """The JSON metadata of the group's ``j``-th sample (sample ``i`` of the dataset)."""
    rec, rooms = group.ears[j], scene.rooms
    geodesic, euclid, doa = pose["geodesic"], pose["euclidean"], pose["doa"]
    sources = []
    for q, s in enumerate(group.src_nodes):
        sound = spec.sounds[group.sound_ids[q]]
        sources.append({
            "node": int(s), "position": _floats(group.src_pos[q]), "sound": sound, "category": SOUNDS[sound].category,
            "start_sample": group.starts[q], "room": _room_kind(scene, rooms, group.src_pos[q]),
            "geodesic_m": float(geodesic[q]), "euclidean_m": float(euclid[q]),
            "azimuth": float(doa[q, 0]), "elevation": float(doa[q, 1]),
            "first_arrival_s": _none_if_nan(group.first_arrival[j, q, 0])})
    return {
        "index": i, "shard": index,
        "scene": {"ref": ref_label(ref), "hash": scene.content_hash, "split": spec.split, "name": scene.name},
        "materials": materials,
        "receiver": {"node": int(group.rec_nodes[j]), "position": _floats(rec), "heading": float(group.headings[j]),
                     "room": _room_kind(scene, rooms, rec)},
        "sources": sources,
        "sample_rate": cfg.sample_rate,
    }


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
                "scene": {"ref": ref_label(ref), "hash": scene.content_hash,
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
    return {"scene": ref_label(ref), "scene_hash": scene.content_hash,
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

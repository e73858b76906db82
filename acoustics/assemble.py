"""Assembling RIRs from scene geometry: early arrivals (image sources, paths through doors) plus
a late tail, for one source and many receivers, as ``DirectionalRIR``s.

Amplitudes: a free-field arrival at distance d has amplitude 1/d (1 at 1 m), saturating at
1/source_radius within a source's radius (``AudioConfig.source_radius``); every reflection
multiplies band b by sqrt((1 − α_b)(1 − s)) of the surface it hits (the specular share; the
scattered share s is in the ray-traced tail, as in pyroomacoustics' hybrid model). Sample 0 of
every RIR is the moment of emission.

Early part:
- rooms of annotated scenes (procedural apartments): image sources of the source's room, each
  path validated against the whole scene (``acoustics.paths``);
- receivers in other rooms: paths through the doors, bent at the doors' edges (knife-edge
  diffraction) and reflected in the receiver's room (``acoustics.diffraction``): they hear the
  door's direction, and the level grows towards it;
- meshes without rooms (scans, user meshes): image sources of the mesh's own largest planes,
  each path confirmed with Embree (``paths.mesh_early_arrivals``), so concave rooms reflect off
  the walls they have.

Late tail (default ``tail="traced"``): earshot's stochastic ray tracer over the mesh
(``acoustics.raytrace``): one source's rays give the energy density over time per octave band in
every room (cells of 2 m for meshes without rooms), which sets the receiver's diffuse tail; it
fades in from the receiver's first real arrival (never before it) to the room's energy peak and
is kept as an envelope with knots (linear in dB between them). ``tail="parametric"`` is the older
statistical model (rooms coupled through doors, Fitzroy's T60; ray statistics without rooms),
and ``"raytraced"`` pyroomacoustics' ray tracer (slow, a reference).

Everything derived from the scene is read from and kept in its ``SceneAcoustics``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..scenes import Scene

from .binaural import DirectionalRIR
from .config import AudioConfig
from .decay import DECAY_60DB, t30
from .diffraction import door_arrivals
from .geometry import N_BANDS, build_pra_room, coupled_decay, ray_stats, room_of, room_stats
from .paths import early_arrivals, mesh_early_arrivals, mesh_image_order
from .raytrace import cell_of, energy_field, knot_times, trace_origin
from .scene_acoustics import SceneAcoustics
from .heads import load_head

TRACE_SECONDS = 0.8  # s of ray tracing at most; the envelope goes on past it with the late decay


def assemble_rirs(acoustics: SceneAcoustics, src: np.ndarray, rec: np.ndarray, config: AudioConfig,
                  direct: bool = True) -> list[DirectionalRIR]:
    """RIRs from ``src`` (3,) to each of ``rec`` (M, 3) (float64 metres, already checked) in the
    scene of ``acoustics``: one image-source pass, door paths, and one tail model for all."""
    scene = acoustics.scene
    c, fs = config.speed_of_sound, config.sample_rate
    if scene.rooms:
        arrivals = early_arrivals(acoustics, src, rec, config.ism_order, fs)
        traced_order = config.ism_order
    else:  # a mesh without room annotations reflects off its own planes
        arrivals = mesh_early_arrivals(acoustics, src, rec, config.ism_order)
        traced_order = mesh_image_order(acoustics, src, config.ism_order)
    if scene.rooms and scene.doors:
        arrivals = _with_door_paths(acoustics, src, rec, arrivals, config)
    field = cells = None
    if config.tail == "traced":
        field = energy_field(acoustics, trace_origin(acoustics, src), rays=config.rays,
                             seconds=min(config.rir_seconds, TRACE_SECONDS), ism_order=traced_order,
                             speed_of_sound=c, seed_text=config.config_hash)
        cells = cell_of(acoustics, rec)
    raytraced_rt60 = None
    if config.tail == "raytraced":
        room = build_pra_room(acoustics, fs, 0, config.include_furniture, ray_tracing=True, rays=config.rays)
        room.add_source(src)
        room.add_microphone_array(rec.T.copy())
        raytraced_rt60 = _raytraced_rt60(room, len(rec), c)

    results = []
    hrtf = load_head(config)
    for m, r in enumerate(rec):
        dist, amplitude, directions = arrivals[m]
        if not direct:
            keep = np.abs(dist - np.linalg.norm(r - src)) > 1e-6
            dist, amplitude, directions = dist[keep], amplitude[keep], directions[keep]
        spreading = np.maximum(dist, config.source_radius)  # near field: see AudioConfig.source_radius
        if field is not None:
            tail = _traced_tail(field, int(cells[m]), dist, scene, src, r, config)
        else:
            tail = _tail_parameters(acoustics, src, r, config, raytraced_rt60[m] if raytraced_rt60 is not None else None)
        results.append(DirectionalRIR(
            fs, config.rir_samples, dist / c, amplitude / spreading[:, None], directions, *tail,
            seed=_seed(scene, config, src, r), head_radius=config.head_radius, speed_of_sound=c,
            hrtf=hrtf))
    return results


def _seed(scene: Scene, config: AudioConfig, src, rec) -> int:
    key = f"{scene.content_hash}|{config.config_hash}|{np.round(src, 4).tolist()}|{np.round(rec, 4).tolist()}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def _tail_parameters(acoustics: SceneAcoustics, src, rec, config: AudioConfig, rt60_override=None):
    """(levels (J, 6), rt60 (J, 6), onset s, full s) of the late tail at ``rec``: energy per
    sample (c / fs) · w(t) with w the diffuse energy density of ``geometry.coupled_decay`` (rooms
    coupled through doors) or, without rooms, of one space measured by rays around ``rec``."""
    scene = acoustics.scene
    c, fs = config.speed_of_sound, config.sample_rate
    if scene.rooms:
        stats = room_stats(acoustics, c)
        r_room, s_room = room_of(scene, rec), room_of(scene, src)
        cache = acoustics.coupled_decays
        key = (s_room, r_room, c)
        if key not in cache:  # one eigenproblem per room pair and scene, not per receiver
            cache[key] = coupled_decay(scene, stats, s_room, r_room, c)
        weights, rt60 = cache[key]
        path_length = door_path_length(scene, s_room, r_room, src, rec)
        space = stats[r_room]
    else:
        space = ray_stats(scene, rec, c)
        path_length = float(np.linalg.norm(rec - src))
        weights, rt60 = (4 * np.pi / space.volume) * np.ones((1, N_BANDS)), space.rt60[None]
    levels = c / fs * weights
    if rt60_override is not None:
        # pyroomacoustics' decay: one slope from the coupled rooms' peak level (in another room
        # the energy starts at zero and peaks once it has flowed through the doors)
        t = np.arange(0, 1.0, 1e-3)
        env = np.einsum("jb,jbt->bt", levels, np.exp(-DECAY_60DB * t[None, None] / np.asarray(rt60)[..., None]))
        levels, rt60 = env.max(axis=1)[None], np.asarray(rt60_override, dtype=np.float64)[None]
    onset = path_length / c
    full = onset + max(config.ism_order * space.mean_free_path / c, 0.005)
    rt60 = np.asarray(rt60, dtype=np.float64)
    times = knot_times(config.rir_seconds)
    knots = np.einsum("jb,jbt->tb", levels, np.exp(-DECAY_60DB * times[None, None] / rt60[..., None]))
    # past the last knot the slowest decay with any weight goes on
    final = np.where(levels > 0, rt60, 0.0).max(axis=0)
    return times, knots, np.maximum(final, 1e-3), onset, full


def _with_door_paths(acoustics: SceneAcoustics, src: np.ndarray, rec: np.ndarray, arrivals: list, config: AudioConfig) -> list:
    """Receivers outside the source's room: the paths through the doors (``acoustics.diffraction``)
    join the image-source paths, and replace their plain direct path (a lit path through an
    opening is the same arrival, with the edge's loss where it passes close to one)."""
    rooms = cell_of(acoustics, rec)
    s_room = int(cell_of(acoustics, src[None])[0])
    doors = door_arrivals(acoustics, src, rec, s_room, rooms, config.ism_order, config.speed_of_sound)
    out = []
    for m, (dist, gains, dirs) in enumerate(arrivals):
        if doors[m] is None:
            out.append((dist, gains, dirs))
            continue
        keep = np.abs(dist - np.linalg.norm(rec[m] - src)) > 1e-6  # drop the direct path
        d2, g2, v2 = doors[m]
        out.append((np.r_[dist[keep], d2], np.r_[gains[keep], g2], np.r_[dirs[keep], v2]))
    return out


def _traced_tail(field, cell: int, path_lengths: np.ndarray, scene: Scene, src, rec, config: AudioConfig):
    """(levels (J, 6), rt60 (J, 6), onset s, full s) of the ray-traced tail of the receiver's
    cell: it starts at the receiver's first real arrival (the shortest early path, else the
    shortest walk through the doors) and reaches the cell's traced level at the histogram's peak."""
    c, fs = config.speed_of_sound, config.sample_rate
    if len(path_lengths):
        first = float(path_lengths.min())
    elif scene.rooms:
        first = door_path_length(scene, room_of(scene, src), room_of(scene, rec), src, rec)
    else:
        first = float(np.linalg.norm(np.asarray(rec) - np.asarray(src)))
    onset = first / c
    full = max(float(field.start[cell]), onset + 0.002)
    key = ("tail", cell, c, fs)
    if key not in field.tails:  # shared by every receiver of the cell
        field.tails[key] = _cell_tail(field, cell, c, fs)
    return (*field.tails[key], onset, full)


def _cell_tail(field, cell: int, c: float, fs: int):
    """(knot times (J,), energy per sample (J, 6), late T60 (6,)) of one cell of a traced field."""
    times, levels, rt60 = field.times, field.levels[cell], field.rt60[cell]
    use = ~np.isnan(levels).all(axis=1)
    if not use.any():  # no energy reached this cell
        return times[:1], np.zeros((1, N_BANDS)), np.full(N_BANDS, 0.1)
    times, levels = times[use], c / fs * levels[use]
    # a band's knots past its reliable part continue with its late decay
    for b in range(N_BANDS):
        bad = np.isnan(levels[:, b])
        if bad.any():
            good = np.flatnonzero(~bad)
            last = good[-1] if len(good) else 0
            base = levels[last, b] if len(good) else 0.0
            after = np.arange(len(times)) > last
            levels[after, b] = base * np.exp(-DECAY_60DB * (times[after] - times[last]) / max(rt60[b], 1e-3))
            levels[np.isnan(levels[:, b]), b] = base
    return times, levels, np.where(np.isfinite(rt60), rt60, 0.1)


def door_path_length(scene: Scene, s_room: int, r_room: int, src, rec) -> float:
    """Length (m) of the shortest walk from ``src`` to ``rec`` through door centres, straight
    within each room (Dijkstra over the doors; the straight line when no doors join the rooms)."""
    src, rec = np.asarray(src, dtype=np.float64), np.asarray(rec, dtype=np.float64)
    if s_room == r_room:
        return float(np.linalg.norm(rec - src))
    import heapq

    centres = [np.asarray(d.center[:2], dtype=np.float64) for d in scene.doors]
    arrived = -1  # the "room" of a heap item that has reached the receiver
    # heap items are (distance, door index, room entered): all comparable scalars
    heap = [(float(np.linalg.norm(centres[k] - src[:2])), k, d.rooms[1] if d.rooms[0] == s_room else d.rooms[0])
            for k, d in enumerate(scene.doors) if s_room in d.rooms]
    heapq.heapify(heap)
    settled: set[tuple[int, int]] = set()
    while heap:
        dist, k, room = heapq.heappop(heap)
        if room == arrived:
            return dist
        if (k, room) in settled:
            continue
        settled.add((k, room))
        if room == r_room:  # the last leg, straight to the receiver, competes with longer door paths
            heapq.heappush(heap, (dist + float(np.linalg.norm(rec[:2] - centres[k])), k, arrived))
            continue
        for j, door in enumerate(scene.doors):
            if room in door.rooms and j != k:
                nxt = door.rooms[1] if door.rooms[0] == room else door.rooms[0]
                heapq.heappush(heap, (dist + float(np.linalg.norm(centres[j] - centres[k])), j, nxt))
    return float(np.linalg.norm(rec - src))  # rooms not joined by doors


def _raytraced_rt60(room, n_receivers: int, c: float) -> list[np.ndarray]:
    """Per receiver (6,) T60 fitted (T30) to pyroomacoustics' ray-traced energy histograms."""
    room.ray_tracing()
    bin_s = room.rt_args["hist_bin_size"]
    out = []
    for m in range(n_receivers):
        hist = np.asarray(room.rt_histograms[m][0][0], dtype=np.float64)[:N_BANDS]  # (bands, bins)
        out.append(np.array([t30(hist[b], bin_s) for b in range(N_BANDS)]))
    return out


# the names tests and older code import
_door_path_length = door_path_length
_room_of = room_of

__all__ = ["TRACE_SECONDS", "assemble_rirs", "door_path_length"]

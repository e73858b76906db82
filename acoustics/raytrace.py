"""Stochastic acoustic ray tracing over the scene mesh (Embree): the late reverberation of one
source at every receiver at once.

Rays leave the source in Fibonacci-sphere directions, each carrying energy 4π / N per octave band
(so that, spread over a sphere, an arrival of amplitude 1/d carries 1/d² per m²). At every hit a
ray loses the fraction α_b of the surface's energy per band and leaves in the specular direction
pulled towards a random Lambertian (cosine-weighted) one by the surface's scattering coefficient
s (pyroomacoustics' model). Rays stop when every band is 60 dB down or the traced time is up;
rays that leave an open mesh are lost, and rays still bouncing after 1.5× the reflections of a
typical ray (caught in a nook) stop too.

Instead of detecting rays at each receiver (pyroomacoustics' way: cost grows with receivers),
the energy in flight is binned by space *cell* and time: the energy density of cell k at time t is

    w_k(t) = (energy of the rays inside cell k at time t) / V_k,

which is what a receiver anywhere in a diffuse cell hears, as h_b²[n] = (c / fs) · w_k(t).
Cells are the rooms of annotated scenes and 2 m floor-plan columns otherwise. Cell volumes come
from the rooms' floor areas or, for meshes, from where rays spend their time (ergodicity: the
fraction of all ray time in a cell is its fraction of the volume; the total volume is
mean free path × hit surface / 4).

As in pyroomacoustics' hybrid model, the image sources render the specular share of the first
``ism_order`` reflections (in the source's room; everywhere in a mesh), so there a ray deposits
only the share of its energy that has been scattered, 1 − Π(1 − s); from ``ism_order``
reflections on, all of it.

A histogram bin is trusted while the energy in flight is at least 10× what the stopped rays could
still carry. Each cell's histogram is kept per band as an envelope sampled at knots (the mean
around every 8 ms to 0.1 s, 20 ms to 0.3 s, then 50 ms) from its peak on, continued past the last
trusted knot by the T60 of a line fitted to the later half of the decay (a hard room's traced
second may hold only 15 dB of it). It captures double slopes (coupled rooms) and an early decay
that differs from the late one, and it is what ``DirectionalRIR`` renders.

Measured against pyroomacoustics' hybrid ray tracer (30,000 rays) on the same geometry, T30 and
EDT at 500 Hz–1 kHz agree within 20% in tiled, carpeted and absorbing rooms, an L-shaped mesh and
the coupled rooms of test apartments (``scripts/validate_acoustics.py``,
``docs/acoustics-validation.md``); 2,000 rays trace a room of a furnished apartment in ~75 ms on
one core (Embree's casts ~43 ms of it; the bounce itself is compiled, ``_advance``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numba
import numpy as np

from ..scenes import Scene
from .geometry import N_BANDS, fibonacci_sphere, room_stats
from .scene_acoustics import SceneAcoustics, scene_acoustics

BIN_S = 0.004  # s, histogram resolution (pyroomacoustics' default too)
GRID_CELL = 2.0  # m, floor-plan cells of scenes without rooms
_STOP_DB = 60.0
_OFFSET = 1e-4  # m, a reflected ray starts this far off the surface
_BOUNCE_MARGIN = 1.5  # rays stop after this many times the bounces a ray of mean free path needs


@dataclass
class EnergyField:
    """Energy density per cell, band and time bin after an impulse at one source.

    Attributes:
        density: (K, 6, T) float64 w in the cell's volume (4π / V when all rays are in it).
        bin_s: seconds per bin.
        valid_bins: (K, 6) how many leading bins are reliable (rays still above the stop level).
        times: (J,) knot times, seconds.
        levels: (K, J, 6) w averaged around each knot from the cell's peak on (NaN elsewhere).
        rt60: (K, 6) seconds, the decay that continues each cell's envelope past its last knot.
        start: (K,) seconds, the cell's peak.
        volume: (K,) m³.
    """

    density: np.ndarray
    bin_s: float
    valid_bins: np.ndarray
    times: np.ndarray
    levels: np.ndarray
    rt60: np.ndarray
    start: np.ndarray
    volume: np.ndarray
    source_cell: int
    tails: dict = field(default_factory=dict, repr=False, compare=False)  # per-cell envelopes, built on use


def cell_of(scene: Scene | SceneAcoustics, points: np.ndarray) -> np.ndarray:
    """(M,) cell index of each point: its room (the nearest room when in none) for scenes with
    rooms, else its 2 m floor-plan column. Read from a 5 cm raster of the floor plan."""
    p = np.atleast_2d(np.asarray(points, dtype=np.float64))
    origin, raster = _cell_raster(scene)
    ij = np.floor((p[:, :2] - origin) / _RASTER).astype(np.int64)
    np.clip(ij[:, 0], 0, raster.shape[0] - 1, out=ij[:, 0])
    np.clip(ij[:, 1], 0, raster.shape[1] - 1, out=ij[:, 1])
    return raster[ij[:, 0], ij[:, 1]]


_RASTER = 0.05  # m


def _cell_raster(scene: Scene | SceneAcoustics) -> tuple[np.ndarray, np.ndarray]:
    acoustics = scene_acoustics(scene)
    if acoustics.cell_raster is None:
        scene = acoustics.scene
        origin = scene.bounds[0, :2] - 0.5
        shape = np.ceil((scene.bounds[1, :2] + 0.5 - origin) / _RASTER).astype(np.int64) + 1
        x = origin[0] + (np.arange(shape[0]) + 0.5) * _RASTER
        y = origin[1] + (np.arange(shape[1]) + 0.5) * _RASTER
        gx, gy = np.meshgrid(x, y, indexing="ij")
        if scene.rooms:
            b = np.array([r.bounds for r in scene.rooms])
            raster = np.full(gx.shape, -1, np.int64)
            for i in range(len(b) - 1, -1, -1):  # the first room listed wins on shared edges
                inside = (gx >= b[i, 0]) & (gx <= b[i, 2]) & (gy >= b[i, 1]) & (gy <= b[i, 3])
                raster[inside] = i
            if (raster < 0).any():
                centres = np.c_[(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2]
                out = raster < 0
                d = (gx[out][:, None] - centres[None, :, 0]) ** 2 + (gy[out][:, None] - centres[None, :, 1]) ** 2
                raster[out] = np.argmin(d, axis=1)
        else:
            nx, ny = _grid_shape(scene)
            i = np.clip(np.floor((gx - scene.bounds[0, 0]) / GRID_CELL).astype(np.int64), 0, nx - 1)
            j = np.clip(np.floor((gy - scene.bounds[0, 1]) / GRID_CELL).astype(np.int64), 0, ny - 1)
            raster = i * ny + j
        acoustics.cell_raster = (origin, raster)
    return acoustics.cell_raster


def _grid_shape(scene: Scene) -> tuple[int, int]:
    size = scene.bounds[1, :2] - scene.bounds[0, :2]
    return int(max(1, np.ceil(size[0] / GRID_CELL))), int(max(1, np.ceil(size[1] / GRID_CELL)))


def _n_cells(scene: Scene) -> int:
    if scene.rooms:
        return len(scene.rooms)
    nx, ny = _grid_shape(scene)
    return nx * ny


def trace_origin(scene: Scene | SceneAcoustics, source) -> np.ndarray:
    """The point the tail of ``source`` (3,) is traced from: a fixed free point of the source's
    cell (its room, or its 2 m column), at the source's height: the point of the cell nearest its
    centre on a 0.25 m lattice, or the source itself when none is free.

    The late field hardly depends on where in a room the source stands (statistical room
    acoustics ignores it altogether), while tracing costs ~0.2 s: one trace per room then serves
    every source in it, so an episode's new source costs nothing once its room has been traced."""
    acoustics = scene_acoustics(scene)
    scene = acoustics.scene
    src = np.asarray(source, dtype=np.float64).reshape(3)
    cell = int(cell_of(acoustics, src[None])[0])
    cache = acoustics.trace_origins
    key = (cell, round(float(src[2]), 3))
    if key not in cache:
        if scene.rooms:
            x0, y0, x1, y1 = scene.rooms[cell].bounds
        else:
            nx, ny = _grid_shape(scene)
            x0, y0 = scene.bounds[0, :2] + GRID_CELL * np.array([cell // ny, cell % ny])
            x1, y1 = x0 + GRID_CELL, y0 + GRID_CELL
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        steps = np.arange(-40, 41) * 0.25
        gx, gy = np.meshgrid(centre[0] + steps, centre[1] + steps, indexing="ij")
        cand = np.c_[gx.ravel(), gy.ravel()]
        inside = (cand[:, 0] > x0 + 0.2) & (cand[:, 0] < x1 - 0.2) & (cand[:, 1] > y0 + 0.2) & (cand[:, 1] < y1 - 0.2)
        cand = cand[inside]
        cand = cand[np.argsort(np.linalg.norm(cand - centre, axis=1), kind="stable")]
        points = np.c_[cand, np.full(len(cand), src[2])]
        found = None
        for start in range(0, len(points), 64):
            chunk = points[start:start + 64]
            ok = [p is None for p in scene.free_space_problems(chunk)]
            ok &= cell_of(acoustics, chunk) == cell
            if ok.any():
                found = chunk[int(np.argmax(ok))]
                break
        cache[key] = found
    return src if cache[key] is None else cache[key]


def energy_field(scene: Scene | SceneAcoustics, source, *, rays: int, seconds: float, ism_order: int, speed_of_sound: float,
                 seed_text: str = "") -> EnergyField:
    """The traced energy field of ``source`` (3,), kept in the scene's SceneAcoustics for recent
    sources, and on disk in its ``tail_store`` when it has one (``acoustics.tail_store``: traced
    once per scene, origin and settings for every process and run sharing the folder)."""
    acoustics = scene_acoustics(scene)
    scene = acoustics.scene
    src = np.asarray(source, dtype=np.float64).reshape(3)
    fields = acoustics.energy_fields
    # the seed text is part of the key: a field traced with another seed (another config) is
    # another field, so what a process holds never depends on what it computed before
    key = (np.round(src, 6).tobytes(), int(rays), float(seconds), int(ism_order), float(speed_of_sound), seed_text)
    if key not in fields:
        store = acoustics.tail_store
        disk_key = None if store is None else store.key(scene.content_hash, src, rays, seconds, ism_order,
                                                        speed_of_sound, seed_text)
        found = None if store is None else store.load(disk_key, EnergyField)
        if found is None:
            digest = hashlib.sha256(f"{scene.content_hash}|{np.round(src, 6).tolist()}|{seed_text}".encode()).digest()
            found = _trace(acoustics, src, rays, seconds, ism_order, speed_of_sound,
                           np.random.default_rng(int.from_bytes(digest[:8], "little")))
            if store is not None:
                store.save(disk_key, found)
        fields[key] = found
    return fields[key]


def _face_frames(acoustics: SceneAcoustics):
    """Per face: energy kept per hit (F, 6), scattering (F,), and an orthonormal frame
    (tangent, bitangent, normal), each (F, 3) float32; kept in the SceneAcoustics."""
    if acoustics.ray_frames is None:
        scene = acoustics.scene
        absorption = np.array([m.absorption for m in scene.materials])[scene.face_materials]
        reflect = (1.0 - np.clip(absorption, 0.0, 1.0)).astype(np.float32)
        scattering = np.array([m.scattering for m in scene.materials], np.float32)[scene.face_materials]
        n = np.asarray(scene.face_normals, dtype=np.float64)
        helper = np.where(np.abs(n[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
        t = np.cross(n, helper)
        t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
        b = np.cross(n, t)
        acoustics.ray_frames = (reflect, scattering, t.astype(np.float32), b.astype(np.float32), n.astype(np.float32))
    return acoustics.ray_frames


def _trace(acoustics: SceneAcoustics, src: np.ndarray, n_rays: int, seconds: float, ism_order: int, c: float,
           rng: np.random.Generator) -> EnergyField:
    scene = acoustics.scene
    caster = scene.ray_caster
    reflect, scattering, tangents, bitangents, normals = _face_frames(acoustics)
    areas = np.asarray(scene.mesh.area_faces, dtype=np.float64)
    n_cells = _n_cells(scene)
    n_bins = int(np.ceil(seconds / BIN_S)) + 1
    source_cell = int(cell_of(acoustics, src[None])[0])
    exclude_everywhere = not scene.rooms  # the mesh image sources cover every cell

    pos = np.tile(src, (n_rays, 1)).astype(np.float32)
    direction = fibonacci_sphere(n_rays).astype(np.float32)
    energy = np.full((n_rays, N_BANDS), 4 * np.pi / n_rays, np.float32)
    travelled = np.zeros(n_rays)
    scattered = np.zeros(n_rays, np.float32)  # share of each ray's energy scattered so far
    stop = float(energy[0].max()) * 10 ** (-_STOP_DB / 10)
    max_dist = seconds * c
    origin, raster = _cell_raster(acoustics)
    raster = np.ascontiguousarray(raster, dtype=np.int32)

    hist = np.zeros((n_cells * n_bins, N_BANDS))  # (cell x bin, band): a piece's six bands side by side
    time_in_cell = np.zeros(n_cells)  # ray-seconds, for the ergodic volume estimate
    hit_faces = np.zeros(len(normals), bool)
    faded_at = np.empty(n_rays)
    total_length, total_hits, bounce, max_bounces = 0.0, 0, 0, 10**9
    dropped_at, dropped_energy = [], []  # when rays stopped, and (at most) what they still carried
    n = n_rays  # the rays still in flight: the first n rows of every array
    while n:
        if bounce == 10:
            max_bounces = int(_BOUNCE_MARGIN * max_dist * total_hits / max(total_length, 1e-9)) + 20
        if bounce >= max_bounces:
            # the last few rays (caught in a nook under furniture, bouncing every few cm) would
            # cost as many iterations as all the others: after 1.5x the bounces of a typical ray
            # they stop, and count as missing energy in the reliability test below
            dropped_at.append(travelled[:n] / c)
            dropped_energy.append(energy[:n].astype(np.float64))
            break
        t, face = caster.intersect(pos[:n], direction[:n])
        n, faded, length, hits = _advance(
            pos, direction, energy, travelled, scattered, t, face, _lambertian(rng, n), reflect, scattering, tangents, bitangents,
            normals, hist, time_in_cell, hit_faces, faded_at, origin, raster, c * BIN_S, c, max_dist, stop,
            bounce < ism_order, exclude_everywhere, source_cell)
        total_length += length
        total_hits += hits
        if faded:
            dropped_at.append(faded_at[:faded].copy())
            dropped_energy.append(np.full((faded, N_BANDS), stop))  # at most this each
        bounce += 1
    hist = np.ascontiguousarray(hist.reshape(n_cells, n_bins, N_BANDS).transpose(0, 2, 1))

    if scene.rooms:
        volume = np.array([st.volume for st in room_stats(acoustics, c)])
    else:
        mfp = total_length / max(total_hits, 1)
        total_volume = mfp * float(areas[hit_faces].sum()) / 4.0
        share = time_in_cell / max(time_in_cell.sum(), 1e-30)
        volume = np.maximum(share * total_volume, 1e-6)
    density = hist / (volume[:, None, None] * BIN_S)
    valid = _reliable_bins(hist, dropped_at, dropped_energy, seconds)
    times, levels, final, start = _knots(density, valid, seconds)
    return EnergyField(density, BIN_S, valid, times, levels, final, start, volume, source_cell)


def _lambertian(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) float32 cosine-weighted directions in a face's (tangent, bitangent, normal) frame
    (Malley's method: a uniform point of the unit disk lifted to the hemisphere)."""
    u = rng.random((n, 2), dtype=np.float32)
    r, phi = np.sqrt(u[:, 0]), np.float32(2 * np.pi) * u[:, 1]
    out = np.empty((n, 3), np.float32)
    np.multiply(r, np.cos(phi), out=out[:, 0])
    np.multiply(r, np.sin(phi), out=out[:, 1])
    np.sqrt(np.maximum(np.float32(1) - u[:, 0], np.float32(0)), out=out[:, 2])
    return out


@numba.njit(cache=True, nogil=True)
def _advance(pos, direction, energy, travelled, scattered, t_hit, face, lambert, reflect, scattering, tangents,
             bitangents, normals, hist, time_in_cell, hit_faces, dropped, origin, raster, piece, c, max_dist,
             stop, scattered_only, everywhere, source_cell):  # pragma: no cover (compiled)
    """One bounce of every ray in flight, compiled: each ray's next segment (to its hit ``t_hit``,
    ``face``) deposited into ``hist`` (cell × bin, band) piece by piece (no piece longer than one
    bin; with ``everywhere`` its time into ``time_in_cell``), the ray moved to the hit and
    reflected (the specular direction pulled towards the Lambertian one ``lambert`` (R, 3): its
    components along the face's tangent, bitangent and normal, by the face's scattering), its
    energy reduced by the face's reflection. With ``scattered_only`` (before ``ism_order`` reflections, where the image sources are
    rendered) only the scattered share of a ray's energy belongs to the tail: in the source's
    cell, or ``everywhere``.

    Rays that escaped (``face`` < 0) are dropped; rays whose every band fell under ``stop`` have
    their time written to ``dropped``; rays past ``max_dist`` end. The rays still in flight are
    compacted to the front of the arrays, in order. Returns (rays in flight, rays faded, metres
    travelled, hits)."""
    n_bins = hist.shape[0] // len(time_in_cell)
    nx, ny = raster.shape
    n_bands = energy.shape[1]
    kept, faded, length, hits = 0, 0, 0.0, 0
    for i in range(len(face)):
        f = face[i]
        if f < 0:  # escaped (open mesh): the energy leaves the scene
            continue
        t = min(np.float64(t_hit[i]), max(max_dist - travelled[i], 0.0))
        k = max(int(np.ceil(t / piece)), 1)
        dwell = t / k / c
        for j in range(k):
            along = (j + 0.5) / k * t
            a32 = np.float32(along)
            x = np.float64(pos[i, 0] + direction[i, 0] * a32)
            y = np.float64(pos[i, 1] + direction[i, 1] * a32)
            # (a truncation: below the raster's origin it gives 0 or less, clipped to 0 as a floor is)
            ci = min(max(int((x - origin[0]) / _RASTER), 0), nx - 1)
            cj = min(max(int((y - origin[1]) / _RASTER), 0), ny - 1)
            cell = raster[ci, cj]
            if everywhere:
                time_in_cell[cell] += dwell
            share = dwell
            if scattered_only and (everywhere or cell == source_cell):
                share = dwell * scattered[i]
            b = min(int((travelled[i] + along) / c / BIN_S), n_bins - 1)
            at = cell * n_bins + b
            for band in range(n_bands):
                hist[at, band] += energy[i, band] * share
        length += t
        hits += 1
        if everywhere:
            hit_faces[f] = True
        travelled[i] += t
        t32 = np.float32(t)
        # the normal on the side the ray came from, the specular direction, then the pull of a
        # cosine-weighted (Lambertian) direction by the face's scattering s
        n0, n1, n2 = normals[f, 0], normals[f, 1], normals[f, 2]
        d0, d1, d2 = direction[i, 0], direction[i, 1], direction[i, 2]
        if d0 * n0 + d1 * n1 + d2 * n2 > 0:
            n0, n1, n2 = -n0, -n1, -n2
        dn = np.float32(2) * (d0 * n0 + d1 * n1 + d2 * n2)
        d0, d1, d2 = d0 - dn * n0, d1 - dn * n1, d2 - dn * n2
        rc, rs, up = lambert[i, 0], lambert[i, 1], lambert[i, 2]
        s = scattering[f]
        d0 += s * (tangents[f, 0] * rc + bitangents[f, 0] * rs + n0 * up - d0)
        d1 += s * (tangents[f, 1] * rc + bitangents[f, 1] * rs + n1 * up - d1)
        d2 += s * (tangents[f, 2] * rc + bitangents[f, 2] * rs + n2 * up - d2)
        norm = max(np.sqrt(d0 * d0 + d1 * d1 + d2 * d2), np.float32(1e-12))
        off = np.float32(_OFFSET)
        pos[kept, 0] = pos[i, 0] + direction[i, 0] * t32 + n0 * off
        pos[kept, 1] = pos[i, 1] + direction[i, 1] * t32 + n1 * off
        pos[kept, 2] = pos[i, 2] + direction[i, 2] * t32 + n2 * off
        direction[kept, 0], direction[kept, 1], direction[kept, 2] = d0 / norm, d1 / norm, d2 / norm
        scattered[kept] = np.float32(1) - (np.float32(1) - scattered[i]) * (np.float32(1) - s)
        top = np.float32(0)
        for band in range(n_bands):
            e = energy[i, band] * reflect[f, band]
            energy[kept, band] = e
            top = max(top, e)
        travelled[kept] = travelled[i]
        if top < stop:
            dropped[faded] = travelled[i] / c
            faded += 1
        elif travelled[i] < max_dist - 1e-9:
            kept += 1
    return kept, faded, length, hits


def _reliable_bins(hist: np.ndarray, dropped_at: list, dropped_energy: list, seconds: float) -> np.ndarray:
    """(K, 6) leading bins of each cell's histogram ``hist`` (K, 6, T) that are reliable, from when
    rays stopped (``dropped_at``, seconds) and the energy they could still carry."""
    n_cells, _, n_bins = hist.shape
    # a bin is reliable while the energy in flight dwarfs what the dropped rays (each under
    # `stop`) would still carry: then the histograms miss under 10%
    missing = np.zeros((N_BANDS, n_bins))
    if dropped_at:
        when = np.minimum((np.concatenate(dropped_at) / BIN_S).astype(np.int64), n_bins - 1)
        lost = np.concatenate(dropped_energy)
        missing = np.cumsum(np.stack([np.bincount(when, lost[:, b], minlength=n_bins) for b in range(N_BANDS)]), axis=1)
    in_flight = hist.sum(axis=0) / BIN_S  # (6, T) energy of the counted rays
    short = in_flight < 10 * missing
    short[:, 0] = False
    last = np.where(short.any(axis=1), np.argmax(short, axis=1), n_bins - 1)
    return np.tile(np.minimum(last, int(np.floor(seconds / BIN_S))), (n_cells, 1))


def knot_times(seconds: float) -> np.ndarray:
    """(J,) times at which a tail envelope is kept: every 8 ms to 0.1 s, every 20 ms to 0.3 s,
    then every 50 ms (decays change shape early and are smooth late)."""
    t = np.r_[np.arange(0.0, 0.1, 0.008), np.arange(0.1, 0.3, 0.02), np.arange(0.3, max(seconds, 0.3) + 1e-9, 0.05)]
    return t[t <= seconds + 1e-9]


def _late_rt60(hist: np.ndarray) -> float:
    """T60 (s) of the later half of a decaying histogram: a line fitted to its level in dB over
    20 ms windows (the Schroeder T30 needs 35 dB of decay, which a hard room's traced second lacks)."""
    pool = int(round(0.02 / BIN_S))
    m = (len(hist) // pool) * pool
    if m < 4 * pool:
        return float("nan")
    y = hist[:m].reshape(-1, pool).mean(axis=1)
    t = (np.arange(len(y)) + 0.5) * pool * BIN_S
    half = slice(len(y) // 2, None)
    ok = y[half] > 0
    if ok.sum() < 2:
        return float("nan")
    x, level = t[half][ok], 10 * np.log10(y[half][ok])
    x = x - x.mean()
    slope = float(x @ (level - level.mean()) / (x @ x))  # the least-squares line's slope
    return float(-60.0 / slope) if slope < 0 else float("nan")


def _knots(density: np.ndarray, valid: np.ndarray, seconds: float):
    """Per cell: the histogram averaged around each knot time from the cell's peak on (levels
    (K, J, 6), NaN after the reliable part), and the T60 (K, 6) of the decay's last 30 dB (its
    Schroeder T30 over the reliable part), which continues it beyond."""
    n_cells, n_bands, n_bins = density.shape
    times = knot_times(seconds)
    levels = np.full((n_cells, len(times), n_bands), np.nan)
    final = np.full((n_cells, n_bands), np.nan)
    start = np.zeros(n_cells)
    edges = np.r_[times[0], (times[1:] + times[:-1]) / 2, times[-1] + 0.025]
    padded = np.zeros((n_bands, n_bins + 1))
    for k in range(n_cells):
        total = density[k].sum(axis=0)
        if total.max() <= 0:
            continue
        # the peak of the 20 ms running mean, so one lucky bin does not set it
        smooth = np.convolve(total, np.ones(5) / 5, mode="same")
        start[k] = int(np.argmax(smooth)) * BIN_S
        # each knot's mean over its bins [i0, i1) from the running sums (every band at once)
        lo = np.maximum(edges[:-1], start[k])
        i0, i1 = (lo / BIN_S).astype(np.int64), np.ceil(edges[1:] / BIN_S).astype(np.int64)
        np.cumsum(density[k], axis=1, out=padded[:, 1:])
        i0c, i1c = np.minimum(i0, n_bins), np.minimum(i1, n_bins)
        means = (padded[:, i1c] - padded[:, i0c]) / np.maximum(i1 - i0, 1)  # (6, J)
        ok = (times >= start[k] - 1e-9)[None] & (i1 > i0)[None] & (i1[None] <= valid[k][:, None])
        levels[k] = np.where(ok, means, np.nan).T
        for b in range(n_bands):
            final[k, b] = _late_rt60(density[k, b, int(start[k] / BIN_S):int(valid[k, b])])
    return times, levels, final, start



"""Sound through doorways: arrivals in rooms other than the source's, bent at the door's edges.

Each door is an opening in a wall. A path from the source enters the receiver's room through it at
one point P of the opening (the point nearest the straight line, so P is where the straight line
crosses the opening when it does); from P it reaches the receiver directly or after reflections
off the receiver room's walls (image sources of P in that room, validated against the mesh like
every early path, ``paths.trace_image_paths``). Rooms further away are reached through chains of
doors (Dijkstra over the doors, bending at each door's centre).

Bending loss per octave band: the knife-edge diffraction approximation of ITU-R P.526 (Lee's
fit to the Fresnel integral),

    J(ν) = 6.9 + 20 log10( sqrt((ν − 0.1)² + 1) + ν − 0.1 ) dB  for ν > −0.78, else 0,

with ν = ±2 sqrt(δ / λ), δ the detour of the path over the straight line (via the nearest edge
when the straight line passes the opening: ν < 0, the lit side) and λ the band's wavelength. It
is continuous across the shadow boundary (6 dB on it), tends to no loss in the lit region and to
Maekawa's 13 + 10 log10(2·(2δ/λ)) dB deep in the shadow, so the level behind a door falls smoothly
with the bending angle and more steeply at high frequencies. Amplitudes then spread as 1 / (path
length), as for every early arrival.

Limits: each edge acts alone (a narrow opening's two jambs do not interfere), the door's other
edges only bound P, doors are open holes (no leaf), and diffraction around other edges (a
room's corner, furniture) is not modelled; furniture along a leg costs the usual obstruction loss.
"""

from __future__ import annotations

import heapq

import numpy as np

from ..scenes import Scene
from ..scenes.materials import OCTAVE_BANDS_HZ

from .geometry import N_BANDS
from .paths import _room_box, box_images, trace_image_paths
from .scene_acoustics import SceneAcoustics, scene_acoustics

_EDGE_MARGIN = 0.05  # m: P stays this far inside the opening's edges
_INSET = 0.01  # m: P sits this far inside the receiver room's wall face
DOOR_REFLECTION_ORDER = 2  # reflections in the receiver's room after the door


def knife_edge_db(nu: np.ndarray) -> np.ndarray:
    """ITU-R P.526 knife-edge loss J(ν) in dB (≥ 0) for the Fresnel–Kirchhoff parameter ν."""
    nu = np.asarray(nu, dtype=np.float64)
    x = nu - 0.1
    loss = 6.9 + 20 * np.log10(np.sqrt(x * x + 1) + x)
    return np.where(nu > -0.78, np.maximum(loss, 0.0), 0.0)


def edge_gain(detour: np.ndarray, lit: np.ndarray, speed_of_sound: float) -> np.ndarray:
    """(P, 6) amplitude gains for path detours ``detour`` (P,) m, ``lit`` (P,) bool."""
    lam = speed_of_sound / np.asarray(OCTAVE_BANDS_HZ, dtype=np.float64)
    nu = 2 * np.sqrt(np.maximum(detour, 0.0)[:, None] / lam[None])
    nu = np.where(np.asarray(lit)[:, None], -nu, nu)
    return 10 ** (-knife_edge_db(nu) / 20)


class _Opening:
    """A door's opening: normal axis n, along-wall axis o, extents, and the face of each room."""

    def __init__(self, acoustics: SceneAcoustics, index: int):
        scene = acoustics.scene
        d = scene.doors[index]
        self.index = index
        self.rooms = tuple(d.rooms)
        self.n = int(d.normal_axis)
        self.o = 1 - self.n
        self.plane = float(d.center[self.n])
        self.o_lo, self.o_hi = d.center[self.o] - d.width / 2, d.center[self.o] + d.width / 2
        self.z_lo = scene.floor_height
        self.z_hi = scene.floor_height + d.height
        self.center = np.asarray(d.center, np.float64)
        self.face = {}
        for room in self.rooms:
            lo, hi = _room_box(acoustics, room)
            centre = (lo + hi) / 2
            side = 1.0 if centre[self.n] > self.plane else -1.0
            self.face[room] = ((lo if side > 0 else hi)[self.n] + side * _INSET, side)

    def point(self, into: int, toward: np.ndarray, origin: np.ndarray) -> np.ndarray:
        """(M, 3) points P of the opening (inset into room ``into``) nearest the lines from
        ``origin`` (3,) or (M, 3) to ``toward`` (M, 3)."""
        toward = np.atleast_2d(toward)
        origin = np.broadcast_to(origin, toward.shape)
        span = toward[:, self.n] - origin[:, self.n]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(np.abs(span) > 1e-9, (self.plane - origin[:, self.n]) / span, 0.5)
        s = np.clip(s, 0.0, 1.0)
        x = origin + s[:, None] * (toward - origin)
        p = np.empty_like(x)
        p[:, self.o] = np.clip(x[:, self.o], self.o_lo + _EDGE_MARGIN, self.o_hi - _EDGE_MARGIN)
        p[:, 2] = np.clip(x[:, 2], self.z_lo + _EDGE_MARGIN, self.z_hi - _EDGE_MARGIN)
        p[:, self.n] = self.face[into][0]
        return p

    def crossing(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(inside (M,), edge points (M, 3)): whether the segments a→b cross the door plane within
        the opening, and the point of the opening's edge nearest to each crossing."""
        span = b[:, self.n] - a[:, self.n]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(np.abs(span) > 1e-9, (self.plane - a[:, self.n]) / span, np.nan)
        x = a + np.nan_to_num(s)[:, None] * (b - a)
        inside = (s >= 0) & (s <= 1) & (x[:, self.o] > self.o_lo) & (x[:, self.o] < self.o_hi) & \
                 (x[:, 2] > self.z_lo) & (x[:, 2] < self.z_hi)
        # nearest edge: a jamb (vertical) or the head (top)
        gaps = np.stack([x[:, self.o] - self.o_lo, self.o_hi - x[:, self.o], self.z_hi - x[:, 2]], axis=1)
        which = np.argmin(gaps, axis=1)
        edge = x.copy()
        edge[which == 0, self.o] = self.o_lo
        edge[which == 1, self.o] = self.o_hi
        edge[which == 2, 2] = self.z_hi
        return inside, edge


def _openings(acoustics: SceneAcoustics) -> list[_Opening]:
    if acoustics.openings is None:
        acoustics.openings = [_Opening(acoustics, k) for k in range(len(acoustics.scene.doors))]
    return acoustics.openings


def _detour(door: _Opening, q: np.ndarray, nxt: np.ndarray, via_p: np.ndarray):
    """(detour (M,), lit (M,), straight (M,)) of paths q → opening → nxt that are ``via_p`` long
    through their point of the opening: on the lit side (the straight line passes the opening)
    the detour over the nearest edge, else the path's own."""
    lit, edge = door.crossing(q, nxt)
    straight = np.linalg.norm(nxt - q, axis=1)
    via_edge = np.linalg.norm(edge - q, axis=1) + np.linalg.norm(nxt - edge, axis=1)
    return np.where(lit, via_edge - straight, via_p - straight), lit, straight


def door_chains(scene: Scene | SceneAcoustics, source: np.ndarray, s_room: int, c: float) -> dict[tuple[int, int], tuple]:
    """For each (door k, room e it leads into) reachable from the source room: (Q, L, G), the
    last point before door k (the source, or the previous door's point), the path length to Q and
    the (6,) gain of the bends before Q. Dijkstra on path length through door centres."""
    openings = _openings(scene_acoustics(scene))
    best: dict[tuple[int, int], tuple] = {}
    heap = []
    for k, door in enumerate(openings):
        if s_room in door.rooms:
            e = door.rooms[1] if door.rooms[0] == s_room else door.rooms[0]
            heap.append((float(np.linalg.norm(door.center - source)), k, e, 0))
    heapq.heapify(heap)
    states = {}
    for _, k, e, _ in heap:
        states[(k, e, 0)] = (np.asarray(source, np.float64), 0.0, np.ones(N_BANDS))
    counter = 1
    while heap:
        _, k, e, sid = heapq.heappop(heap)
        if (k, e) in best:
            continue
        q, length, gain = states.pop((k, e, sid))
        best[(k, e)] = (q, length, gain)
        door = openings[k]
        nexts = []  # (door j, the room it leads into) not settled yet
        for j, nxt in enumerate(openings):
            if j == k or e not in nxt.rooms:
                continue
            e2 = nxt.rooms[1] if nxt.rooms[0] == e else nxt.rooms[0]
            if (j, e2) in best or e2 == s_room:
                continue
            nexts.append((j, e2))
        if not nexts:
            continue
        # the bends towards every next door at once
        centres = np.array([openings[j].center for j, _ in nexts], np.float64)
        points = door.point(e, centres, q)
        to_p = np.linalg.norm(points - q, axis=1)
        from_p = np.linalg.norm(centres - points, axis=1)
        detour, lit, _ = _detour(door, np.broadcast_to(q, centres.shape), centres, to_p + from_p)
        bends = edge_gain(detour, lit, c)
        for i, (j, e2) in enumerate(nexts):
            new_length = length + float(to_p[i])
            states[(j, e2, counter)] = (points[i], new_length, gain * bends[i])
            heapq.heappush(heap, (new_length + float(from_p[i]), j, e2, counter))
            counter += 1
    return best


def door_arrivals(scene: Scene | SceneAcoustics, source: np.ndarray, receivers: np.ndarray, s_room: int, r_rooms: np.ndarray,
                  order: int, c: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """Per receiver (M, 3): None in the source's room, else (path lengths (K,), band amplitudes
    (K, 6) before spreading, unit arrival directions (K, 3)) of the paths through the doors
    into its room (lit paths through an opening included: they replace the plain direct path)."""
    acoustics = scene_acoustics(scene)
    scene = acoustics.scene
    out: list = [None] * len(receivers)
    if not scene.doors:
        return out
    source = np.asarray(source, np.float64)
    openings = _openings(acoustics)
    chains_of = acoustics.door_chains
    key = (source.tobytes(), int(s_room), float(c))
    if key not in chains_of:  # RIRs are often computed one receiver at a time for one source
        chains_of[key] = door_chains(acoustics, source, s_room, c)
    chains = chains_of[key]
    parts: dict[int, list] = {}
    for (k, room), (q, length_q, gain_q) in chains.items():
        idx = np.flatnonzero(r_rooms == room)
        if not len(idx):
            continue
        door = openings[k]
        rec = receivers[idx]
        p = door.point(room, rec, q)  # (M, 3), per receiver
        lo, hi = _room_box(acoustics, room)
        lo, hi = np.minimum(lo, p.min(axis=0) - 1e-3), np.maximum(hi, p.max(axis=0) + 1e-3)
        images, cells = box_images(p, lo, hi, min(order, DOOR_REFLECTION_ORDER))  # (I, M, 3)
        n_img, n_rec = images.shape[:2]
        img = images.reshape(-1, 3)
        cel = np.repeat(cells, n_rec, axis=0)
        src = np.tile(p, (n_img, 1))
        recs = np.tile(rec, (n_img, 1))
        valid, after, gains, direction, first = trace_image_paths(acoustics, src, img, cel, recs, lo, hi,
                                                                  min(order, DOOR_REFLECTION_ORDER))
        # the path before P, unfolded with the path after it: q → P → R_v
        out_dir = first - src
        out_dir /= np.maximum(np.linalg.norm(out_dir, axis=1, keepdims=True), 1e-12)
        r_v = src + out_dir * after[:, None]
        qq = np.broadcast_to(q, src.shape)
        before = np.linalg.norm(src - qq, axis=1)
        detour, lit, straight = _detour(door, qq, r_v, before + after)
        total = length_q + np.where(lit, straight, before + after)
        gains = gains * gain_q[None] * edge_gain(detour, lit, c)
        valid = valid.reshape(n_img, n_rec)
        total, gains, direction = total.reshape(n_img, n_rec), gains.reshape(n_img, n_rec, N_BANDS), direction.reshape(n_img, n_rec, 3)
        for col, m in enumerate(idx):
            v = valid[:, col]
            parts.setdefault(int(m), []).append((total[v, col], gains[v, col], direction[v, col]))
    for m in range(len(receivers)):
        if r_rooms[m] == s_room:
            continue
        got = parts.get(m, [])
        out[m] = (np.concatenate([g[0] for g in got]) if got else np.zeros(0),
                  np.concatenate([g[1] for g in got]) if got else np.zeros((0, N_BANDS)),
                  np.concatenate([g[2] for g in got]) if got else np.zeros((0, 3)))
    return out

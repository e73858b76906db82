"""Early specular arrivals: image sources of the source's room (pyroomacoustics ``ShoeBox``),
each path checked against the full scene mesh with Embree.

Why not pyroomacoustics' general polyhedral image-source model on the whole apartment: its cost
grows as (walls)^order × receivers × walls; measured on a 4-room apartment merged to 95 polygons,
order 3 to 182 receivers took 16 s on one core, against the 2 s budget for a new episode. The
rooms of a procedural apartment are boxes, so the image sources of the source's room are exact
for every path that reflects inside it; each candidate path is unfolded into its reflection
points, every reflection must land on a real surface (whose material then sets the per-band
reflection coefficient sqrt(1 − α)), and every leg must be free of walls. A leg blocked only by
furniture is kept with a diffraction loss. Paths therefore leave the room only through real
openings (doors), receivers behind walls get no early arrival, and open meshes (a floor and a
few boxes) keep only the reflections that exist (the floor's). Scenes without rooms use their
bounding box as the reflecting box.
"""

from __future__ import annotations

import numba
import numpy as np

from ..scenes import Scene
from ..scenes.rays import RayCaster

from .geometry import N_BANDS, acoustic_polygons, room_of
from .scene_acoustics import SceneAcoustics, scene_acoustics

# Loss of a leg that passes through furniture (thin-screen diffraction, ≈5 dB at 125 Hz to ≈20 dB at 4 kHz).
OBSTRUCTION_GAIN = np.array([0.56, 0.45, 0.32, 0.22, 0.15, 0.10])
_SURFACE_PROBE = 0.25  # m: reflection points are confirmed by a ray from this far inside the box
_SURFACE_TOLERANCE = 0.12  # m: how far the real surface may lie from the box plane


def structure_caster(scene: Scene | SceneAcoustics) -> RayCaster:
    """Ray caster over walls, floors and ceilings only (faces that belong to no object)."""
    acoustics = scene_acoustics(scene)
    if acoustics.structure is None:
        scene = acoustics.scene
        structural = scene.face_objects < 0
        acoustics.structure = RayCaster(scene.triangles[structural]) if structural.any() else scene.ray_caster
    return acoustics.structure


def reflecting_box(acoustics: SceneAcoustics, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) corners of the box whose image sources are used for ``source`` (it depends on
    the source only, so a receiver's RIR does not depend on which others share its batch)."""
    scene = acoustics.scene
    if scene.rooms:
        lo, hi = _room_box(acoustics, room_of(scene, source))
    else:
        lo, hi = scene.bounds[0].copy(), scene.bounds[1].copy()
    lo = np.minimum(lo, source - 0.01)
    hi = np.maximum(hi, source + 0.01)
    return lo, hi


def _room_box(scene: Scene | SceneAcoustics, room: int) -> tuple[np.ndarray, np.ndarray]:
    """Interior box of a room, measured with rays against the structure (walls have thickness)."""
    acoustics = scene_acoustics(scene)
    if room not in acoustics.room_boxes:
        scene = acoustics.scene
        x0, y0, x1, y1 = scene.rooms[room].bounds
        top = scene.bounds[1, 2]
        z = (scene.floor_height + top) / 2
        caster = structure_caster(acoustics)
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2, z])
        lo, hi = np.array([x0, y0, scene.floor_height]), np.array([x1, y1, top])
        offsets = np.linspace(-0.3, 0.3, 5)
        for axis in range(3):
            for sign in (-1.0, 1.0):
                direction = np.zeros(3)
                direction[axis] = sign
                if axis < 2:  # several rays side by side, so a door in the middle cannot fool us
                    o = 1 - axis
                    size = (x1 - x0, y1 - y0)[o]
                    origins = np.tile(centre, (len(offsets), 1))
                    origins[:, o] += offsets * size
                else:
                    origins = centre[None]
                t = caster.first_hit_distance(origins, np.tile(direction, (len(origins), 1)))
                t = float(np.min(t))
                if np.isfinite(t):
                    (hi if sign > 0 else lo)[axis] = centre[axis] + sign * t
        acoustics.room_boxes[room] = (lo, hi)
    return acoustics.room_boxes[room]


def _image_sources(acoustics: SceneAcoustics, source: np.ndarray, lo: np.ndarray, hi: np.ndarray, order: int):
    """(images (I, 3), signed image cells (I, 3)) of ``source`` in the box (lo, hi), from
    pyroomacoustics' ShoeBox; kept per scene for the most recent sources, as RIRs are computed
    one receiver at a time while an agent walks."""
    images_of = acoustics.image_sources
    key = (np.asarray(source, np.float64).tobytes(), lo.tobytes(), hi.tobytes(), int(order))
    if key not in images_of:
        import pyroomacoustics as pra

        size = hi - lo
        box = pra.ShoeBox(size, fs=16_000, max_order=order, air_absorption=False)  # fs unused by the images
        box.add_source(source - lo)
        box.add_microphone(size / 2)
        box.image_source_model()
        images_of[key] = (box.sources[0].images.T + lo, box.sources[0].orders_xyz.T.astype(np.int64))
    return images_of[key]


def early_arrivals(scene: Scene | SceneAcoustics, source: np.ndarray, receivers: np.ndarray, order: int, sample_rate: int):
    """Specular arrivals up to ``order`` reflections from ``source`` (3,) to each receiver (M, 3).

    Returns a list with, per receiver, (path lengths (K,) m, band amplitudes (K, 6) before the
    1/distance spreading, unit directions (K, 3) from the receiver towards each arrival).
    """
    acoustics = scene_acoustics(scene)
    lo, hi = reflecting_box(acoustics, source)
    images, cells = _image_sources(acoustics, source, lo, hi, order)
    n_img, n_rec = len(images), len(receivers)
    img = np.repeat(images, n_rec, axis=0)  # pairs (image-major)
    cel = np.repeat(cells, n_rec, axis=0)
    rec = np.tile(receivers, (n_img, 1))
    src = np.broadcast_to(np.asarray(source, np.float64), rec.shape)
    valid, distance, gains, direction, _ = trace_image_paths(acoustics, src, img, cel, rec, lo, hi, order)
    out = []
    valid = valid.reshape(n_img, n_rec)
    distance = distance.reshape(n_img, n_rec)
    gains = gains.reshape(n_img, n_rec, N_BANDS)
    direction = direction.reshape(n_img, n_rec, 3)
    for m in range(n_rec):
        v = valid[:, m]
        out.append((distance[v, m], gains[v, m], direction[v, m]))
    return out


def box_images(points: np.ndarray, lo: np.ndarray, hi: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """(images (I, M, 3), cells (I, 3)): the image sources of each of ``points`` (M, 3) in the box
    (lo, hi) for every cell with |nx| + |ny| + |nz| <= ``order`` (the source itself first)."""
    r = np.arange(-order, order + 1)
    grid = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    cells = grid[np.abs(grid).sum(axis=1) <= order]
    cells = cells[np.argsort(np.abs(cells).sum(axis=1), kind="stable")]
    size = hi - lo
    rel = np.asarray(points, np.float64) - lo  # (M, 3)
    odd = (cells % 2 != 0)[:, None, :]
    images = lo + cells[:, None, :] * size + np.where(odd, size - rel[None], rel[None])
    return images, cells


def trace_image_paths(scene: Scene | SceneAcoustics, src: np.ndarray, img: np.ndarray, cel: np.ndarray, rec: np.ndarray,
                      lo: np.ndarray, hi: np.ndarray, order: int):
    """Validate image-source paths, one per row: ``src`` (P, 3) the real source, ``img`` (P, 3)
    its image in the box (lo, hi) of signed cell ``cel`` (P, 3), ``rec`` (P, 3) the receiver.

    Returns (valid (P,), path length (P,), band amplitudes (P, 6) before spreading, unit arrival
    directions at the receiver (P, 3), first vertex after the source (P, 3): the first
    reflection point, or the receiver)."""
    acoustics = scene_acoustics(scene)
    scene = acoustics.scene
    lo = np.asarray(lo, np.float64)
    size = np.asarray(hi, np.float64) - lo
    k_max = max(order, 1)
    f64 = [np.ascontiguousarray(np.broadcast_to(np.asarray(v, np.float64), (len(img), 3))) for v in (src, img, rec)]
    cel = np.ascontiguousarray(cel, dtype=np.int64).reshape(-1, 3)
    valid, axis, is_refl, points, distance, direction, first, origins, dirs, check = _unfold(
        f64[0], f64[1], cel, f64[2], lo, size, k_max)

    # every leg must be free of walls; one through furniture costs OBSTRUCTION_GAIN
    n_legs = k_max + 1
    blocked = np.zeros(len(check), bool)
    furniture = np.zeros(len(check), bool)
    if check.any():
        o, d = origins[check], dirs[check]
        blocked[check] = structure_caster(acoustics).first_hit_distance(o, d) < 1.0
        furniture[check] = scene.ray_caster.first_hit_distance(o, d) < 1.0
    blocked = blocked.reshape(-1, n_legs).any(axis=1)
    n_obstructed = (furniture.reshape(-1, n_legs) & ~blocked[:, None]).sum(axis=1)
    valid &= ~blocked
    gains = OBSTRUCTION_GAIN[None] ** n_obstructed[:, None]

    # every reflection point must land on a real surface, whose material sets the reflection
    # coefficient: probed from _SURFACE_PROBE inside the box, along the plane's normal (all the
    # reflections of the paths still valid in one Embree call)
    rows, js = np.nonzero(is_refl & valid[:, None])
    if len(rows):
        ax = axis[rows, js]
        p = points[rows, js]
        pick = np.arange(len(p))
        inward = np.zeros((len(p), 3))
        inward[pick, ax] = np.where(p[pick, ax] > lo[ax] + size[ax] / 2, -1.0, 1.0)
        t, face = scene.ray_caster.intersect(p + inward * _SURFACE_PROBE, -inward)
        ok = np.abs(t - _SURFACE_PROBE) <= _SURFACE_TOLERANCE
        valid[rows[~ok]] = False
        # the specular part: what is neither absorbed nor scattered (the ray-traced tail has the scattered rest)
        absorption, scattering = _material_arrays(acoustics)
        mat = scene.face_materials[face[ok]]
        np.multiply.at(gains, rows[ok], np.sqrt((1.0 - absorption[mat]) * (1.0 - scattering[mat])[:, None]))
    return valid, distance, gains, direction, first


def _material_arrays(acoustics: SceneAcoustics) -> tuple[np.ndarray, np.ndarray]:
    """(absorption (K, 6), scattering (K,)) of the scene's materials, built once per scene."""
    if acoustics.materials is None:
        materials = acoustics.scene.materials
        acoustics.materials = (np.array([m.absorption for m in materials], np.float64),
                               np.array([m.scattering for m in materials], np.float64))
    return acoustics.materials


@numba.njit(cache=True, nogil=True)
def _unfold(src, img, cel, rec, lo, size, k_max):  # pragma: no cover (compiled)
    """Per path (row): the image → receiver line crosses the reflection planes between the
    image's cell ``cel`` and the real box (lo, lo + size) at line parameters t (0 at the image, 1
    at the receiver), taken in order; the path is valid when every crossing lies strictly inside
    the segment. Folding each crossing back into the box gives the real reflection points; the
    path's vertices are the source, its reflections and the receiver.

    Returns valid (P,), the plane axis of each reflection (P, k), whether reflection j exists
    (P, k), the reflection points (P, k, 3), the path length |rec − img| (P,), the unit arrival
    direction at the receiver (P, 3) (towards the last reflection, or the source), the first
    vertex after the source (P, 3), and per leg (P·(k + 1) rows: vertex j → j + 1) a ray origin
    a few 0.1 mm past its start, a direction spanning it to as far before its end (t < 1 hits
    lie on the leg) and whether it is to be checked (a real leg of a valid path)."""
    n = img.shape[0]
    n_legs = k_max + 1
    valid = np.ones(n, np.bool_)
    axis = np.zeros((n, k_max), np.int64)
    is_refl = np.zeros((n, k_max), np.bool_)
    points = np.zeros((n, k_max, 3))
    distance = np.empty(n)
    direction = np.empty((n, 3))
    first = np.empty((n, 3))
    origins = np.zeros((n * n_legs, 3))
    dirs = np.zeros((n * n_legs, 3))
    check = np.zeros(n * n_legs, np.bool_)
    ts = np.empty(3 * k_max)
    axs = np.empty(3 * k_max, np.int64)
    verts = np.empty((k_max + 2, 3))
    for r in range(n):
        # the crossings, in (axis, j) order, then sorted by t (insertion sort: stable)
        count = 0
        for a in range(3):
            c = cel[r, a]
            span = rec[r, a] - img[r, a]
            for j in range(k_max):
                if abs(c) <= j:
                    break
                index = j + 1 if c > 0 else -j
                t = (lo[a] + index * size[a] - img[r, a]) / span if span != 0 else np.nan
                if not (t > 1e-9 and t < 1 - 1e-9):
                    valid[r] = False
                at = count
                while at > 0 and ts[at - 1] > t:
                    ts[at] = ts[at - 1]
                    axs[at] = axs[at - 1]
                    at -= 1
                ts[at] = t
                axs[at] = a
                count += 1
        for e in range(3):
            verts[0, e] = src[r, e]
        for j in range(k_max):
            if j < count:
                is_refl[r, j] = True
                axis[r, j] = axs[j]
                t = ts[j]
                for e in range(3):
                    # folded back into the box
                    u = (img[r, e] + t * (rec[r, e] - img[r, e]) - lo[e]) % (2 * size[e])
                    points[r, j, e] = lo[e] + (u if u <= size[e] else 2 * size[e] - u)
                    verts[j + 1, e] = points[r, j, e]
            else:
                for e in range(3):
                    verts[j + 1, e] = verts[j, e]
        for e in range(3):
            verts[k_max + 1, e] = rec[r, e]
        d2 = 0.0
        for e in range(3):
            d2 += (rec[r, e] - img[r, e]) ** 2
        distance[r] = np.sqrt(d2)
        last = min(count, k_max)  # the vertex heard from: the last reflection, or the source
        norm = 0.0
        for e in range(3):
            direction[r, e] = verts[last, e] - rec[r, e]
            norm += direction[r, e] ** 2
        norm = max(np.sqrt(norm), 1e-12)
        for e in range(3):
            direction[r, e] /= norm
            first[r, e] = points[r, 0, e] if count > 0 else rec[r, e]
        for leg in range(n_legs):
            row = r * n_legs + leg
            length = 0.0
            for e in range(3):
                length += (verts[leg + 1, e] - verts[leg, e]) ** 2
            length = np.sqrt(length)
            if length > 1e-6:
                check[row] = valid[r]
                for e in range(3):
                    step = verts[leg + 1, e] - verts[leg, e]
                    unit = step / length
                    origins[row, e] = verts[leg, e] + unit * 1e-4
                    dirs[row, e] = step - 2 * unit * 1e-4
    return valid, axis, is_refl, points, distance, direction, first, origins, dirs, check



# ---------------------------------------------------------------------------------------------
# meshes without room annotations: image sources over the mesh's own planes

MESH_PLANES = 24  # largest planes of a mesh that reflect
_MIN_PLANE_AREA = 0.5  # m²
MESH_IMAGES = 1500  # image sources per source at most (the order drops until they fit)


def mesh_planes(scene: Scene | SceneAcoustics) -> tuple[np.ndarray, np.ndarray]:
    """(normals (P, 3), offsets (P,)) of the largest planes of the scene's structure (walls,
    floors, ceilings: merged coplanar faces grouped by plane, 2 cm and ~1° apart), n·x = offset."""
    acoustics = scene_acoustics(scene)
    if acoustics.mesh_planes is None:
        polys = acoustic_polygons(acoustics, include_furniture=False)
        groups: dict[tuple, list] = {}
        for poly in polys:
            n = poly.normal / max(np.linalg.norm(poly.normal), 1e-12)
            d = float(n @ poly.corners.mean(axis=0))
            key = tuple(np.round(n * 50).astype(int)) + (int(round(d / 0.02)),)
            groups.setdefault(key, []).append((n, d, poly.area))
        planes = []
        for members in groups.values():
            area = sum(m[2] for m in members)
            if area < _MIN_PLANE_AREA:
                continue
            n = sum(m[0] * m[2] for m in members) / area
            n /= np.linalg.norm(n)
            d = sum(m[1] * m[2] for m in members) / area
            planes.append((area, n, d))
        planes.sort(key=lambda p: -p[0])
        planes = planes[:MESH_PLANES]
        acoustics.mesh_planes = (np.array([p[1] for p in planes]).reshape(-1, 3), np.array([p[2] for p in planes]))
    return acoustics.mesh_planes


def mesh_images(scene: Scene | SceneAcoustics, source: np.ndarray, order: int):
    """(images (I, 3), planes (I, order) plane indices of each image's reflections, −1 padded,
    in the order the sound meets them) of ``source``, built plane by plane up to ``order`` with
    the usual pruning (an image reflects only in planes it lies in front of, never twice in a row)."""
    acoustics = scene_acoustics(scene)
    cache = acoustics.mesh_images
    key = (np.asarray(source, np.float64).tobytes(), int(order))
    if key not in cache:  # the paths and the ray tracer's hybrid split both ask
        cache[key] = _mesh_images(acoustics, source, order)
    return cache[key]


def _mesh_images(scene: Scene | SceneAcoustics, source: np.ndarray, order: int):
    normals, offsets = mesh_planes(scene)
    images = [np.asarray(source, np.float64)[None]]
    chains = [np.full((1, 0), -1, np.int64)]
    level_imgs, level_chain = images[0], chains[0]
    for k in range(order):
        if not len(normals) or not len(level_imgs):
            break
        dist = level_imgs @ normals.T - offsets[None]  # (I, P) signed distance to each plane
        last = level_chain[:, -1] if level_chain.shape[1] else np.full(len(level_imgs), -1)
        ok = (np.abs(dist) > 1e-6) & (np.arange(len(normals))[None] != last[:, None])
        i, p = np.nonzero(ok)
        new = level_imgs[i] - 2 * dist[i, p, None] * normals[p]
        chain = np.c_[level_chain[i], p]
        if sum(len(x) for x in images) + len(new) > MESH_IMAGES:
            break
        images.append(new)
        chains.append(chain)
        level_imgs, level_chain = new, chain
    width = max(c.shape[1] for c in chains)
    padded = [np.c_[c, np.full((len(c), width - c.shape[1]), -1, np.int64)] for c in chains]
    return np.concatenate(images), np.concatenate(padded)


def mesh_early_arrivals(scene: Scene | SceneAcoustics, source: np.ndarray, receivers: np.ndarray, order: int):
    """Like ``early_arrivals`` for meshes without rooms: image sources of the mesh's own planes
    (``mesh_images``), each path unfolded into its reflection points and confirmed with Embree:
    every leg reaches the next reflection point on a real face of that plane (or the receiver)
    with no wall before it; furniture along a leg costs OBSTRUCTION_GAIN."""
    acoustics = scene_acoustics(scene)
    scene = acoustics.scene
    normals, offsets = mesh_planes(acoustics)
    images, chains = mesh_images(acoustics, source, order)
    n_img, n_rec = len(images), len(receivers)
    width = chains.shape[1]
    img = np.repeat(images, n_rec, axis=0)
    chain = np.repeat(chains, n_rec, axis=0)
    rec = np.tile(receivers, (n_img, 1))
    n_pairs = len(img)
    depth = (chain >= 0).sum(axis=1)
    valid, verts = _unfold_mesh_paths(normals, offsets, source, img, chain, rec)

    gains = np.ones((n_pairs, N_BANDS))
    absorption = np.array([m.absorption for m in scene.materials])
    scattering = np.array([m.scattering for m in scene.materials])
    structure = structure_caster(acoustics)
    n_legs = verts.shape[1] - 1
    obstructed = np.zeros(n_pairs, np.int64)
    for leg in range(n_legs):
        a, b = verts[:, leg], verts[:, leg + 1]
        vec = b - a
        length = np.linalg.norm(vec, axis=1)
        real = valid & (length > 1e-6)
        if not real.any():
            continue
        unit = vec[real] / length[real, None]
        ends_on_plane = (leg < width) & (chain[real, min(leg, max(width - 1, 0))] >= 0) if width else np.zeros(real.sum(), bool)
        t_s, face_s = structure.intersect(a[real] + unit * 1e-4, unit)
        t_all = scene.ray_caster.first_hit_distance(a[real] + unit * 1e-4, unit)
        remaining = length[real] - 1e-4
        idx = np.flatnonzero(real)
        # a reflection point must be where the ray meets the structure (that plane, within 2 cm)
        tol = 0.02
        at_plane = ends_on_plane & (np.abs(t_s - remaining) <= tol)
        free = ~ends_on_plane & (t_s >= remaining - 1e-3)
        if np.any(ends_on_plane & at_plane):
            plane_of = chain[idx, min(leg, max(width - 1, 0))]
            n_hit = scene.face_normals[_structure_faces(scene)[np.maximum(face_s, 0)]]
            same = np.abs(np.einsum("ij,ij->i", n_hit, normals[np.maximum(plane_of, 0)])) > 0.99
            at_plane &= same
        ok = np.where(ends_on_plane, at_plane, free)
        valid[idx[~ok]] = False
        good = idx[ok]
        obstructed[good] += (t_all[ok] < np.where(ends_on_plane[ok], remaining[ok] - tol, remaining[ok] - 1e-3))
        refl = ok & ends_on_plane
        if refl.any():
            faces = _structure_faces(scene)[face_s[refl]]
            mat = scene.face_materials[faces]
            gains[idx[refl]] *= np.sqrt((1.0 - absorption[mat]) * (1.0 - scattering[mat])[:, None])
    gains *= OBSTRUCTION_GAIN[None] ** obstructed[:, None]
    distance = np.linalg.norm(rec - img, axis=1)
    last_vertex = verts[np.arange(n_pairs), depth]  # the last reflection point, or the source
    direction = last_vertex - rec
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    valid &= depth <= width
    valid = valid.reshape(n_img, n_rec)
    distance = distance.reshape(n_img, n_rec)
    gains = gains.reshape(n_img, n_rec, N_BANDS)
    direction = direction.reshape(n_img, n_rec, 3)
    return [(distance[valid[:, m], m], gains[valid[:, m], m], direction[valid[:, m], m]) for m in range(n_rec)]


def _unfold_mesh_paths(normals: np.ndarray, offsets: np.ndarray, source: np.ndarray, img: np.ndarray,
                       chain: np.ndarray, rec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(valid (P,), vertices (P, W + 2, 3)) of the paths from ``source`` (3,) to ``rec`` (P, 3)
    through images ``img`` (P, 3) of plane chains ``chain`` (P, W) (planes n·x = offset): the
    source, the reflection points in order (unused ones repeat the previous vertex), the
    receiver. Invalid where a segment does not cross the plane it reflects in."""
    n_pairs, width = chain.shape
    valid = np.ones(n_pairs, bool)
    # unfold backwards: from the receiver towards the image, cross its last plane, reflect the
    # image back across that plane (the image of one order less), and repeat
    points = np.full((n_pairs, max(width, 1), 3), np.nan)
    target = rec.copy()
    current = img.copy()
    for j in range(width - 1, -1, -1):
        has = chain[:, j] >= 0
        p = np.maximum(chain[:, j], 0)
        n, d = normals[p], offsets[p]
        a = np.einsum("ij,ij->i", target, n) - d
        b = np.einsum("ij,ij->i", current, n) - d
        cross = has & (np.sign(a) * np.sign(b) < 0)
        valid &= ~has | cross
        s = np.where(cross, a / np.where(cross, a - b, 1.0), 0.0)
        x = target + s[:, None] * (current - target)
        points[has, j] = x[has]
        target = np.where(has[:, None], x, target)
        current = np.where(has[:, None], current - 2 * (b[:, None]) * n, current)  # the parent image
    verts = np.empty((n_pairs, max(width, 1) + 2, 3))
    verts[:, 0] = source
    for j in range(max(width, 1)):
        verts[:, j + 1] = np.where((chain[:, j] >= 0)[:, None] if j < width else False, points[:, j], verts[:, j])
    verts[:, -1] = rec
    return valid, verts


def _structure_faces(scene: Scene) -> np.ndarray:
    """Scene face index of each face of ``structure_caster`` (identity when it is the whole scene)."""
    structural = scene.face_objects < 0
    return np.flatnonzero(structural) if structural.any() else np.arange(len(scene.face_objects))


def mesh_image_order(scene: Scene | SceneAcoustics, source: np.ndarray, order: int) -> int:
    """The reflection order ``mesh_images`` reaches for ``source`` (it stops early on big meshes)."""
    _, chains = mesh_images(scene, source, order)
    return int((chains >= 0).sum(axis=1).max()) if len(chains) else 0

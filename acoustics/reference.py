"""pyroomacoustics' hybrid model (image sources + ray tracing) on an earshot scene: the slow,
independent reference the fast RIRs are validated against (tests, ``scripts/validate_acoustics.py``).

It is pyroomacoustics' own ``Room.compute_rir`` per receiver, except that a receiver no image
source can see (behind a wall, in another room) gets the ray-traced part alone instead of an error.
"""

from __future__ import annotations

import numpy as np

from ..scenes import Scene

from .geometry import build_pra_room


def pra_hybrid_rirs(scene: Scene, source, receivers, sample_rate: int = 16_000, order: int = 3, rays: int = 30_000,
                    include_furniture: bool = True, seed: int = 0) -> list[np.ndarray]:
    """Omnidirectional RIRs (one float64 array per receiver, sample 0 = emission, plus
    pyroomacoustics' fractional-delay offset of 40 samples) from ``source`` (3,) to ``receivers``
    (M, 3): image sources up to ``order`` over the scene's merged polygons, then ``rays`` rays
    (their scattering drawn from pyroomacoustics' generator, seeded with ``seed``, as is the
    numpy generator that draws the ray-traced part's random impulses: the reference is the same
    on every run)."""
    from pyroomacoustics import constants
    from pyroomacoustics.simulation import compute_ism_rir, compute_rt_rir

    room = build_pra_room(scene, sample_rate, order, include_furniture, ray_tracing=True, rays=rays)
    room.add_source(np.asarray(source, np.float64))
    room.add_microphone_array(np.asarray(receivers, np.float64).reshape(-1, 3).T.copy())
    room.image_source_model()
    _seed_pyroomacoustics(int(seed))
    room.ray_tracing()
    fdl = constants.get("frac_delay_length")
    volume = room.get_volume()
    src = room.sources[0]
    out = []
    for m, mic in enumerate(room.mic_array.R.T):
        parts = []
        if np.any(room.visibility[0][m, :]):
            parts.append(compute_ism_rir(src, mic, room.mic_array.directivity[m], src.directions[m, :, :],
                                         room.visibility[0][m, :], fdl, room.c, room.fs, room.octave_bands,
                                         min_phase=room.min_phase, air_abs_coeffs=room.air_absorption))
        t0 = float(np.linalg.norm(src.position - mic) / room.c)
        parts.append(compute_rt_rir(t0, room.rt_histograms[m][0], room.rt_directional_responses[m],
                                    room.rt_args["hist_bin_size"], room.rt_args["hist_bin_size_samples"], volume, fdl,
                                    room.c, room.fs, room.octave_bands, air_abs_coeffs=room.air_absorption))
        rir = np.zeros(max(len(p) for p in parts))
        for p in parts:
            rir[: len(p)] += p
        out.append(rir)
    return out


def _seed_pyroomacoustics(seed: int) -> None:
    """Seed both of pyroomacoustics' generators: libroom's (ray scattering) and the numpy one that
    ``compute_rt_rir`` draws its random impulses from (unseeded, it varied the reference's decay
    by up to ~25% per band between runs)."""
    import pyroomacoustics

    seeder = getattr(getattr(pyroomacoustics, "random", None), "seed", None)
    if seeder is not None:  # pyroomacoustics >= 0.8
        seeder(numpy=seed, libroom=seed)
    else:
        from pyroomacoustics import libroom

        libroom.set_rng_seed(seed)


L_OUTLINE = [(0, 0), (8, 0), (8, 4), (4, 4), (4, 7), (0, 7)]  # m, an L-shaped floor plan


def reference_rooms(mesh_dir) -> dict[str, tuple]:
    """The single rooms of the validation: name -> (scene, source (3,), receivers (M, 3), RIR
    seconds). A tiled bathroom, a carpeted room (hard walls), a room at absorption 0.6, and an
    L-shaped room saved to ``mesh_dir`` as a bare PLY mesh and loaded back without annotations."""
    from pathlib import Path

    from ..scenes import load_scene, polygon_room_mesh, shoebox, uniform_material

    path = Path(mesh_dir) / "l_room.ply"
    polygon_room_mesh(L_OUTLINE, 3.0).export(path)
    recs7 = [[5.0, 3.0, 1.2], [1.0, 4.0, 1.6], [6.0, 1.0, 1.5], [3.5, 4.0, 1.0]]
    return {
        "tiled bathroom": (shoebox(2.5, 2.2, 2.5, {"walls": "ceramic_tile", "floor": "tile_floor", "ceiling": "plaster"}),
                           np.array([0.7, 0.6, 1.5]), np.array([[1.8, 1.6, 1.2], [1.9, 0.5, 1.6], [0.5, 1.7, 1.4]]), 3.0),
        "carpeted room": (shoebox(7, 5, 3, {"walls": "plaster", "floor": "carpet", "ceiling": "ceiling"}),
                          np.array([2.0, 2.0, 1.5]), np.array(recs7), 2.0),
        "absorption 0.6": (shoebox(7, 5, 3, uniform_material(0.6, 0.3)), np.array([2.0, 2.0, 1.5]), np.array(recs7), 1.0),
        "L-shaped mesh": (load_scene(path), np.array([2.0, 2.0, 1.5]),
                          np.array([[6.0, 2.0, 1.2], [2.0, 5.5, 1.6], [7.0, 3.0, 1.5], [3.5, 6.5, 1.5]]), 2.0),
    }

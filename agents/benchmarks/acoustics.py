"""Acoustics: cold RIRs (one source to every node of an apartment, and single pairs), binaural
renders, the on-disk RIR cache against computing, the per-step convolution and spectrogram, and
the fast tail against the ray-traced hybrid; CPU-bound figures next to the numpy reference."""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np

from ...scenes import NavGraph, generate_apartment, split_seeds
from ...scenes.refs import build_scene_and_graph, procedural_ref
from .common import numpy_reference_ms, timeit


def bench_acoustics(cfg) -> list[dict]:
    """Cold RIRs (one source to every node, amortized and single), binaural renders, the RIR
    cache against computing, and the per-step audio kernels, next to the numpy reference."""
    from ...acoustics import AudioConfig

    with _no_tail_cache():  # cold means traced here: not read from the per-user tail cache
        return _bench_acoustics(cfg, AudioConfig)


@contextlib.contextmanager
def _no_tail_cache():
    """The scenes' own acoustics without the per-user traced-tail cache (``EARSHOT_CACHE=off``)."""
    from ...acoustics.tail_store import CACHE_ENV

    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = "off"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = before


def _bench_acoustics(cfg, AudioConfig) -> list[dict]:
    ref = numpy_reference_ms()
    audio = AudioConfig()
    seeds = list(split_seeds("test"))[: cfg.apartments]
    rows = _cold_rirs(seeds, audio)
    scene, graph = build_scene_and_graph(procedural_ref(seeds[0]))
    rows += _cache_rows(scene, graph, audio)
    rows += _audio_rows(scene, graph, audio)
    for r in rows:
        r.update(section="acoustics", reference="numpy reference workload", reference_value=ref, reference_unit="ms",
                 ratio=r["value"] / ref)
    if cfg.raytrace:
        rows.append(_bench_tail_vs_raytraced(list(split_seeds("test"))[:4], ref))
    return rows


def _cold_rirs(seeds, audio) -> list[dict]:
    """RIRs computed from scratch in 4-room test apartments, and their binaural renders."""
    from ...acoustics import compute_rir, compute_rirs

    from ...acoustics.heads import load_head

    all_nodes, per_pair, single, first_bin, new_heading, counts = [], [], [], [], [], []
    first_sphere, new_sphere = [], []
    for seed in seeds:
        scene = generate_apartment(seed, n_rooms=4)
        graph = NavGraph.build(scene)
        points = graph.positions + [0, 0, audio.ear_height]
        src = graph.positions[len(graph) // 2] + [0, 0, audio.source_height]
        # warm the scene's caches (room boxes, face tables) with another source: the source's
        # own ray tracing is part of what is timed
        compute_rirs(scene, graph.positions[0] + [0, 0, audio.source_height], points[:2], audio)
        t = time.perf_counter()
        rirs = compute_rirs(scene, src, points, audio)
        all_nodes.append(time.perf_counter() - t)
        per_pair.append(all_nodes[-1] / len(points))
        counts.append(len(points))
        single.append(timeit(lambda: compute_rir(scene, src, points[0], audio), 5))
        sample = rirs[:: max(1, len(rirs) // 20)]
        headings = np.random.default_rng(0).uniform(-np.pi, np.pi, 50)
        sphere = load_head(audio.replace(head="sphere"))
        for head, first, new in ((None, first_bin, new_heading), (sphere, first_sphere, new_sphere)):
            for r in sample:
                r.drop_render_cache()
            t = time.perf_counter()
            for r in sample:
                r.binaural(0.0, hrtf=head)
            first.append((time.perf_counter() - t) / len(sample))
            t = time.perf_counter()
            for r in sample:
                for h in headings:
                    r.binaural(float(h), hrtf=head)
            new.append((time.perf_counter() - t) / (len(sample) * len(headings)))
    ratio = np.mean(new_heading) / np.mean(new_sphere)
    rows = [
        dict(name="one source -> every node (4 rooms)", value=float(np.mean(all_nodes) * 1e3), unit="ms",
             detail=f"mean over {len(seeds)} test apartments, {np.mean(counts):.0f} nodes, ray-traced tail included; "
                    f"target <= 300 ms; max {max(all_nodes) * 1e3:.0f} ms"),
        dict(name="cold RIR, amortized per pair", value=float(np.mean(per_pair) * 1e3), unit="ms", detail="compute_rirs one-to-many"),
        dict(name="cold RIR, single pair", value=float(np.mean(single) * 1e3), unit="ms", detail="compute_rir"),
        dict(name="first binaural render (tail synthesis)", value=float(np.mean(first_bin) * 1e3), unit="ms",
             detail=f"once per RIR, head {audio.head}; target <= 5 ms; the sphere: {np.mean(first_sphere) * 1e3:.2f} ms"),
        dict(name="binaural render, new heading", value=float(np.mean(new_heading) * 1e3), unit="ms",
             detail=f"head {audio.head}, any angle; the sphere: {np.mean(new_sphere) * 1e3:.2f} ms (x{ratio:.2f}); "
                    "target <= 1.25 x the sphere"),
    ]
    return rows


def _cache_rows(scene, graph, audio) -> list[dict]:
    """The on-disk RIR cache against recomputing, as a fresh process meets it (nothing in memory)."""
    import tempfile

    from ...acoustics import RIRCache, compute_rirs
    from ...acoustics.scene_acoustics import scene_acoustics

    rows = []
    points = graph.positions + [0, 0, audio.ear_height]
    src = graph.positions[len(graph) // 3] + [0, 0, audio.source_height]
    visited = points[:: max(1, len(points) // 12)][:12]  # the receivers of a short episode
    with tempfile.TemporaryDirectory() as root:
        RIRCache(root).get_many(scene, src, points, config=audio)  # written when collected
        compute_rirs(scene, graph.positions[0] + [0, 0, audio.source_height], points[:2], audio)  # warm the scene, not this source
        scene_acoustics(scene).energy_fields.clear()  # the cache filled this source's ray tracing: forget it
        t = time.perf_counter()
        compute_rirs(scene, src, points, audio)
        cold_all = time.perf_counter() - t
        t = time.perf_counter()
        for p in visited:
            compute_rirs(scene, src, p[None], audio, check_free_space=False)
        cold_pairs = (time.perf_counter() - t) / len(visited)
        reads_all, reads_pairs = [], []
        for _ in range(5):
            t = time.perf_counter()
            RIRCache(root, memory_mb=0).get_many(scene, src, points, config=audio)
            reads_all.append(time.perf_counter() - t)
            fresh = RIRCache(root)
            t = time.perf_counter()
            for p in visited:
                fresh.get(scene, src, p, config=audio)
            reads_pairs.append((time.perf_counter() - t) / len(visited))
        warm_all, warm_pairs = float(np.median(reads_all)), float(np.median(reads_pairs))
        size = RIRCache(root).disk_usage()
        rows.append(dict(name="RIR cache, one source's file (all nodes) vs computing them", value=warm_all * 1e3, unit="ms",
                         detail=f"{len(points)} receivers, {size / 1e3:.0f} kB file, np.load + SHA-256; computing: {cold_all * 1e3:.0f} ms "
                                f"({cold_all / warm_all:.0f}x slower)"))
        rows.append(dict(name="RIR cache, per RIR of an episode (fresh process) vs computing it", value=warm_pairs * 1e3, unit="ms",
                         detail=f"{len(visited)} receivers of one source, first read loads the file; computing per pair: "
                                f"{cold_pairs * 1e3:.1f} ms ({cold_pairs / warm_pairs:.1f}x slower)"))
        mem = RIRCache(root)
        mem.get_many(scene, src, visited, config=audio)
        t = time.perf_counter()
        for p in visited:
            mem.get(scene, src, p, config=audio)
        rows.append(dict(name="RIR cache lookup, in memory", value=(time.perf_counter() - t) / len(visited) * 1e3, unit="ms",
                         detail="key + dict lookup"))
    return rows


def _audio_rows(scene, graph, audio) -> list[dict]:
    """Per-step audio: 1 s of a source through a binaural RIR, then the spectrogram."""
    from ...acoustics import compute_rir, hear, make_sound, spectrogram
    from ...acoustics.features import StepConvolver

    rows = []
    points = graph.positions + [0, 0, audio.ear_height]
    rir = compute_rir(scene, points[0], points[10], audio).binaural(0.0)
    sound = make_sound("telephone", audio.sample_rate, seconds=6.0)
    for backend in ("numpy", "torch"):
        try:
            hear(sound, rir, audio.step_samples, audio.step_samples, backend=backend)
        except ImportError:
            continue
        conv = timeit(lambda: hear(sound, rir, audio.step_samples, audio.step_samples, backend=backend), 20)
        heard = hear(sound, rir, audio.step_samples, audio.step_samples, backend=backend)
        spec = timeit(lambda: spectrogram(heard, audio, backend=backend), 20)
        rows.append(dict(name=f"convolution 1 s binaural ({backend})", value=conv * 1e3, unit="ms", detail="FFT, RIR 1 s, nothing cached"))
        rows.append(dict(name=f"spectrogram 1 s binaural ({backend})", value=spec * 1e3, unit="ms", detail="65x26x2"))
    conv = StepConvolver(audio.step_samples, audio.rir_samples)
    step = timeit(lambda: conv.hear("telephone", sound, "rir", rir, audio.step_samples), 50)
    rows.append(dict(name="step convolution, cached FFTs (env path)", value=step * 1e3, unit="ms",
                     detail="segment and RIR spectra reused; one product + inverse FFT"))
    return rows


def _bench_tail_vs_raytraced(seeds, ref) -> dict:
    from ...acoustics import tail_vs_raytraced

    t0 = time.perf_counter()
    ratios = []
    for seed in seeds:
        scene, graph = build_scene_and_graph(procedural_ref(seed))
        ratios.append(tail_vs_raytraced(scene, graph.positions[len(graph) // 3] + [0, 0, 1.5],
                                        graph.positions[[3, len(graph) // 2]] + [0, 0, 1.5]))
    ratios = np.concatenate(ratios)
    return dict(section="acoustics", name="fast-tail T30 / ray-traced T60", value=float(ratios.mean()), unit="ratio",
                reference="ray-traced hybrid (same run)", reference_value=(time.perf_counter() - t0) * 1e3,
                reference_unit="ms", ratio=None,
                detail=f"{len(ratios)} receivers x 6 bands, min {ratios.min():.2f}, max {ratios.max():.2f}; target within 0.8-1.2")


__all__ = ["bench_acoustics"]

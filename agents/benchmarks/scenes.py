"""Scenes and rendering: apartment generation and NavGraph build times next to the numpy
reference workload, and render frames/s per backend next to the raw Embree ray throughput of
the same bundle (raycast, and the semantic sensor's per-pixel categories) or the bare clear +
read-back of the same framebuffer (gl)."""

from __future__ import annotations

import time

import numpy as np

from ...scenes import NavGraph, split_seeds
from ...scenes.refs import build_scene, build_scene_and_graph, procedural_ref
from ...scenes.render import make_renderer
from .common import numpy_reference_ms


def bench_scenes(cfg) -> list[dict]:
    seeds = list(split_seeds("test"))[: cfg.apartments]
    ref = numpy_reference_ms()
    gen, nav, ready, nodes = [], [], [], []
    for seed in seeds:
        t0 = time.perf_counter()
        scene = build_scene(procedural_ref(seed))
        t1 = time.perf_counter()
        graph = NavGraph.build(scene)
        t2 = time.perf_counter()
        gen.append(t1 - t0)
        nav.append(t2 - t1)
        ready.append(t2 - t0)
        nodes.append(len(graph))
    rows = []
    for name, values in (("apartment generation", gen), ("NavGraph build", nav), ("apartment + NavGraph ready", ready)):
        ms = float(np.mean(values) * 1e3)
        rows.append(dict(section="scenes", name=name, value=ms, unit="ms", reference="numpy reference workload",
                         reference_value=ref, reference_unit="ms", ratio=ms / ref,
                         detail=f"mean over {len(seeds)} test apartments ({np.mean(nodes):.0f} nodes), max {max(values) * 1e3:.0f} ms"))
    return rows


def _poses(graph: NavGraph, n: int, rng) -> list[tuple[np.ndarray, float]]:
    nodes = rng.integers(len(graph), size=n)
    headings = rng.uniform(-np.pi, np.pi, size=n)
    return [(graph.positions[k], float(h)) for k, h in zip(nodes, headings)]


def bench_render(cfg) -> list[dict]:
    from earshot.scenes.render.gl import egl_available

    seeds = list(split_seeds("test"))[: cfg.apartments]
    scenes, graphs = zip(*(build_scene_and_graph(procedural_ref(s)) for s in seeds))
    backends = ["raycast"] + (["gl"] if egl_available()[0] else [])
    rows = []
    for res in (128, 256):
        for backend in backends + ["semantic"]:
            fps, ref_fps = [], []
            for scene, graph in zip(scenes, graphs):
                renderer = _renderer(backend, scene, res)
                poses = _poses(graph, cfg.frames, np.random.default_rng(0))
                renderer.render(*poses[0])  # warm-up (GL context, buffers)
                t = time.perf_counter()
                for pose in poses:
                    renderer.render(*pose)
                fps.append(len(poses) / (time.perf_counter() - t))
                ref_fps.append(_reference_fps("raycast" if backend == "semantic" else backend, renderer, scene, poses))
                renderer.close()
            value, ref = float(np.mean(fps)), float(np.mean(ref_fps))
            reference = ("bare clear + read-back of the same framebuffer" if backend == "gl"
                         else "raw Embree rays (same bundle, no shading)")
            name = f"semantic sensor {res}x{res}" if backend == "semantic" else f"{backend} RGB-D {res}x{res}"
            rows.append(dict(section="render", name=name, value=value, unit="frames/s",
                             reference=reference, reference_value=ref, reference_unit="frames/s", ratio=value / ref,
                             detail=f"mean over {len(scenes)} test apartments, {cfg.frames} poses each"))
    rows += _bench_segmenter(scenes[0], graphs[0], cfg.frames)
    if "gl" not in backends:
        rows.append(dict(section="render", name="gl RGB-D", value=None, unit="frames/s", reference="",
                         reference_value=None, reference_unit="", ratio=None, detail=f"EGL unavailable: {egl_available()[1]}"))
    return rows


def _bench_segmenter(scene, graph, frames: int, res: int = 64, width: int = 32) -> list[dict]:
    """The learned semantic sensor (``agents.segmenter``, the width agents use) on 64x64 RGB-D
    frames, one at a time (as one env acts) and in a batch of 64 (as DAgger fits), next to the
    semantic sensor's own cast of the same frames."""
    import torch

    from ...scenes.render.camera import depth_observation
    from ..segmenter import build_segmenter, tensors

    renderer = make_renderer("raycast", scene, width=res, height=res)
    poses = _poses(graph, max(frames, 64), np.random.default_rng(1))
    rgb, depth = zip(*(renderer.render(*pose) for pose in poses))
    x = tensors(np.stack(rgb), np.stack([depth_observation(d)[..., 0] for d in depth]))
    net = build_segmenter(width).freeze()
    camera = _renderer("semantic", scene, res)
    t = time.perf_counter()
    for pose in poses:
        camera.render(*pose)
    sensor_fps = len(poses) / (time.perf_counter() - t)
    rows = []
    with torch.no_grad():
        for batch in (1, 64):
            net.labels(x[0][:batch], x[1][:batch])  # warm-up
            t, done = time.perf_counter(), 0
            while done < len(poses):
                net.labels(x[0][done:done + batch], x[1][done:done + batch])
                done += batch
            fps = done / (time.perf_counter() - t)
            rows.append(dict(section="render", name=f"learned semantic sensor {res}x{res}, batch {batch}", value=fps,
                             unit="frames/s", reference="semantic sensor (Embree cast), same frames",
                             reference_value=sensor_fps, reference_unit="frames/s", ratio=fps / sensor_fps,
                             detail=f"agents.segmenter width {width}, torch threads {torch.get_num_threads()}"))
    return rows


def _renderer(backend: str, scene, res: int):
    """A renderer of ``backend``, or for "semantic" the semantic sensor's camera (per-pixel
    categories, cast by Embree) with the same ``render(position, heading)``."""
    if backend != "semantic":
        return make_renderer(backend, scene, width=res, height=res)
    from ...scenes.render.raycast import SemanticCamera

    return SemanticCamera(scene, make_renderer("raycast", scene, width=res, height=res).camera)


def _reference_fps(backend: str, renderer, scene, poses) -> float:
    n = min(len(poses), 100)
    if backend == "raycast":
        dirs = renderer.camera.ray_directions
        caster = scene.ray_caster
        origins = [np.broadcast_to(renderer.camera.eye(p).astype(np.float32), dirs.shape) for p, _ in poses[:n]]
        rotated = [dirs @ renderer.camera.rotation(h).astype(np.float32).T for _, h in poses[:n]]
        t = time.perf_counter()
        for o, d in zip(origins, rotated):
            caster.intersect(o, d)
        return n / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(n):
        renderer.clear_and_read()  # the same framebuffer cleared and read back, nothing drawn
    return n / (time.perf_counter() - t)


__all__ = ["bench_render", "bench_scenes"]

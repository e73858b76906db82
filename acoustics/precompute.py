"""Precomputing RIRs for whole splits: one job per (scene, source node), every NavGraph node a
receiver, results in an ``RIRCache``. Jobs are independent and every entry is written
atomically, so a killed run loses at most the entries in flight and a rerun skips what exists.
Runs on local processes or, with ``backend="ray"``, as Ray tasks across a cluster."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from scenes import NavGraph, generate_apartment

from .cache import RIRCache
from .config import AudioConfig


@dataclass(frozen=True)
class Job:
    seed: int
    source: int  # NavGraph node index
    spacing: float
    cache_dir: str
    config: AudioConfig


@lru_cache(maxsize=4)
def _scene_and_graph(seed: int, spacing: float):
    scene = generate_apartment(seed, nav_spacing=spacing)
    return scene, NavGraph.build(scene, spacing=spacing)


def listening_points(graph: NavGraph, config: AudioConfig) -> tuple[np.ndarray, np.ndarray]:
    """(sources, receivers): node positions raised to the source and ear heights of ``config``."""
    return graph.positions + [0, 0, config.source_height], graph.positions + [0, 0, config.ear_height]


def make_jobs(seeds, spacing: float, cache_dir: str, config: AudioConfig, sources: int = 0) -> list[Job]:
    """Jobs for every source node (or ``sources`` evenly spaced ones) of each scene."""
    jobs = []
    for seed in seeds:
        _, graph = _scene_and_graph(int(seed), spacing)
        nodes = np.arange(len(graph)) if sources <= 0 else np.unique(np.linspace(0, len(graph) - 1, sources).round().astype(int))
        jobs += [Job(int(seed), int(n), spacing, cache_dir, config) for n in nodes]
    return jobs


def is_done(job: Job) -> bool:
    scene, graph = _scene_and_graph(job.seed, job.spacing)
    src, rec = listening_points(graph, job.config)
    cache = RIRCache(job.cache_dir, memory_items=0)
    return all(cache.contains(scene, job.config, src[job.source], r) for r in rec)


def run_job(job: Job) -> int:
    """Compute and store the missing RIRs of one job; returns how many were computed."""
    scene, graph = _scene_and_graph(job.seed, job.spacing)
    src, rec = listening_points(graph, job.config)
    cache = RIRCache(job.cache_dir, memory_items=0)
    cache.get_many(scene, src[job.source], rec, job.config)
    return cache.misses


def run(jobs: list[Job], workers: int = 1, backend: str = "process", progress: bool = True) -> int:
    """Run the jobs not yet done; returns the number of RIRs computed."""
    from tqdm import tqdm

    todo = [j for j in jobs if not is_done(j)]
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="RIR jobs", unit="source", disable=not progress)
    computed = 0
    if backend == "ray":
        try:
            import ray
        except ImportError as exc:
            raise ImportError("backend='ray' needs Ray: pip install 'earshot[dist]'") from exc
        if not ray.is_initialized():
            ray.init()
        remote = ray.remote(run_job)
        pending = [remote.remote(j) for j in todo]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            computed += ray.get(done[0])
            bar.update(1)
    elif backend == "process":
        if workers <= 1:
            for j in todo:
                computed += run_job(j)
                bar.update(1)
        else:
            import multiprocessing as mp

            # spawn: Embree and EGL state must not cross a fork
            with mp.get_context("spawn").Pool(workers) as pool:
                for n in pool.imap_unordered(run_job, todo):
                    computed += n
                    bar.update(1)
    else:
        raise ValueError(f"unknown backend {backend!r}; use 'process' or 'ray'")
    bar.close()
    return computed

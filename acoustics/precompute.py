"""Precomputing RIRs for whole splits: one job per (scene, source node), every NavGraph node a
receiver, results in an ``RIRCache``. Jobs are independent and every entry is written
atomically, so a killed run loses at most the entries in flight and a rerun skips what exists.
Runs on local processes or, with ``backend="ray"``, as Ray tasks across a cluster."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..jobs import progress_bar, run_tasks
from ..scenes import NavGraph
from ..scenes.refs import build_scene_and_graph, procedural_ref

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
    """(Scene, NavGraph) of apartment ``seed``, kept for the process's next jobs: a worker runs
    many sources of one scene, and the scene carries its SceneAcoustics (image sources, traced
    tails) from one job to the next."""
    return build_scene_and_graph(procedural_ref(seed), spacing)


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
    return not RIRCache(job.cache_dir, memory_mb=0).missing(scene, src[job.source], rec, config=job.config)


def run_job(job: Job) -> int:
    """Compute and store the missing RIRs of one job; returns how many were computed."""
    scene, graph = _scene_and_graph(job.seed, job.spacing)
    src, rec = listening_points(graph, job.config)
    cache = RIRCache(job.cache_dir, memory_mb=0)  # writes the source's file before returning
    cache.get_many(scene, src[job.source], rec, config=job.config)
    return cache.misses


@dataclass
class Progress:
    """What a run has done so far (kept by the caller, so it survives an interruption)."""

    total: int = 0
    done: int = 0  # jobs complete, those finished before this run included
    computed: int = 0  # RIRs computed by this run


def run(jobs: list[Job], workers: int = 1, backend: str = "process", progress: "bool | Progress" = True) -> int:
    """Run the jobs not yet done (``earshot.jobs.run_tasks``: in this process, a pool of
    ``workers`` processes, or Ray tasks); returns the number of RIRs computed. Stale temporary
    files of killed runs are removed first. Pass a ``Progress`` to read the counts after a Ctrl-C."""
    from ..scenes.checks import check_choice, check_int

    check_choice("backend", backend, ("process", "ray"))
    check_int("workers", workers, low=1)
    state = progress if isinstance(progress, Progress) else Progress(total=len(jobs))
    for folder in sorted({j.cache_dir for j in jobs}):
        RIRCache(folder, memory_mb=0).clean()
    todo = [j for j in jobs if not is_done(j)]
    state.done = len(jobs) - len(todo)
    bar = progress_bar(len(jobs), initial=state.done, desc="RIR jobs", unit="source", enabled=progress is not False)

    def finished(n: int) -> None:
        state.computed += n
        state.done += 1
        bar.update(1)

    try:
        run_tasks(run_job, [(j,) for j in todo], finished, workers=workers, backend=backend)
    finally:
        bar.close()
    return state.computed

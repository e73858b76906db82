"""Precomputing RIRs for whole splits: one job per (scene, source node), every NavGraph node a
receiver, results in an ``RIRCache``. Jobs are independent and every entry is written
atomically, so a killed run loses at most the entries in flight and a rerun skips what exists.
Runs on local processes or, with ``backend="ray"``, as Ray tasks across a cluster."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..scenes import NavGraph, generate_apartment

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


def _ignore_sigint() -> None:  # pool workers: Ctrl-C is the parent's to handle
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run(jobs: list[Job], workers: int = 1, backend: str = "process", progress: "bool | Progress" = True) -> int:
    """Run the jobs not yet done; returns the number of RIRs computed. Stale temporary files of
    killed runs are removed first. Pass a ``Progress`` to read the counts after a Ctrl-C."""
    from tqdm import tqdm

    from ..scenes.checks import check_choice, check_int

    check_choice("backend", backend, ("process", "ray"))
    check_int("workers", workers, low=1)
    state = progress if isinstance(progress, Progress) else Progress(total=len(jobs))
    for folder in sorted({j.cache_dir for j in jobs}):
        RIRCache(folder, memory_mb=0).clean()
    todo = [j for j in jobs if not is_done(j)]
    state.done = len(jobs) - len(todo)
    bar = tqdm(total=len(jobs), initial=state.done, desc="RIR jobs", unit="source", disable=progress is False)

    def finished(n: int) -> None:
        state.computed += n
        state.done += 1
        bar.update(1)

    try:
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
                finished(ray.get(done[0]))
        elif workers <= 1:
            for j in todo:
                finished(run_job(j))
        else:
            import multiprocessing as mp

            # spawn: Embree and EGL state must not cross a fork
            from collections import deque

            # a few jobs in flight at a time, so that Ctrl-C can stop handing out new ones and
            # let the workers (which ignore SIGINT) finish and keep what they are computing
            with mp.get_context("spawn").Pool(workers, initializer=_ignore_sigint) as pool:
                queue = iter(todo)
                pending = deque(pool.apply_async(run_job, (j,)) for j in itertools.islice(queue, 2 * workers))
                try:
                    while pending:
                        finished(pending.popleft().get())
                        job = next(queue, None)
                        if job is not None:
                            pending.append(pool.apply_async(run_job, (job,)))
                except KeyboardInterrupt:
                    pool.close()
                    pool.join()  # the jobs in flight finish: nothing half-written, nothing killed
                    for result in pending:
                        if result.ready() and result.successful():
                            finished(result.get())
                    raise
    finally:
        bar.close()
    return state.computed

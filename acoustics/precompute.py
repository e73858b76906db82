"""Precomputing RIRs for whole splits: one job per (scene, source node), every NavGraph node a
receiver, results in an ``RIRCache``. Jobs are independent and every entry is written
atomically, so a killed run loses at most the entries in flight and a rerun skips what exists.
Runs on local processes or, with ``backend="ray"``, as Ray tasks across a cluster. The audio
settings default to ``AudioConfig()``'s, the env's, so a default env reads what a default run
fills (``PrecomputeConfig.audio_config``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..cli import option, save_config
from ..jobs import progress_bar, run_tasks
from ..scenes import NavGraph, split_seeds
from ..scenes.splits import SPLITS
from ..scenes.refs import build_scene_and_graph, procedural_ref

from .cache import RIRCache
from .config import SUPPORTED_SAMPLE_RATES, AudioConfig


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

    def interrupted(self, cache_dir) -> str:
        """The line that says what an interrupted run kept."""
        return (f"interrupted: {self.done} of {self.total} source jobs complete, {self.computed} RIRs computed "
                f"this run and kept in {Path(cache_dir).resolve()}; rerun the same command to resume")


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


@dataclass
class PrecomputeConfig:
    """Options of ``scripts/precompute_rirs.py`` (``precompute``)."""

    split: str = option("train", "which procedural split", choices=tuple(SPLITS))
    scenes: int = option(1, "the first N apartments of the split", low=1, high=10_000)
    sources: int = option(0, "source nodes per scene, evenly spread (0 = every node)", low=0)
    spacing: float = option(0.5, "NavGraph spacing in metres", choices=(0.25, 0.5, 1.0))
    workers: int = option(2, "worker processes", low=1, high=256)
    backend: str = option("process", "run jobs in local processes or as Ray tasks", choices=("process", "ray"))
    cache_dir: str = option("outputs/rir_cache", "cache folder", nonempty=True)
    # the env's audio settings by default (AudioConfig's defaults), so that a default env reads
    # what a default precompute fills; the other AudioConfig fields are always its defaults
    sample_rate: int = option(AudioConfig.sample_rate, "Hz", choices=SUPPORTED_SAMPLE_RATES)
    ism_order: int = option(AudioConfig.ism_order, "image-source order", low=0, high=10)
    tail: str = option(AudioConfig.tail, "late reverberation model (the env's default: traced)",
                       choices=("traced", "parametric", "raytraced"))

    def audio_config(self) -> AudioConfig:
        """The AudioConfig the RIRs are computed with: AudioConfig's defaults (the env's) with this
        run's sample rate, image-source order and tail."""
        return AudioConfig().replace(sample_rate=self.sample_rate, ism_order=self.ism_order, tail=self.tail)

    def check(self) -> None:
        n = len(split_seeds(self.split))
        if self.scenes > n:
            raise ValueError(f"argument --scenes: the {self.split} split has {n} apartments, got {self.scenes}")
        if Path(self.cache_dir).exists() and not Path(self.cache_dir).is_dir():
            raise ValueError(f"argument --cache-dir: {self.cache_dir!r} is a file, not a folder")


def precompute(cfg: PrecomputeConfig, progress: Progress | None = None) -> str:
    """Precompute the RIRs of ``cfg`` into ``cfg.cache_dir`` (its resolved config saved there as
    config.json); returns a one-line summary. On Ctrl-C the KeyboardInterrupt goes on, and
    ``progress`` (pass one) says what was kept (``progress.interrupted(cfg.cache_dir)``)."""
    audio = cfg.audio_config()
    seeds = list(split_seeds(cfg.split))[: cfg.scenes]
    save_config(cfg, Path(cfg.cache_dir))
    jobs = make_jobs(seeds, cfg.spacing, cfg.cache_dir, audio, cfg.sources)
    progress = progress if progress is not None else Progress()
    progress.total = len(jobs)
    t = time.perf_counter()
    run(jobs, workers=cfg.workers, backend=cfg.backend, progress=progress)
    dt = time.perf_counter() - t
    rate = f", {progress.computed / dt:.0f} RIR/s" if progress.computed and dt > 0 else ""
    return (f"{len(jobs)} source jobs over {len(seeds)} {cfg.split} scenes: computed {progress.computed} RIRs in "
            f"{dt:.1f} s{rate}; cache at {Path(cfg.cache_dir).resolve()}")

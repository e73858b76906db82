"""What every benchmark section shares: timing, the reference workloads that make figures
comparable across machines, and pinning the process to cores (the targets are per core)."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

import numpy as np

ALL_CORES: set[int] = set()  # the cores this process could use before the benchmark pinned it (empty: not pinned)


def timeit(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def numpy_reference_ms() -> float:
    """A fixed CPU workload (float64 matmuls and an FFT) in ms: the yardstick for CPU-bound figures."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((192, 192))
    x = rng.standard_normal(1 << 16)

    def work():
        b = a
        for _ in range(10):
            b = (a @ b) * 1e-2
        np.fft.rfft(x)

    return timeit(work, 15) * 1e3


def reference_loops(seconds: float) -> int:
    """How many times the numpy reference workload runs in ``seconds`` (one process, one thread)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((192, 192))
    x = rng.standard_normal(1 << 16)
    end, count = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        b = a
        for _ in range(10):
            b = (a @ b) * 1e-2
        np.fft.rfft(x)
        count += 1
    return count


def machine_scaling(processes: int = 2, seconds: float = 4.0) -> float:
    """Throughput of the numpy reference workload in ``processes`` processes at once over one
    process alone: the most any CPU-bound job can gain from that many workers on this machine."""
    from ...jobs import run_tasks

    single = reference_loops(seconds)
    counts: list[int] = []
    run_tasks(reference_loops, [(seconds,)] * processes, counts.append, workers=processes)  # all at once
    return sum(counts) / single


def usable_cores(n: int | None = None) -> list[int]:
    """The cores the benchmark may use (all of them, not only those it pinned itself to), sorted; the first ``n``."""
    cpus = sorted(ALL_CORES or (os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count())))
    return cpus[:n] if n is not None else cpus


@contextmanager
def pinned(n: int):
    """Run the body on the first ``n`` of the benchmark's cores, then restore the affinity."""
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if before is not None:
        os.sched_setaffinity(0, set(sorted(ALL_CORES or before)[:n]))
    try:
        yield
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)


__all__ = ["ALL_CORES", "usable_cores", "machine_scaling", "numpy_reference_ms", "pinned", "reference_loops", "timeit"]

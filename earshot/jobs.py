"""Progress bars and parallel runs: the one place earshot shows progress (``progress_bar``,
``progress``: tqdm, consistently) and runs many independent jobs (RIR precomputation, dataset
shards, soak scenes) in this process, in a pool of local processes, or as Ray tasks.

``run_tasks(task, jobs, finished, ...)`` calls ``task(*args)`` for every ``args`` of ``jobs``
and hands each result to ``finished(result)`` in this process, as it arrives. Whatever the
backend, a job's result depends on its arguments only (jobs are independent), so any number of
workers gives the same results.

- ``workers <= 1``: one job after another, in this process.
- ``backend="process"``: a pool of ``workers`` processes started with ``spawn`` (Embree and EGL
  state must not cross a fork), ``2 × workers`` jobs in flight, results taken in submission
  order. Workers die with the parent, SIGKILL included (``_worker_init``), and ignore SIGINT:
  on Ctrl-C no new job is handed out, the jobs in flight finish
  (nothing half-written, nothing killed), their results are handed to ``finished`` and the
  KeyboardInterrupt goes on. ``one_thread=True`` starts the workers with one BLAS/OpenMP thread
  each (one core per worker).
- ``backend="ray"``: Ray tasks of one CPU each (``ray.init()`` is called when Ray is not
  initialised: set RAY_ADDRESS to join a cluster), at most 2 per cluster CPU in flight, results
  taken as they complete.

``torch_threads(count)`` sets torch's CPU threads for a block and gives the caller's back after.

Below every layer: it imports only the standard library, tqdm and (lazily) Ray and torch.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from typing import Any

BACKENDS = ("process", "ray")
_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def progress_bar(total: int, *, initial: int = 0, desc: str, unit: str, enabled: bool = True, **options):
    """A tqdm progress bar (``enabled=False``: one that shows nothing); ``options`` go to tqdm."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not enabled, **options)


def progress(iterable, *, desc: str, unit: str = "it", enabled: bool = True, **options):
    """``iterable`` with a tqdm progress bar (``enabled=False``: none); ``options`` go to tqdm."""
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, unit=unit, disable=not enabled, **options)


@contextmanager
def torch_threads(count: int):
    """torch's CPU threads set to ``count`` (0: left as they are) while the block runs; the caller's
    count comes back after, so a library call does not change the threads of the rest of the process."""
    import torch

    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def say(line: str) -> None:
    """Print ``line`` on stdout above any open progress bars (a plain print would tear them)."""
    from tqdm import tqdm

    tqdm.write(line)


def run_tasks(task: Callable, jobs: Sequence[tuple], finished: Callable[[Any], None], *, workers: int = 1,
              backend: str = "process", one_thread: bool = False) -> None:
    """Run ``task(*args)`` for each ``args`` in ``jobs``, calling ``finished(result)`` here for
    each (see the module docstring for the backends). ``task`` must be a module-level function
    (it is sent to other processes by name)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "ray":
        _run_ray(task, jobs, finished)
    elif workers <= 1:
        for args in jobs:
            finished(task(*args))
    else:
        _run_pool(task, jobs, finished, workers, one_thread)


def _worker_init(parent: int) -> None:
    """Pool workers: Ctrl-C is the parent's to handle, and a worker never outlives its parent
    (SIGKILL included), so a killed job leaves nothing running or writing: the kernel kills it
    when the parent dies (Linux ``PR_SET_PDEATHSIG``), and a watchdog thread exits it as soon as
    it has been re-parented (everywhere else, and should the parent die before the first)."""
    import signal
    import threading
    import time

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: the watchdog below does it
        pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="earshot-parent-watchdog", daemon=True).start()


def _spawn_pool(workers: int, one_thread: bool):
    import multiprocessing as mp

    saved = {k: os.environ.get(k) for k in _ONE_THREAD}
    if one_thread:
        os.environ.update({k: "1" for k in _ONE_THREAD})  # spawned children read it at start
    try:
        # spawn: Embree and EGL state must not cross a fork
        return mp.get_context("spawn").Pool(workers, initializer=_worker_init, initargs=(os.getpid(),))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_pool(task: Callable, jobs: Iterable[tuple], finished: Callable[[Any], None], workers: int,
              one_thread: bool) -> None:
    with _spawn_pool(workers, one_thread) as pool:
        # a few jobs in flight at a time, so that Ctrl-C can stop handing out new ones and let
        # the workers (which ignore SIGINT) finish and keep what they are computing
        queue = iter(jobs)
        pending = deque(pool.apply_async(task, args) for args in itertools.islice(queue, 2 * workers))
        try:
            while pending:
                finished(pending.popleft().get())
                args = next(queue, None)
                if args is not None:
                    pending.append(pool.apply_async(task, args))
        except KeyboardInterrupt:
            pool.close()
            pool.join()  # the jobs in flight finish: nothing half-written, nothing killed
            for result in pending:
                if result.ready() and result.successful():
                    finished(result.get())
            raise


def _run_ray(task: Callable, jobs: Iterable[tuple], finished: Callable[[Any], None]) -> None:
    try:
        import ray
    except ImportError as exc:
        raise ImportError("backend='ray' needs Ray: pip install 'earshot[dist]'") from exc
    if not ray.is_initialized():
        ray.init()
    remote = ray.remote(num_cpus=1)(task)
    limit = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))  # results waiting in the object store, bounded
    queue = iter(jobs)
    pending = [remote.remote(*args) for args in itertools.islice(queue, limit)]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        finished(ray.get(ready[0]))
        args = next(queue, None)
        if args is not None:
            pending.append(remote.remote(*args))


__all__ = ["BACKENDS", "progress", "progress_bar", "run_tasks", "say"]

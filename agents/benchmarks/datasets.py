"""Dataset generation and reading: binaural samples/s of ``scripts/generate_dataset.py`` (each
run a fresh process: cold, filling and then reading an RIR cache, uniform headings, 2 workers)
against SoundSpaces 2.0's ~0.5 s per listener, and random-access against streaming reads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .common import ALL_CORES, machine_scaling, usable_cores

# the dataset CLI of this checkout: a whole command is what is timed (start-up included)
GENERATE_DATASET = Path(__file__).resolve().parents[2] / "scripts" / "generate_dataset.py"
SOUNDSPACES2_SECONDS_PER_LISTENER = 0.5  # SoundSpaces 2.0's engine, one binaural listener (the datasets issue)


def generate_cli(args: list[str], cores: int) -> dict:
    """Run scripts/generate_dataset.py pinned to ``cores`` cores; its counts and times."""
    import re

    cpus = usable_cores()
    pin = (lambda: os.sched_setaffinity(0, set(cpus[:cores]))) if hasattr(os, "sched_setaffinity") else None
    t = time.perf_counter()
    out = subprocess.run([sys.executable, str(GENERATE_DATASET), *args, "--quiet"],
                         capture_output=True, text=True, preexec_fn=pin)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise RuntimeError(f"generate_dataset.py {' '.join(args)} failed: {out.stderr.strip()[-2000:]}")
    made, seconds = re.search(r"made (\d+) in ([\d.]+) s", out.stdout).groups()
    size = re.search(r"\(([\d.]+) (GB|MB)\)", out.stdout).groups()
    return {"samples": int(made), "seconds": float(seconds), "wall_s": wall, "samples_per_s": int(made) / float(seconds),
            "samples_per_s_wall": int(made) / wall, "size_mb": float(size[0]) * (1000 if size[1] == "GB" else 1),
            "stdout": out.stdout.strip()}


def bench_datasets(cfg) -> list[dict]:
    """Binaural dataset generation (scripts/generate_dataset.py, test split, default fields:
    RIR + audio + spectrogram), each run a fresh process: cold (no RIR cache), with a cold and
    then a warm RIR cache, and with 2 workers on 2 cores. Reference: SoundSpaces 2.0's engine at
    ~0.5 s per binaural listener."""
    import tempfile

    n = cfg.dataset_samples
    base = ["--split", "test", "--samples", str(n), "--seed", "0"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cold = generate_cli(base + ["--out", f"{tmp}/cold"], 1)
        reading = _read_speed(f"{tmp}/cold")
        shutil.rmtree(f"{tmp}/cold", ignore_errors=True)
        filling = generate_cli(base + ["--out", f"{tmp}/fill", "--rir-cache", f"{tmp}/rirs"], 1)
        shutil.rmtree(f"{tmp}/fill", ignore_errors=True)
        warm = generate_cli(base + ["--out", f"{tmp}/warm", "--rir-cache", f"{tmp}/rirs"], 1)
        shutil.rmtree(f"{tmp}/warm", ignore_errors=True)
        uniform = generate_cli(base + ["--out", f"{tmp}/uniform", "--headings", "uniform"], 1)
        shutil.rmtree(f"{tmp}/uniform", ignore_errors=True)
        two = generate_cli(base + ["--out", f"{tmp}/two", "--workers", "2"], 2) if len(ALL_CORES or [0, 1]) >= 2 else None
    ss = 1.0 / SOUNDSPACES2_SECONDS_PER_LISTENER
    per = f"{n} samples of the test split, {cold['size_mb'] / n * 1000:.0f} kB each"
    for name, r, extra in (("dataset samples, cold, 1 core", cold, "no RIR cache: every RIR computed (tracing included)"),
                           ("same, filling an RIR cache", filling, "RIRs computed and written to an empty cache"),
                           ("same, warm RIR cache", warm, "RIRs read from the cache the run above filled"),
                           ("same, uniform headings, cold", uniform, "any heading (the tail rendered per heading)")):
        rows.append(dict(section="datasets", name=name, value=r["samples_per_s"], unit="samples/s",
                         reference="SoundSpaces 2.0, ~0.5 s per listener", reference_value=ss, reference_unit="samples/s",
                         ratio=r["samples_per_s"] / ss,
                         detail=(f"{per}; {extra}; {r['seconds']:.1f} s generating, {r['wall_s']:.1f} s for the whole "
                                 f"command ({r['samples_per_s_wall']:.0f} samples/s counting start-up); target >= 200/s per core"),
                         raw=r))
    rows.append(dict(section="datasets", name="reading it, random access", value=reading["random_per_s"], unit="samples/s",
                     reference="streaming the shards in order", reference_value=reading["stream_per_s"],
                     reference_unit="samples/s", ratio=reading["random_per_s"] / reading["stream_per_s"],
                     detail=(f"BinauralDataset, every field, one process, the files in the page cache "
                             f"({reading['random_mb_per_s']:.0f} MB/s at random); BinauralShards in order"), raw=reading))
    if two is not None:
        ceiling = machine_scaling(2)
        rows.append(dict(section="datasets", name="same, 2 workers on 2 cores", value=two["samples_per_s"], unit="samples/s",
                         reference="1 worker, cold (above)", reference_value=cold["samples_per_s"], reference_unit="samples/s",
                         ratio=two["samples_per_s"] / cold["samples_per_s"],
                         detail=(f"{two['samples_per_s'] / 2:.0f} samples/s per core; {two['seconds']:.1f} s generating "
                                 f"(worker start-up included), {two['wall_s']:.1f} s for the whole command; the numpy "
                                 f"reference workload gains {ceiling:.2f}x from 2 processes on this machine"),
                         raw=two | {"machine_scaling_2": ceiling}))
    return rows


def _read_speed(folder: str, n: int = 1000) -> dict:
    from ...datasets import BinauralDataset, BinauralShards

    data = BinauralDataset(folder)
    order = np.random.default_rng(0).permutation(len(data))[: min(n, len(data))]
    t = time.perf_counter()
    nbytes = sum(sum(v.nbytes for k, v in data[int(i)].items() if k != "__key__") for i in order)
    random_s = time.perf_counter() - t
    t = time.perf_counter()
    streamed = sum(1 for _ in BinauralShards(folder))
    stream_s = time.perf_counter() - t
    return {"random_per_s": len(order) / random_s, "random_mb_per_s": nbytes / 1e6 / random_s,
            "stream_per_s": streamed / stream_s}


__all__ = ["GENERATE_DATASET", "bench_datasets", "generate_cli"]

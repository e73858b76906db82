"""The benchmark run: its options, the sections by what they measure, and the report (a table
on stdout and JSON). ``scripts/benchmark.py`` is its CLI.

Every figure is reported next to a reference measured in the same run on the same core(s), so
numbers stay comparable across noisy or different machines.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from ...cli import option
from ...files import write_text_atomic
from .acoustics import bench_acoustics
from .common import ALL_CORES
from .datasets import bench_datasets
from .echo import bench_echo
from .envs import bench_env, bench_training
from .scenes import bench_render, bench_scenes
from .training import bench_agents, bench_waypoint


@dataclass
class BenchmarkConfig:
    only: str = option("all", "comma-separated sections to run, of scenes, render, acoustics, env, training, agents, "
                       "datasets, echo, waypoint; or all", nonempty=True)
    training_steps: int = option(20_000, "env steps of the random-policy run (section training)", low=1)
    training_scenes: int = option(50, "train-split scenes the random-policy run cycles over", low=1, high=10_000)
    training_workers: int = option(2, "worker processes of the vectorized random-policy run (0 skips it; uses that "
                                   "many cores)", low=0, high=64)
    agent_steps: int = option(3_000, "env steps of each training run (section agents), per rank", low=1)
    dataset_samples: int = option(4_000, "samples of each dataset generation run (section datasets)", low=1)
    raytrace: bool = option(True, "include the fast tail vs pyroomacoustics' ray tracer (~1 min; --no-raytrace "
                            "skips it)")
    cores: int = option(1, "pin the process to this many cores (0: leave the affinity alone)", low=0, high=1024)
    apartments: int = option(5, "held-out test apartments to average over", low=1, high=100)
    frames: int = option(300, "frames rendered per backend and resolution", low=1)
    out: str = option("outputs/benchmark.json", "JSON report path", nonempty=True)


SECTIONS = {"scenes": bench_scenes, "render": bench_render, "acoustics": bench_acoustics, "env": bench_env,
            "training": bench_training, "agents": bench_agents, "datasets": bench_datasets,
            "echo": bench_echo, "waypoint": bench_waypoint}


def format_results(rows: list[dict], width: int = 100) -> str:
    """The results as a table within ``width`` columns: name, value, reference and ratio on one
    line (a name too long for its column on a line of its own), what the reference is and the
    details wrapped and indented below."""
    import textwrap

    lines = [f"{'benchmark':<40} {'value':>18} {'reference':>18} {'ratio':>8}",
             "    (what the reference is; details)", "-" * min(width, 87)]
    for r in rows:
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.2f}"
        name = r["name"]
        if len(name) > 40:
            lines.append(name[:width])
            name = ""
        lines.append(f"{name:<40} {_fmt(r['value'], r['unit']):>18} {_fmt(r['reference_value'], r['reference_unit']):>18} "
                     f"{ratio:>8}")
        lines.extend(textwrap.wrap(f"{r['reference']}; {r['detail']}", width=width, initial_indent="    ",
                                   subsequent_indent="    "))
    return "\n".join(lines)


def _fmt(v, unit=""):
    if v is None:
        return "n/a"
    return f"{v:,.1f} {unit}".strip() if abs(v) >= 10 else f"{v:.3f} {unit}".strip()


def run_benchmark(cfg: BenchmarkConfig) -> dict:
    """Run the sections ``cfg.only`` names (pinned to ``cfg.cores`` cores), print the table and
    write the JSON report to ``cfg.out``; returns the report."""
    if cfg.cores > 0 and hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        ALL_CORES.update(available)
        os.sched_setaffinity(0, set(available[: cfg.cores]))
    sections = list(SECTIONS) if cfg.only == "all" else [s.strip() for s in cfg.only.split(",")]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown benchmark sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    rows = []
    for section in sections:
        rows.extend(SECTIONS[section](cfg))
    report = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus_used": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                    "processor": platform.processor()},
        "config": cfg.__dict__,
        "results": rows,
    }
    print(format_results(rows))
    out = Path(cfg.out)
    write_text_atomic(out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {out.resolve()}")
    return report


__all__ = ["BenchmarkConfig", "SECTIONS", "run_benchmark"]

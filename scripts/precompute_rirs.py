"""Precompute binaural-ready RIRs over the NavGraph nodes of a split's procedural apartments
into an on-disk cache. Resumable: rerun after an interruption and finished entries are kept."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _config import parse_config, save_config  # noqa: E402

from acoustics import AudioConfig  # noqa: E402
from acoustics.precompute import make_jobs, run  # noqa: E402
from scenes import split_seeds  # noqa: E402


@dataclass
class PrecomputeConfig:
    split: str = "train"
    scenes: int = 1  # the first N apartments of the split
    sources: int = 0  # source nodes per scene (0 = every node)
    spacing: float = 0.5
    workers: int = 2
    backend: str = "process"  # or "ray"
    cache_dir: str = "outputs/rir_cache"
    sample_rate: int = 16_000
    ism_order: int = 3
    tail: str = "parametric"


def main(cfg: PrecomputeConfig) -> None:
    audio = AudioConfig(sample_rate=cfg.sample_rate, ism_order=cfg.ism_order, tail=cfg.tail)
    seeds = list(split_seeds(cfg.split))[: cfg.scenes]
    save_config(cfg, Path(cfg.cache_dir))
    jobs = make_jobs(seeds, cfg.spacing, cfg.cache_dir, audio, cfg.sources)
    t = time.perf_counter()
    computed = run(jobs, workers=cfg.workers, backend=cfg.backend)
    dt = time.perf_counter() - t
    rate = f", {computed / dt:.0f} RIR/s" if computed and dt > 0 else ""
    print(f"{len(jobs)} source jobs over {len(seeds)} {cfg.split} scenes: computed {computed} RIRs in {dt:.1f} s{rate}; "
          f"cache at {Path(cfg.cache_dir).resolve()}")


if __name__ == "__main__":
    main(parse_config(PrecomputeConfig, __doc__))

"""Precompute binaural-ready RIRs over the NavGraph nodes of a split's procedural apartments
into an on-disk cache. Resumable: rerun after an interruption and finished entries are kept;
Ctrl-C stops cleanly with a one-line summary of what was kept."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _config import option, parse_config, save_config  # noqa: E402

from earshot.acoustics import AudioConfig  # noqa: E402
from earshot.acoustics.config import SUPPORTED_SAMPLE_RATES  # noqa: E402
from earshot.acoustics.precompute import Progress, make_jobs, run  # noqa: E402
from earshot.scenes import split_seeds  # noqa: E402


@dataclass
class PrecomputeConfig:
    split: str = option("train", "which procedural split", choices=("train", "val", "test"))
    scenes: int = option(1, "the first N apartments of the split", low=1, high=10_000)
    sources: int = option(0, "source nodes per scene, evenly spread (0 = every node)", low=0)
    spacing: float = option(0.5, "NavGraph spacing in metres", choices=(0.25, 0.5, 1.0))
    workers: int = option(2, "worker processes", low=1, high=256)
    backend: str = option("process", "run jobs in local processes or as Ray tasks", choices=("process", "ray"))
    cache_dir: str = option("outputs/rir_cache", "cache folder", nonempty=True)
    sample_rate: int = option(16_000, "Hz", choices=SUPPORTED_SAMPLE_RATES)
    ism_order: int = option(3, "image-source order", low=0, high=10)
    tail: str = option("parametric", "late reverberation model", choices=("parametric", "raytraced"))

    def check(self) -> None:
        n = len(split_seeds(self.split))
        if self.scenes > n:
            raise ValueError(f"argument --scenes: the {self.split} split has {n} apartments, got {self.scenes}")
        if Path(self.cache_dir).exists() and not Path(self.cache_dir).is_dir():
            raise ValueError(f"argument --cache-dir: {self.cache_dir!r} is a file, not a folder")


def main(cfg: PrecomputeConfig) -> int:
    audio = AudioConfig(sample_rate=cfg.sample_rate, ism_order=cfg.ism_order, tail=cfg.tail)
    seeds = list(split_seeds(cfg.split))[: cfg.scenes]
    save_config(cfg, Path(cfg.cache_dir))
    jobs = make_jobs(seeds, cfg.spacing, cfg.cache_dir, audio, cfg.sources)
    progress = Progress(total=len(jobs))
    t = time.perf_counter()
    try:
        run(jobs, workers=cfg.workers, backend=cfg.backend, progress=progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {progress.done} of {len(jobs)} source jobs complete, {progress.computed} RIRs computed "
              f"this run and kept in {Path(cfg.cache_dir).resolve()}; rerun the same command to resume", file=sys.stderr)
        return 130
    dt = time.perf_counter() - t
    rate = f", {progress.computed / dt:.0f} RIR/s" if progress.computed and dt > 0 else ""
    print(f"{len(jobs)} source jobs over {len(seeds)} {cfg.split} scenes: computed {progress.computed} RIRs in {dt:.1f} s{rate}; "
          f"cache at {Path(cfg.cache_dir).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_config(PrecomputeConfig, __doc__)))

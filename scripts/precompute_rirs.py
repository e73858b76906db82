"""Precompute binaural-ready RIRs over the NavGraph nodes of a split's procedural apartments
into an on-disk cache. Resumable: rerun after an interruption and finished entries are kept;
Ctrl-C stops cleanly with a one-line summary of what was kept. The audio settings default to the
env's (AudioConfig's defaults: the traced tail), so a default env reads what this fills; an env
with other settings warns once that it reads nothing from the cache, naming the settings.

    python scripts/precompute_rirs.py --split train --scenes 10 --workers 4 --cache-dir outputs/rir_cache
"""

from __future__ import annotations

import sys

from earshot.acoustics.precompute import PrecomputeConfig, Progress, precompute
from earshot.cli import parse_config


def main(cfg: PrecomputeConfig) -> int:
    progress = Progress()
    try:
        print(precompute(cfg, progress))
    except KeyboardInterrupt:
        print(f"\n{progress.interrupted(cfg.cache_dir)}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_config(PrecomputeConfig, __doc__)))

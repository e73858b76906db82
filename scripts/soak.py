"""Soak test: random actions in every task and both motion modes over many procedural scenes
(train, val and test splits), counting steps, episodes and exceptions, and watching memory.

Each scene gets a fresh environment (so construction and close are soaked too) running one
(task, motion) pair in turn; an exception is recorded with its traceback and the run goes on
with the next scene. Writes ``summary.json`` (and prints it) under ``--out``.

    python scripts/soak.py --steps 200000 --scenes 500 --workers 2
"""

import sys

from earshot.agents.benchmarks.soak import SoakConfig, run_soak
from earshot.cli import parse_config

if __name__ == "__main__":
    sys.exit(run_soak(parse_config(SoakConfig, __doc__)))

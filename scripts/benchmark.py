"""earshot benchmark harness: prints a table and writes JSON.

    python scripts/benchmark.py --only acoustics,env --apartments 3 --out outputs/benchmark.json

Every figure is reported next to a reference measured in the same run on the same core(s), so
numbers stay comparable across noisy or different machines:

- render frames/s per backend, next to the raw Embree ray throughput for the same ray bundle
  (raycast) or the bare clear + read-back cost of the same framebuffer (gl);
- apartment generation and NavGraph build times, next to a fixed numpy reference workload.

By default the process is pinned to one core (``--cores 1``), as the targets are stated per core.
"""

import os

# Pin math libraries to one thread before numpy loads (the targets are per core).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from earshot.agents.benchmarks.run import BenchmarkConfig, run_benchmark  # noqa: E402
from earshot.cli import parse_config  # noqa: E402

if __name__ == "__main__":
    run_benchmark(parse_config(BenchmarkConfig, __doc__))

"""Benchmarks of earshot, grouped by what they measure (``scripts/benchmark.py`` is the CLI,
``run.run_benchmark`` the run): ``scenes`` (generation, NavGraph, rendering), ``acoustics``
(RIRs, binaural renders, the RIR cache, per-step audio), ``envs`` (env steps/s and a
random-policy RL run), ``training`` (agent training and the waypoint agent), ``datasets`` and
``echo`` (dataset generation and reading), ``soak`` (random actions over many scenes);
``common`` holds the timing, the reference workloads and core pinning. Every figure is reported
next to a reference measured in the same run on the same core(s).

Above the agents it measures, this package imports every layer; nothing imports it.
"""

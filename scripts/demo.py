"""The main job on the embedded default: a held-out procedural apartment, its navigation graph,
a first-person RGB-D strip along a shortest path and a top-down map (PNG), an AudioGoal
episode walked by the shortest-path oracle, recorded as MP4 with its binaural audio, and the
shipped AudioGoal agent evaluated on held-out test episodes against the random and oracle
baselines (a table, and a video of the agent's first episode).

    python scripts/demo.py --out outputs/demo
"""

from earshot.agents.demo import DemoConfig, run_demo
from earshot.cli import parse_config

if __name__ == "__main__":
    run_demo(parse_config(DemoConfig, __doc__))

"""Evaluate a trained agent or a baseline on fixed held-out episodes.

    python scripts/evaluate.py --checkpoint runs/audiogoal --split test --episodes 50 --out outputs/eval
    python scripts/evaluate.py --baseline oracle --task earshot/AudioGoal-v0 --split test --episodes 50 --out outputs/eval_oracle

Writes ``OUT/episodes.csv`` (one row per episode) and ``OUT/summary.json`` (``success``,
``spl``, ``softspl``, ``sna``, ``distance_to_goal``, each with ``mean`` and ``ci95``), records
the first ``--videos`` episodes as MP4 with a top-down map and binaural audio, and prints a table.
A checkpoint (a run folder, its ``checkpoints/latest`` or ``best``, a ``policy.pt``, or a
shipped agent's name) brings its task, env settings and agent kind. The episodes are the first of each test scene, round robin over the scenes: every agent and
baseline meets the same ones. ``--compare`` adds the random and oracle baselines to the table.
The evaluation run is ``earshot.agents.evaluation.evaluate``.
"""

from earshot.agents.evaluation import EvalConfig, evaluate
from earshot.cli import run_script

if __name__ == "__main__":
    run_script(evaluate, EvalConfig, __doc__)

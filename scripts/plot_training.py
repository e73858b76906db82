"""Learning curves of training runs as one PNG: PPO's training episodes (return and length,
from TensorBoard), the periodic val-split evaluations (``eval.csv``) and the DAgger warm
start's rounds (``imitation/…`` in TensorBoard).

    python scripts/plot_training.py --runs runs/audiogoal,runs/pointgoal --out outputs/learning_curves.png
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from earshot.cli import option, run_script


@dataclass
class PlotConfig:
    runs: str = option("", "comma-separated run folders written by train.py", nonempty=True)
    labels: str = option("", "comma-separated labels of the runs (default: the folders' names)")
    out: str = option("outputs/learning_curves.png", "PNG file to write", nonempty=True)
    smooth: int = option(20, "moving average over this many logged points of the training curves", low=1)

    def check(self) -> None:
        for run in self.folders:
            if not (Path(run) / "config.json").is_file():
                raise ValueError(f"argument --runs: {run!r} is not a run folder of scripts/train.py (no config.json)")
        if self.labels and len(self.labels.split(",")) != len(self.folders):
            raise ValueError(f"argument --labels: {len(self.labels.split(','))} labels for {len(self.folders)} runs")

    @property
    def folders(self) -> list[str]:
        return [r for r in self.runs.split(",") if r]


def main(config: PlotConfig) -> Path:
    from earshot.agents.curves import plot_learning_curves

    labels = config.labels.split(",") if config.labels else [Path(r).name for r in config.folders]
    return plot_learning_curves(config.folders, labels, config.out, config.smooth)


if __name__ == "__main__":
    run_script(main, PlotConfig, __doc__)

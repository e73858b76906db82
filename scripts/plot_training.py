"""Learning curves of training runs as one PNG: PPO's training episodes (return and length,
from TensorBoard), the periodic val-split evaluations (``eval.csv``) and the DAgger warm
start's rounds (``imitation/…`` in TensorBoard).

    python scripts/plot_training.py --runs runs/audiogoal,runs/pointgoal --out docs/figures/learning_curves.png
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _config import option, run_script  # noqa: E402


@dataclass
class PlotConfig:
    runs: str = option("", "comma-separated run folders written by train.py", nonempty=True)
    labels: str = option("", "comma-separated labels of the runs (default: the folders' names)")
    out: str = option("docs/figures/learning_curves.png", "PNG to write", nonempty=True)
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


def scalars(run: Path, tags: tuple[str, ...]) -> dict[str, tuple[list[int], list[float]]]:
    """Per tag, (steps, values) of a TensorBoard scalar over every event file of the run, in step
    order (each event file is read once)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    points: dict[str, dict] = {tag: {} for tag in tags}
    for events in sorted((run / "tb").rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        present = set(acc.Tags().get("scalars", []))
        for tag in tags:
            if tag in present:
                points[tag].update({e.step: e.value for e in acc.Scalars(tag)})  # a resumed run overwrites its own steps
    return {tag: (sorted(p), [p[s] for s in sorted(p)]) for tag, p in points.items()}


def evaluations(run: Path) -> dict[str, list[float]]:
    path = run / "eval.csv"
    if not path.is_file():
        return {}
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}


def _smooth(values: list[float], n: int):
    import numpy as np

    v = np.asarray(values, float)
    if len(v) < 2 or n <= 1:
        return v
    k = min(n, len(v))
    c = np.cumsum(np.insert(v, 0, 0.0))
    head = c[1:k] / np.arange(1, k)  # the first points average what exists so far
    return np.concatenate([head, (c[k:] - c[:-k]) / k])


def main(config: PlotConfig) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = config.labels.split(",") if config.labels else [Path(r).name for r in config.folders]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    (ret_ax, len_ax), (val_ax, imi_ax) = axes
    for k, (run, label) in enumerate(zip(config.folders, labels)):
        run = Path(run)
        color = f"C{k}"
        curves = scalars(run, ("rollout/ep_rew_mean", "rollout/ep_len_mean", "imitation/success", "imitation/accuracy"))
        steps, ret = curves["rollout/ep_rew_mean"]
        if steps:
            ret_ax.plot(steps, _smooth(ret, config.smooth), color=color, label=label)
        steps, length = curves["rollout/ep_len_mean"]
        if steps:
            len_ax.plot(steps, _smooth(length, config.smooth), color=color, label=label)
        ev = evaluations(run)
        if ev:
            val_ax.plot(ev["step"], ev["success"], "o-", ms=3, color=color, label=f"{label}: SR")
            val_ax.plot(ev["step"], ev["spl"], "s--", ms=3, color=color, label=f"{label}: SPL")
        steps, success = curves["imitation/success"]
        if steps:
            imi_ax.plot(steps, success, "o-", ms=3, color=color, label=f"{label}: success, policy acting")
            steps, accuracy = curves["imitation/accuracy"]
            imi_ax.plot(steps, accuracy, "s--", ms=3, color=color, label=f"{label}: agreement with the oracle")
    ret_ax.set(title="PPO training episodes: return", xlabel="PPO env steps", ylabel="return (SB3 rollout/ep_rew_mean)")
    len_ax.set(title="PPO training episodes: length (short = pressing STOP early)", xlabel="PPO env steps",
               ylabel="steps (rollout/ep_len_mean)")
    val_ax.set(title="val split (sampled actions); step 0 = after the warm start", xlabel="PPO env steps",
               ylabel="SR / SPL", ylim=(0, 1))
    imi_ax.set(title="DAgger warm start, per round (the oracle acts with probability 0.5^round)",
               xlabel="imitation env steps (samples so far)", ylabel="rate", ylim=(0, 1.02))
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    run_script(main, PlotConfig, __doc__.split("\n\n")[0])

"""Learning curves of training runs (``earshot.agents.training`` run folders) as one PNG: PPO's
training episodes (return and length, from TensorBoard), the periodic val-split evaluations
(``eval.csv``) and the DAgger warm start's rounds (``imitation/…`` in TensorBoard).
``scripts/plot_training.py`` is its CLI."""

from __future__ import annotations

import csv
from pathlib import Path

from ..files import atomic_path


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


def plot_learning_curves(runs: list[str], labels: list[str], out: str | Path, smooth: int = 20) -> Path:
    """Draw the curves of the run folders ``runs`` (labelled ``labels``) into the PNG ``out``,
    the training curves smoothed by a moving average over ``smooth`` logged points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    (ret_ax, len_ax), (val_ax, imi_ax) = axes
    for k, (run, label) in enumerate(zip(runs, labels)):
        run = Path(run)
        color = f"C{k}"
        curves = scalars(run, ("rollout/ep_rew_mean", "rollout/ep_len_mean", "imitation/success", "imitation/accuracy"))
        steps, ret = curves["rollout/ep_rew_mean"]
        if steps:
            ret_ax.plot(steps, _smooth(ret, smooth), color=color, label=label)
        steps, length = curves["rollout/ep_len_mean"]
        if steps:
            len_ax.plot(steps, _smooth(length, smooth), color=color, label=label)
        ev = evaluations(run)
        if ev:
            val_ax.plot(ev["step"], ev["success"], "o-", ms=3, color=color, label=f"{label}: SR")
            val_ax.plot(ev["step"], ev["spl"], "s--", ms=3, color=color, label=f"{label}: SPL")
        steps, success = curves["imitation/success"]
        if steps:
            imi_ax.plot(steps, success, "o-", ms=3, color=color, label=f"{label}: success, policy acting")
            steps, accuracy = curves["imitation/accuracy"]
            imi_ax.plot(steps, accuracy, "s--", ms=3, color=color, label=f"{label}: agreement with the oracle")
    ret_ax.set(title="PPO training episodes: return", xlabel="PPO env steps", ylabel="return (rollout/ep_rew_mean)")
    len_ax.set(title="PPO training episodes: length (short = pressing STOP early)", xlabel="PPO env steps",
               ylabel="steps (rollout/ep_len_mean)")
    val_ax.set(title="val split (sampled actions); step 0 = after the warm start", xlabel="PPO env steps",
               ylabel="SR / SPL", ylim=(0, 1))
    if not val_ax.lines:  # runs trained with --eval-every 0: say so rather than leave an empty frame
        val_ax.text(0.5, 0.5, "no val evaluations in these runs (--eval-every 0)", ha="center", va="center",
                    transform=val_ax.transAxes, color="0.4")
    imi_ax.set(title="DAgger warm start, per round (the oracle acts with probability beta^round)",
               xlabel="imitation env steps (samples so far)", ylabel="rate", ylim=(0, 1.02))
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    print(f"wrote {out}")
    return out


__all__ = ["evaluations", "plot_learning_curves", "scalars"]

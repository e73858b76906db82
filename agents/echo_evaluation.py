"""Evaluating echo -> depth networks on held-out scenes: RMSE, REL, log10, MAE and δ < 1.25^k
over every valid pixel of a split's echo dataset, next to the mean-depth baseline.
``scripts/evaluate_echo_depth.py`` is its CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..files import atomic_path, write_text_atomic


def evaluate_echo_depth(checkpoints: list[str], out: str | Path, *, split: str = "test", samples: int = 2_000,
                        data: str = "", figure: bool = False, workers: int = 2, device: str = "auto") -> dict:
    """Evaluate the echo-depth ``checkpoints`` (run or checkpoint folders) on the echo dataset of
    ``split`` (``samples`` samples, made on first use; or the dataset folder ``data``), next to
    the first one's mean-depth baseline; writes ``out/summary.json`` (and with ``figure``
    ``out/examples.png``), prints a table and returns the summary."""
    from ..av_env.metrics import DEPTH_METRICS
    from .echo_data import echo_dataset, load_echo_data
    from .echo_depth import load_checkpoint
    from .echo_training import data_folder, device_of

    if samples < 1:
        raise ValueError(f"--samples must be at least 1, got {samples}")
    device = device_of(device)
    nets = []
    for path in checkpoints:
        net, meta = load_checkpoint(path, device)
        folder = Path(path)
        chosen = [folder / "checkpoints" / n for n in ("best", "latest") if (folder / "checkpoints" / n).exists()]
        prior_file = (chosen[0] if chosen else folder) / "mean_depth.npy"
        prior = np.load(prior_file, allow_pickle=False) if prior_file.exists() else None
        nets.append((str(path), net, meta, prior))
    size = nets[0][1].size
    if any(n.size != size for _, n, _, _ in nets):
        raise ValueError("the checkpoints predict maps of different sizes; evaluate them separately")
    folder = Path(data) if data else data_folder(split, samples, size)
    if not data:
        folder = echo_dataset(folder, split, samples, size, workers=workers)
    dataset = load_echo_data(folder)
    if dataset.depth.shape[1] != size:
        raise ValueError(f"the dataset's depth maps are {dataset.depth.shape[1]} px, the model predicts {size} px")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    models, predictions = _metrics(nets, dataset, device)
    summary = {k: models[nets[0][0]][k] for k in DEPTH_METRICS}
    summary.update(model=nets[0][2]["model"], split=split, samples=len(dataset), data=str(folder), models=models)
    prior = nets[0][3]
    if prior is not None:
        summary["mean_depth_baseline"] = _depth_metrics(np.broadcast_to(prior, dataset.depth.shape), dataset.depth,
                                                        nets[0][1].max_depth)
        summary["rmse_vs_baseline"] = summary["rmse"] / summary["mean_depth_baseline"]["rmse"]
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    print(f"{'model':<28} " + " ".join(f"{k:>7}" for k in DEPTH_METRICS))
    rows = [(f"{meta['model']} ({Path(path).name})", models[path]) for path, _, meta, _ in nets]
    if prior is not None:
        rows.append(("mean depth (baseline)", summary["mean_depth_baseline"]))
    for name, m in rows:
        print(f"{name:<28} " + " ".join(f"{m[k]:7.3f}" for k in DEPTH_METRICS))
    if figure:
        _figure(out / "examples.png", dataset, nets, predictions, prior)
    print(f"wrote {out / 'summary.json'}")
    return summary


def _depth_metrics(pred, depth, max_depth: float) -> dict:
    from ..av_env.metrics import DepthMetrics

    m = DepthMetrics(max_depth=max_depth)
    m.update(pred, depth)
    return m.compute()


def _metrics(nets, dataset, device) -> tuple[dict, dict]:
    """Per checkpoint path: its metrics (with model and epoch), and its predictions."""
    from .echo_data import predict

    models, predictions = {}, {}
    for path, net, meta, _ in nets:
        pred = predict(net, dataset, device=device)
        models[path] = dict(_depth_metrics(pred, dataset.depth, net.max_depth), model=meta["model"], epoch=meta.get("epoch"))
        predictions[path] = pred
    return models, predictions


def _figure(path: Path, data, nets, predictions, prior) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = np.linspace(0, len(data) - 1, 5).round().astype(int)
    cols = ["rgb", "true depth"] + [meta["model"] for _, _, meta, _ in nets] + (["mean depth"] if prior is not None else [])
    fig, axes = plt.subplots(len(picks), len(cols), figsize=(1.9 * len(cols), 1.9 * len(picks)), squeeze=False)
    vmax = float(np.percentile(data.depth[data.depth > 0], 99))
    for r, i in enumerate(picks):
        images = [data.rgb[i], data.depth[i]] + [predictions[p][i] for p, _, _, _ in nets] + ([prior] if prior is not None else [])
        for c, (name, img) in enumerate(zip(cols, images)):
            ax = axes[r, c]
            ax.imshow(img) if name == "rgb" else ax.imshow(img, cmap="viridis", vmin=0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=9)
    fig.suptitle(f"depth 0 (dark) to {vmax:.1f} m (yellow); held-out test scenes", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


__all__ = ["evaluate_echo_depth"]

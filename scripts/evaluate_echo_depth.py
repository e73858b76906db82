"""Evaluate echo -> depth networks on held-out scenes: RMSE, REL, log10, MAE and δ < 1.25^k over
every valid pixel of the split's echo dataset (made on first use), next to the mean-depth
baseline (each pixel's mean depth over the training data). Writes OUT/summary.json (the first
checkpoint's metrics at the top level, every model under "models", the baseline under
"mean_depth_baseline") and, with --figure, OUT/examples.png of predicted against true depth.

  python scripts/evaluate_echo_depth.py --checkpoint runs/echo --split test --out runs/echo/test
  python scripts/evaluate_echo_depth.py --checkpoint runs/echo runs/rgb runs/fusion --out runs/compare --figure
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", nargs="+", required=True, help="run folders of train_echo_depth.py (or checkpoint folders)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to evaluate on (default: test)")
    p.add_argument("--samples", type=int, default=2_000, help="samples of the split's echo dataset (default: 2000)")
    p.add_argument("--data", default="", help="an echo dataset folder instead")
    p.add_argument("--out", required=True, help="folder for summary.json (and examples.png)")
    p.add_argument("--figure", action="store_true", help="draw OUT/examples.png")
    p.add_argument("--workers", type=int, default=2, help="processes making the dataset (default: 2)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = p.parse_args(argv)
    try:
        return _run(args)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args) -> int:
    import numpy as np

    from earshot.agents.echo_data import echo_dataset, load_echo_data, predict
    from earshot.agents.echo_depth import load_checkpoint
    from earshot.av_env.metrics import DEPTH_METRICS, DepthMetrics
    from train_echo_depth import data_folder, device_of

    if args.samples < 1:
        raise ValueError(f"--samples must be at least 1, got {args.samples}")
    device = device_of(args.device)
    nets = []
    for path in args.checkpoint:
        net, meta = load_checkpoint(path, device)
        folder = Path(path)
        chosen = [folder / "checkpoints" / n for n in ("best", "latest") if (folder / "checkpoints" / n).exists()]
        prior_file = (chosen[0] if chosen else folder) / "mean_depth.npy"
        prior = np.load(prior_file, allow_pickle=False) if prior_file.exists() else None
        nets.append((str(path), net, meta, prior))
    size = nets[0][1].size
    if any(n.size != size for _, n, _, _ in nets):
        raise ValueError("the checkpoints predict maps of different sizes; evaluate them separately")
    folder = Path(args.data) if args.data else data_folder(args.split, args.samples, size)
    if not args.data:
        echo_dataset(folder, args.split, args.samples, size, workers=args.workers)
    data = load_echo_data(folder)
    if data.depth.shape[1] != size:
        raise ValueError(f"the dataset's depth maps are {data.depth.shape[1]} px, the model predicts {size} px")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    models, predictions = {}, {}
    for path, net, meta, _ in nets:
        pred = predict(net, data, device=device)
        m = DepthMetrics(max_depth=net.max_depth)
        m.update(pred, data.depth)
        models[path] = dict(m.compute(), model=meta["model"], epoch=meta.get("epoch"))
        predictions[path] = pred
    summary = {k: models[nets[0][0]][k] for k in DEPTH_METRICS}
    summary.update(model=nets[0][2]["model"], split=args.split, samples=len(data), data=str(folder), models=models)
    prior = nets[0][3]
    if prior is not None:
        b = DepthMetrics(max_depth=nets[0][1].max_depth)
        b.update(np.broadcast_to(prior, data.depth.shape), data.depth)
        summary["mean_depth_baseline"] = b.compute()
        summary["rmse_vs_baseline"] = summary["rmse"] / summary["mean_depth_baseline"]["rmse"]
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{'model':<28} " + " ".join(f"{k:>7}" for k in DEPTH_METRICS))
    rows = [(f"{meta['model']} ({Path(path).name})", models[path]) for path, _, meta, _ in nets]
    if prior is not None:
        rows.append(("mean depth (baseline)", summary["mean_depth_baseline"]))
    for name, m in rows:
        print(f"{name:<28} " + " ".join(f"{m[k]:7.3f}" for k in DEPTH_METRICS))
    if args.figure:
        _figure(out / "examples.png", data, nets, predictions, prior)
    print(f"wrote {out / 'summary.json'}")
    return 0


def _figure(path: Path, data, nets, predictions, prior) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

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
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

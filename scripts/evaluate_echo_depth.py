"""Evaluate echo -> depth networks on held-out scenes: RMSE, REL, log10, MAE and δ < 1.25^k over
every valid pixel of the split's echo dataset (made on first use), next to the mean-depth
baseline (each pixel's mean depth over the training data). Writes OUT/summary.json (the first
checkpoint's metrics at the top level, every model under "models", the baseline under
"mean_depth_baseline") and, with --figure, OUT/examples.png of predicted against true depth.

  python scripts/evaluate_echo_depth.py --checkpoint runs/echo --split test --out runs/echo/test
  python scripts/evaluate_echo_depth.py --checkpoint runs/echo runs/rgb runs/fusion --out runs/compare --figure
"""

import sys

from earshot.agents.echo_evaluation import evaluate_echo_depth
from earshot.cli import parser_for
from earshot.scenes.splits import SPLITS


def main(argv=None) -> int:
    p = parser_for(__doc__)
    p.add_argument("--checkpoint", nargs="+", required=True, help="run folders of train_echo_depth.py (or checkpoint folders)")
    p.add_argument("--split", default="test", choices=tuple(SPLITS), help="split to evaluate on: train, val, test or extra (default: test)")
    p.add_argument("--samples", type=int, default=2_000, help="samples of the split's echo dataset, >= 1 (default: 2000)")
    p.add_argument("--data", default="", help="an echo dataset folder instead of the split's (default: outputs/echo_data/...)")
    p.add_argument("--out", required=True, help="folder for summary.json (and examples.png)")
    p.add_argument("--figure", action="store_true", help="draw OUT/examples.png")
    p.add_argument("--workers", type=int, default=2, help="processes making the dataset (default: 2)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="torch device: auto (cuda when available), cpu or cuda (default: auto)")
    args = p.parse_args(argv)
    try:
        evaluate_echo_depth(args.checkpoint, args.out, split=args.split, samples=args.samples, data=args.data,
                            figure=args.figure, workers=args.workers, device=args.device)
        return 0
    except (ValueError, FileNotFoundError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""Draw a few samples of an earshot dataset into one PNG: per sample its RGB view and depth (when
stored), the first 60 ms of the binaural RIR (left and right ear, with the direct path's
expected arrival d/c marked) and the spectrogram of each ear.

  python scripts/plot_dataset.py outputs/dataset --out outputs/dataset/samples.png --samples 4
"""

import json
import sys

from earshot.agents.dataset_figure import dataset_figure
from earshot.cli import parser_for


def main(argv=None) -> int:
    p = parser_for(__doc__)
    p.add_argument("dataset", help="dataset folder (with manifest.json)")
    p.add_argument("--out", default=None, help="PNG path (default: DATASET/samples.png)")
    p.add_argument("--samples", type=int, default=4, help="how many samples, spread over the dataset (default: 4)")
    args = p.parse_args(argv)
    try:
        out, picks = dataset_figure(args.dataset, args.out, args.samples)
    except (ImportError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out.resolve()} ({len(picks)} samples: {json.dumps([int(i) for i in picks])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

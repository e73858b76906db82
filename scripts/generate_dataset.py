"""Generate a synthetic binaural dataset from the scenes of a split (or your meshes): per sample
the binaural RIR, the binaural audio of a built-in sound, its spectrogram, optionally RGB-D at
the listener, poses, distances, direction of arrival and metadata. Written as WebDataset-style
tar shards plus DIR/manifest.json (per-shard SHA-256). Deterministic: the same options give
byte-identical shards on any number of workers. Resumable: rerun the same command after an
interruption and finished shards are verified and kept, the rest made.

  python scripts/generate_dataset.py --split test --samples 2000 --out outputs/dataset --seed 0
  python scripts/generate_dataset.py --verify outputs/dataset

The schema and a training-loop example are in docs/datasets.md.
"""

import sys

from earshot.datasets.cli import main

if __name__ == "__main__":
    sys.exit(main(description=__doc__))

"""Train the learned semantic sensor: a small CNN labelling each pixel of an RGB-D frame with
the category of the object it shows, on views of the train split's apartments against the
``semantic`` sensor's labels, scored on the val split's (per-category IoU) after every epoch.
The views are rendered once per run folder (data_*.npz); the network, with its val scores, goes
to RUN/segmenter, which ``scripts/train.py --segmenter RUN`` gives an agent in place of the
privileged ``semantic`` sensor (earshot.agents.segmenter).

  python scripts/train_segmenter.py --run-dir runs/segmenter
  python scripts/train_segmenter.py --scenes 20 --per-scene 10 --val-scenes 5 --epochs 1 --run-dir runs/seg_smoke
"""

from earshot.agents.segmenter import SegmenterConfig, train_segmenter
from earshot.cli import run_script

if __name__ == "__main__":
    run_script(train_segmenter, SegmenterConfig, __doc__)

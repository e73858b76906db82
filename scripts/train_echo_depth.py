"""Train an echo -> depth network (VisualEchoes-style): echo-only, RGB-only or RGB + echo fusion,
on the echo dataset of a split (made on first use: NavGraph nodes x 4 orientations of the split's
apartments, a chirp's binaural echo, the view and the depth there). TensorBoard logs, val metrics
after every epoch, checkpoints (state dicts + meta.json, read back with weights_only=True):
checkpoints/epoch_N, latest, and best (the lowest val RMSE so far, what evaluation of the run
folder uses); rerunning the same command resumes from the latest checkpoint.

  python scripts/train_echo_depth.py --split train --epochs 10 --run-dir runs/echo --model echo
  python scripts/evaluate_echo_depth.py --checkpoint runs/echo --split test --out runs/echo/test
"""

from earshot.agents.echo_training import EchoDepthConfig, train_echo_depth
from earshot.cli import run_script

if __name__ == "__main__":
    run_script(train_echo_depth, EchoDepthConfig, __doc__)

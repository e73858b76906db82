"""Train an audio-visual navigation agent (AV-Nav recipe: per-modality CNNs, a GRU state, PPO)
on earshot's train scenes with DD-PPO: one process is plain PPO, torchrun starts more ranks.

    python scripts/train.py --task earshot/AudioGoal-v0 --total-steps 200000 --run-dir runs/audiogoal
    torchrun --nproc-per-node 2 scripts/train.py --total-steps 200000 --run-dir runs/audiogoal2

Writes under the run folder: ``config.json`` (the resolved options), ``tb/`` (TensorBoard),
``checkpoints/step_NNNNNNNNNN/``, ``checkpoints/latest/`` (safe format, see
``earshot.agents.checkpoints``) and ``eval.csv`` (val evaluations). Rerunning the same command on
an existing run folder resumes from its newest checkpoint (weights, optimizer, step counter) up
to ``--total-steps``, with the same or another number of ranks. The training loop is
``earshot.agents.training.train``.
"""

from earshot.agents.training import TrainConfig, train
from earshot.cli import run_script

if __name__ == "__main__":
    run_script(train, TrainConfig, __doc__, "interrupted: the last checkpoint is kept; rerun the same command to resume")

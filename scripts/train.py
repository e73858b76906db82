"""Train an audio-visual navigation agent (AV-Nav recipe: per-modality CNNs, a recurrent state,
PPO) on earshot's train scenes, with SubprocVecEnv workers on disjoint scene subsets.

    python scripts/train.py --task earshot/AudioGoal-v0 --total-steps 200000 --n-envs 2 --run-dir runs/audiogoal

Writes under the run folder: ``config.json`` (the resolved options), ``tb/`` (TensorBoard:
SB3's ``train/…`` and ``rollout/…``, plus ``eval/success`` and ``eval/spl`` on the val split),
``checkpoints/step_NNNNNNNNN/`` and ``checkpoints/latest/`` (safe format, see
``earshot.agents.ppo``) and ``eval.csv``. Rerunning the same command on an existing run folder
resumes from ``checkpoints/latest`` (weights, optimizer, step counter) up to ``--total-steps``.
The training loop is ``earshot.agents.training.train``.
"""

from earshot.agents.training import TrainConfig, train
from earshot.cli import run_script

if __name__ == "__main__":
    run_script(train, TrainConfig, __doc__.split("\n\n")[0], "interrupted: the last checkpoint is kept; rerun the same command to resume")

"""``python -m earshot.agents.ddppo`` / ``torchrun ... -m earshot.agents.ddppo``: the same as
``scripts/train.py`` (``earshot.agents.training``), for installs without the scripts."""

from ...cli import run_script
from ..training import TrainConfig, train

if __name__ == "__main__":
    run_script(train, TrainConfig, "Train a navigation agent with DD-PPO (torchrun for more than one rank).",
               "interrupted: the last checkpoint is kept; rerun the same command to resume")

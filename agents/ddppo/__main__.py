"""``python -m earshot.agents.ddppo`` / ``torchrun ... -m earshot.agents.ddppo``: train with DD-PPO."""

from ...cli import run_script
from .config import DDPPOConfig
from .trainer import train


def main(config: DDPPOConfig) -> None:
    train(config)


if __name__ == "__main__":
    run_script(main, DDPPOConfig, "Train a navigation agent with DD-PPO (torchrun for more than one rank).")

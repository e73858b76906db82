"""earshot.agents — audio-visual navigation agents on stable-baselines3.

- ``extractor.AVNavExtractor``: AV-Nav's per-modality encoders (a CNN per visual key, a CNN
  shaped for the binaural spectrogram, an MLP per vector key), fused by concatenation.
- ``ppo``: PPO / RecurrentPPO models with AV-Nav's hyper-parameters, checkpoints in a safe
  format (JSON + ``torch.load(weights_only=True)``), ``PolicyActor`` to act in one env.
- ``evaluation``: fixed held-out episodes, baselines (random, forward, oracle), metrics with
  95% confidence intervals.

Needs the ``agents`` extra (torch, stable-baselines3, sb3-contrib, tensorboard):
``pip install 'earshot[agents]'``. Modules are imported on first use, so ``import earshot``
works without them.
"""

import importlib

__all__ = ["AVNavExtractor", "PolicyActor", "load_policy", "make_model", "pretrained_agents", "save_checkpoint"]

_WHERE = {"AVNavExtractor": "extractor", "PolicyActor": "ppo", "load_policy": "ppo", "make_model": "ppo",
          "save_checkpoint": "ppo", "pretrained_agents": "ppo"}


def __getattr__(name):
    if name in _WHERE:
        try:
            return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        except ImportError as exc:
            raise ImportError(f"earshot.agents.{name} needs the agents extra ({exc.name} is missing): "
                              "pip install 'earshot[agents]'") from exc
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

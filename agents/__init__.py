"""earshot.agents — audio-visual navigation agents on stable-baselines3.

- ``extractor.AVNavExtractor``: AV-Nav's per-modality encoders (a CNN per visual key, a CNN
  shaped for the binaural spectrogram, an MLP per vector key), fused by concatenation.
- ``kinds``: the agent kinds (feed-forward ``ppo``, ``recurrent-ppo``, ``waypoint``) behind one
  interface: policy, env wrapper, oracle labels, actor, step counting, what each supports.
- ``ppo``: models of every kind with AV-Nav's hyper-parameters, checkpoints in a safe format
  (JSON + ``torch.load(weights_only=True)``); ``actors``: ``PolicyActor`` and kin, to act in one env.
- ``training``: the training loop (``TrainConfig``, ``train``): PPO workers, the DAgger warm
  start (``imitation``), checkpoints and val evaluations.
- ``evaluation``: fixed held-out episodes, baselines (random, forward, oracle), metrics with
  95% confidence intervals, and the evaluation run (``EvalConfig``, ``evaluate``).
- ``waypoint`` (the wrapper) and ``maps`` (its maps and planner): the AV-WaN-style agent.

Needs the ``agents`` extra (torch, stable-baselines3, sb3-contrib, tensorboard):
``pip install 'earshot[agents]'``. Modules are imported on first use, so ``import earshot``
works without them.
"""

import importlib

__all__ = ["AGENT_KINDS", "AVNavExtractor", "AgentKind", "EvalConfig", "PolicyActor", "TrainConfig", "agent_kind",
           "evaluate", "load_policy", "make_model", "pretrained_agents", "save_checkpoint", "train"]

_WHERE = {"AVNavExtractor": "extractor", "PolicyActor": "actors", "load_policy": "ppo", "make_model": "ppo",
          "save_checkpoint": "ppo", "pretrained_agents": "ppo", "AGENT_KINDS": "kinds", "AgentKind": "kinds",
          "agent_kind": "kinds", "TrainConfig": "training", "train": "training", "EvalConfig": "evaluation",
          "evaluate": "evaluation"}


def __getattr__(name):
    if name in _WHERE:
        try:
            return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        except ImportError as exc:
            raise ImportError(f"earshot.agents.{name} needs the agents extra ({exc.name} is missing): "
                              "pip install 'earshot[agents]'") from exc
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""earshot.agents — audio-visual navigation agents, trained with DD-PPO on torch.distributed.

- ``extractor.AVNavExtractor``: AV-Nav's per-modality encoders (a CNN per visual key, a CNN
  shaped for the binaural spectrogram, an MLP per vector key), fused by concatenation.
- ``kinds``: the agent kinds (feed-forward ``ppo``, ``recurrent-ppo``, ``waypoint``) behind one
  interface: policy, env wrapper, oracle labels, actor, step counting, what each supports.
- ``ddppo``: the trainer (DD-PPO, Wijmans et al. 2020: one process is plain PPO, ``torchrun``
  starts more) and its ``ActorCritic`` (the extractor, an optional GRU, action masks);
- ``training``: its options and entry point (``TrainConfig``, ``train``): the DAgger warm start
  (``imitation``), checkpoints, TensorBoard and val evaluations;
- ``checkpoints``: one safe format for every kind (JSON + ``torch.load(weights_only=True)``) and
  the shipped agents; ``actors.PolicyActor``: a trained policy acting in one env.
- ``evaluation``: fixed held-out episodes, baselines (random, forward, oracle), metrics with
  95% confidence intervals, and the evaluation run (``EvalConfig``, ``evaluate``).
- ``waypoint`` (the wrapper) and ``maps`` (its maps and planner): the AV-WaN-style agent.

Needs the ``agents`` extra (torch, stable-baselines3 for the extractor's base class and as a
consumer of the envs, tensorboard):
``pip install 'earshot[agents]'``. Modules are imported on first use, so ``import earshot``
works without them.
"""

import importlib

__all__ = ["AGENT_KINDS", "AVNavExtractor", "AgentKind", "EvalConfig", "PolicyActor", "TrainConfig", "agent_kind",
           "evaluate", "load_policy", "pretrained_agents", "save_checkpoint", "train"]

_WHERE = {"AVNavExtractor": "extractor", "PolicyActor": "actors", "load_policy": "checkpoints",
          "save_checkpoint": "checkpoints", "pretrained_agents": "checkpoints", "AGENT_KINDS": "kinds", "AgentKind": "kinds",
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

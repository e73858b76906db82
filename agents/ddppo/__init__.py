"""DD-PPO on ``torch.distributed`` (Wijmans et al., ICLR 2020): one trainer from a world of 1
(plain PPO, no process group) to many ranks on many machines, launched by ``torchrun``.

Each rank steps its own envs on a disjoint shard of the train scenes, runs its own policy
forward passes, computes GAE and the clipped PPO loss on its own rollout and averages gradients
with an all-reduce (gloo on CPU, NCCL on ``cuda:LOCAL_RANK``); stragglers are preempted once a
fraction of the ranks has finished its rollout. Rank 0 writes atomic, resumable checkpoints.

- ``config.DDPPOConfig``: the options; ``trainer.DDPPOTrainer`` / ``train``: the loop;
- ``policy.ActorCritic``: the AV-Nav extractor + optional GRU + actor/critic heads, action masks;
- ``rollout.Rollout``: storage, GAE, minibatches (whole env sequences for the GRU);
- ``distributed``: the world, gradient averaging, broadcasts, ``Preemption``;
- ``checkpoint``: ``RUN/checkpoints/step_N/`` (``policy.pt``, ``optimizer.pt``, ``meta.json``).

Command line::

    python -m earshot.agents.ddppo --task earshot/PointGoal-v0 --total-steps 2000       # one rank
    torchrun --nproc-per-node 2 -m earshot.agents.ddppo --task earshot/PointGoal-v0 ...  # two
    torchrun --nnodes 2 --node-rank K --rdzv-backend c10d --rdzv-endpoint HOST:PORT \\
        --nproc-per-node 1 -m earshot.agents.ddppo ...                                  # two machines
"""

from .config import DDPPOConfig
from .trainer import DDPPOTrainer, train

__all__ = ["DDPPOConfig", "DDPPOTrainer", "train"]

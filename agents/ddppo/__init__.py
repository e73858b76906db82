"""DD-PPO on ``torch.distributed`` (Wijmans et al., ICLR 2020): one trainer from a world of 1
(plain PPO, no process group) to many ranks on many machines, launched by ``torchrun``.

Each rank steps its own envs on a disjoint shard of the train scenes, runs its own policy
forward passes, computes GAE and the clipped PPO loss on its own rollout and averages gradients
with an all-reduce (gloo on CPU, NCCL on ``cuda:LOCAL_RANK``); stragglers are preempted once a
fraction of the ranks has finished its rollout. Rank 0 writes atomic, resumable checkpoints.

- ``trainer.DDPPOTrainer`` / ``train``: the loop, on ``earshot.agents.training.TrainConfig``
  (the warm start, checkpoints, TensorBoard and val evaluations included);
- ``policy.ActorCritic``: the AV-Nav extractor + optional GRU + actor/critic heads, action masks;
- ``rollout.Rollout``: storage, GAE, minibatches (whole env sequences for the GRU);
- ``distributed``: the world, gradient averaging, broadcasts, ``Preemption``;
- ``anchor``: PPO's optional KL term towards the policy it started from (``--anchor-coef``);

Checkpoints are ``earshot.agents.checkpoints``'s (one format for every agent kind).

Command line::

    python scripts/train.py --total-steps 200000                      # one rank: plain PPO
    torchrun --nproc-per-node 2 scripts/train.py --total-steps 200000 # two ranks on one machine
    torchrun --nnodes 2 --node-rank K --rdzv-backend c10d --rdzv-endpoint HOST:PORT \\
        --nproc-per-node 1 scripts/train.py ...                       # two machines

(``python -m earshot.agents.ddppo`` takes the same options, for installs without the scripts.)
"""

from .trainer import DDPPOTrainer, train

__all__ = ["DDPPOTrainer", "train"]

"""The ``torch.distributed`` side of DD-PPO: the world a rank runs in (rank, world size, device,
process group, a shared key-value store), gradient averaging, the broadcasts that start every
rank from rank 0's state, and straggler preemption.

A world of 1 (no ``WORLD_SIZE`` above 1 in the environment) makes no process group: every
collective is the identity, and DD-PPO is plain PPO. Otherwise ``torchrun`` (or anything that
sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` and ``LOCAL_RANK``) starts the
ranks: the store comes from the ``env://`` rendezvous (torchrun's agent store when it hosts one),
and the process group (gloo on CPU, NCCL with ``cuda:LOCAL_RANK``) is made on it under a prefix.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class World:
    """Where this rank runs: ``rank`` of ``size``, its ``device`` and the shared ``store``
    (None in a world of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    store: object = None
    launch: str = ""  # an id shared by the ranks of one launch (store keys of a restart differ)

    @property
    def distributed(self) -> bool:
        return self.size > 1


def select_device(option: str, local_rank: int) -> torch.device:
    """``auto``: ``cuda:LOCAL_RANK`` when CUDA is there, else the CPU; ``cuda``: required."""
    if option == "cpu" or (option == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("argument --device: cuda was asked for, but torch finds no CUDA device")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def init_world(device: str = "auto", timeout_s: float = 1800.0) -> World:
    """The world of this process, from torchrun's environment variables."""
    from datetime import timedelta

    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    dev = select_device(device, local_rank)
    if size <= 1:
        return World(device=dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    store, rank, size = next(dist.rendezvous("env://", timeout=timedelta(seconds=timeout_s)))
    store.set_timeout(timedelta(seconds=timeout_s))
    backend = "nccl" if dev.type == "cuda" else "gloo"
    dist.init_process_group(backend, store=dist.PrefixStore("ddppo/pg", store), rank=rank, world_size=size,
                            timeout=timedelta(seconds=timeout_s))
    launch = [os.urandom(8).hex()]
    dist.broadcast_object_list(launch, src=0)
    return World(rank, size, local_rank, dev, dist.PrefixStore("ddppo/counters", store), launch[0])


def close_world(world: World, timeout_s: float = 60.0) -> None:
    """Tear the process group down with rank 0 last: without torchrun's agent, the rendezvous
    store lives in rank 0's process, and a rank whose process group is torn down after that
    store is gone aborts ("terminate called without an active exception")."""
    if not (world.distributed and dist.is_initialized()):
        return
    import time

    dist.barrier()
    key = f"closed/{world.launch}"
    if world.rank != 0:
        dist.destroy_process_group()
        world.store.add(key, 1)
        return
    deadline = time.monotonic() + timeout_s
    while world.store.add(key, 0) < world.size - 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    dist.destroy_process_group()


def broadcast_module(module: torch.nn.Module, world: World) -> None:
    """Every rank's parameters and buffers become rank 0's."""
    if not world.distributed:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        dist.broadcast(tensor.data, src=0)


def broadcast_object(value, world: World):
    """Rank 0's ``value`` (a JSON-like object or a state dict) on every rank (sent between this
    run's own processes; nothing is read from a file)."""
    if not world.distributed:
        return value
    box = [value if world.rank == 0 else None]
    dist.broadcast_object_list(box, src=0, device=world.device if world.device.type == "cuda" else None)
    return box[0]


def average_gradients(params, world: World) -> None:
    """Each parameter's gradient becomes the mean over the ranks (one flat all-reduce; a missing
    gradient counts as zeros, so every rank sends the same layout)."""
    if not world.distributed:
        return
    params = list(params)
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def all_sum(values: list[float], world: World) -> list[float]:
    """Element-wise sums of ``values`` over the ranks (float64)."""
    t = torch.tensor(values, dtype=torch.float64, device=world.device if world.device.type == "cuda" else "cpu")
    if world.distributed:
        dist.all_reduce(t)
    return t.tolist()


def all_gather_floats(values: list[float], world: World) -> list[list[float]]:
    """``values`` of every rank, by rank."""
    if not world.distributed:
        return [list(values)]
    t = torch.tensor(values, dtype=torch.float64, device=world.device if world.device.type == "cuda" else "cpu")
    out = [torch.zeros_like(t) for _ in range(world.size)]
    dist.all_gather(out, t)
    return [o.tolist() for o in out]


def parameter_hash(module: torch.nn.Module) -> str:
    """SHA-256 of the parameters' bytes in order (equal on ranks that hold equal weights)."""
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class Preemption:
    """DD-PPO's straggler preemption: a rank stops collecting its rollout once ``fraction`` of
    the ranks have finished theirs, but not before ``min_share`` of its own ``n_steps``. The
    count of finished ranks is a counter in the shared store (``add``: one round trip, no
    collective), one key per update. Off (``enabled=False`` or a world of 1): every rank
    collects exactly ``n_steps``."""

    def __init__(self, world: World, n_steps: int, fraction: float = 0.6, min_share: float = 0.25,
                 enabled: bool = True, prefix: str = ""):
        self.world, self.n_steps, self.prefix = world, n_steps, prefix
        self.enabled = bool(enabled) and world.distributed
        self.needed = max(1, math.ceil(fraction * world.size))
        self.min_steps = max(1, math.ceil(min_share * n_steps))

    def _key(self, update: int) -> str:
        return f"{self.prefix}/done/{update}"

    def should_stop(self, update: int, steps: int) -> bool:
        """After ``steps`` steps of update ``update``'s rollout: stop now?"""
        if steps >= self.n_steps:
            return True
        if not self.enabled or steps < self.min_steps:
            return False
        return self.world.store.add(self._key(update), 0) >= self.needed

    def finished(self, update: int) -> None:
        """This rank finished (or stopped) its rollout of ``update``."""
        if self.enabled:
            self.world.store.add(self._key(update), 1)


__all__ = ["Preemption", "World", "all_gather_floats", "all_sum", "average_gradients", "broadcast_module",
           "broadcast_object", "close_world", "init_world", "parameter_hash", "select_device"]

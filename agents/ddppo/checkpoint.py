"""DD-PPO checkpoints: ``RUN/checkpoints/step_NNNNNNNNNN/`` folders written by rank 0, each whole
or absent (``earshot.files.write_dir_atomic``), the newest ``keep`` kept.

A folder holds ``policy.pt`` and ``optimizer.pt`` (state dicts, read with
``torch.load(weights_only=True)``) and ``meta.json`` (format, the config, the world size that
wrote it, env steps and updates so far, the observation keys and shapes, the actions). A run
resumes from its newest readable folder with any world size.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from ...files import write_dir_atomic

FORMAT = "earshot-ddppo-1"


def checkpoint_dirs(run_dir: str | Path) -> list[Path]:
    """The run's checkpoint folders with a ``meta.json``, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step_*") if p.is_dir() and (p / "meta.json").is_file())


def save(run_dir: str | Path, policy, optimizer, meta: dict, keep: int = 2) -> Path:
    """Write a checkpoint of ``policy`` and ``optimizer`` with ``meta`` (JSON values; its
    ``steps`` names the folder); older folders beyond the newest ``keep`` are removed."""
    info = {**meta, "format": FORMAT,
            "observation": {k: [list(s.shape), str(s.dtype)] for k, s in policy.env_space.spaces.items()},
            "actions": policy.n_actions}

    def fill(tmp: Path) -> None:
        torch.save({k: v.detach().cpu() for k, v in policy.state_dict().items()}, tmp / "policy.pt")
        torch.save(_to_cpu(optimizer.state_dict()), tmp / "optimizer.pt")
        (tmp / "meta.json").write_text(json.dumps(info, indent=2, sort_keys=True))

    path = write_dir_atomic(Path(run_dir) / "checkpoints" / f"step_{int(meta['steps']):010d}", fill)
    for old in checkpoint_dirs(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return path


def load(path: Path) -> tuple[dict, dict, dict]:
    """(meta, policy state dict, optimizer state dict) of a checkpoint folder, on the CPU."""
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} has format {meta.get('format')!r}, expected {FORMAT!r}")
    policy = torch.load(path / "policy.pt", map_location="cpu", weights_only=True)
    optimizer = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
    return meta, policy, optimizer


def load_latest(run_dir: str | Path):
    """(meta, policy state, optimizer state, path) of the newest readable checkpoint, or None."""
    for path in reversed(checkpoint_dirs(run_dir)):
        try:
            meta, policy, optimizer = load(path)
        except (ValueError, OSError, RuntimeError, json.JSONDecodeError) as exc:
            print(f"skipping unreadable checkpoint {path} ({type(exc).__name__}: {exc})", flush=True)
            continue
        return meta, policy, optimizer, path
    return None


def check_compatible(meta: dict, policy) -> None:
    """Raise ValueError when a checkpoint was made for other observations or actions."""
    have = {k: list(s.shape) for k, s in policy.env_space.spaces.items()}
    want = {k: v[0] for k, v in meta["observation"].items()}
    if have != want or int(meta["actions"]) != policy.n_actions:
        raise ValueError(f"the run's checkpoint was trained on observations {want} with {meta['actions']} actions; "
                         f"the env gives {have} with {policy.n_actions}: resume with the same task and env kwargs")


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


__all__ = ["FORMAT", "check_compatible", "checkpoint_dirs", "load", "load_latest", "save"]

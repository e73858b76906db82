"""Reading saved weights safely: tensors only (``torch.load(weights_only=True)``), one clear
error when a file is missing or corrupt. Agents' checkpoints and the segmenter's folder use it."""

from __future__ import annotations

from pathlib import Path


def load_tensors(path: Path, device="cpu") -> dict:
    """A ``.pt`` file of a checkpoint, tensors only; one clear error when it is missing or corrupt."""
    import torch

    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {str(path)!r} is missing")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # truncated or tampered: weights_only refuses anything but tensors
        raise ValueError(f"{str(path)!r} could not be read as weights ({type(exc).__name__}: {exc}); "
                         "use another checkpoint of the run") from exc


__all__ = ["load_tensors"]

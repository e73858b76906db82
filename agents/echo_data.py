"""Echo-depth data for training and evaluation: an echo dataset (``earshot.datasets``, kind
"echo") made when missing, loaded into memory as waveforms, views and depth maps; echo
spectrograms are computed per batch (torch, the same numbers as the env's ``echo``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass
class EchoData:
    echo: np.ndarray  # (N, 2, n) float32 waveforms
    rgb: np.ndarray  # (N, H, W, 3) uint8
    depth: np.ndarray  # (N, H, W) float32 metres, 0 where nothing is hit
    config: object  # the AudioConfig of the echoes
    folder: Path

    def __len__(self) -> int:
        return len(self.depth)

    def batch(self, index, device="cpu") -> dict[str, torch.Tensor]:
        from ..acoustics.echo import echo_spectrogram

        wave = torch.as_tensor(self.echo[index], device=device)
        spec = echo_spectrogram(wave, self.config, backend="torch")
        return {"echo": spec, "rgb": torch.as_tensor(self.rgb[index], device=device),
                "depth": torch.as_tensor(self.depth[index], device=device)}


def echo_dataset(folder, split: str, samples: int, resolution: int, seed: int = 0, workers: int = 1,
                 shard_size: int = 100, progress: bool = True) -> Path:
    """The folder of the echo dataset for these settings, made (or finished) if its manifest is
    not complete: ``folder``, or, when ``folder`` holds a dataset made with other settings (an
    option or an earshot default changed), a sibling named after the settings' hash, so that
    nothing generated before is deleted (a line says which folder is used and why)."""
    import hashlib
    import json

    from ..datasets import DatasetSpec, generate, read_manifest
    from ..datasets.manifest import differences

    folder = Path(folder)
    spec = DatasetSpec(kind="echo", split=split, samples=samples, shard_size=shard_size, seed=seed,
                       resolution=resolution, renderer="raycast")
    wanted = {"config": spec.to_dict(), "audio_config": spec.audio_config().to_dict()}
    if (folder / "manifest.json").exists():
        manifest = read_manifest(folder)
        found = {"config": manifest["config"], "audio_config": manifest.get("audio_config")}
        if found != wanted:
            digest = hashlib.sha256(json.dumps(wanted, sort_keys=True, default=str).encode()).hexdigest()[:8]
            changed = differences(found["config"], wanted["config"]) + differences(found["audio_config"] or {},
                                                                                   wanted["audio_config"])
            other = folder.with_name(f"{folder.name}-{digest}")
            print(f"{folder} holds echo data made with other settings ({'; '.join(changed[:4])}); it is kept, "
                  f"and these settings use {other}")
            return echo_dataset(other, split, samples, resolution, seed, workers, shard_size, progress)
        if manifest.get("complete"):
            return folder
    generate(spec, folder, workers=workers, bar=progress)  # made, or finished where a run stopped
    return folder


def load_echo_data(folder, limit: int | None = None) -> EchoData:
    """Every sample of an echo dataset folder, in memory."""
    from ..datasets import BinauralDataset

    data = BinauralDataset(folder, fields=["echo", "rgb", "depth"])
    if data.manifest["config"].get("kind") != "echo":
        raise ValueError(f"{str(folder)!r} is not an echo dataset (make one with scripts/generate_dataset.py --kind echo)")
    n = len(data) if limit is None else min(limit, len(data))
    first = data[0]
    echo = np.empty((n,) + first["echo"].shape, np.float32)
    rgb = np.empty((n,) + first["rgb"].shape, np.uint8)
    depth = np.empty((n,) + first["depth"].shape, np.float32)
    for i in range(n):
        s = data[i]
        echo[i], rgb[i], depth[i] = s["echo"], s["rgb"], s["depth"]
    data.close()
    from ..acoustics import AudioConfig

    cfg = AudioConfig(**data.manifest["audio_config"])
    return EchoData(echo, rgb, depth, cfg, Path(folder))


def mean_depth(depth: np.ndarray) -> np.ndarray:
    """(H, W) the mean depth per pixel over the maps where it is valid (> 0): the mean-depth baseline."""
    valid = depth > 0
    total = np.where(valid, depth, 0.0).sum(axis=0)
    count = valid.sum(axis=0)
    overall = float(depth[valid].mean()) if valid.any() else 1.0
    return np.where(count > 0, total / np.maximum(count, 1), overall).astype(np.float32)


def predict(net, data: EchoData, batch_size: int = 64, device="cpu") -> np.ndarray:
    """(N, H, W) metres predicted for every sample."""
    out = []
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            b = data.batch(np.arange(start, min(start + batch_size, len(data))), device)
            out.append(net(echo=b["echo"], rgb=b["rgb"]).cpu().numpy())
    return np.concatenate(out)

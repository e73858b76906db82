"""Training an echo -> depth network (VisualEchoes-style): echo-only, RGB-only or RGB + echo
fusion, on the echo dataset of a split (made on first use). ``scripts/train_echo_depth.py`` is
its CLI; see it for what a run folder holds."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import jobs
from ..cli import option, save_config
from ..files import write_text_atomic


@dataclass
class EchoDepthConfig:
    split: str = option("train", "split to train on", choices=("train", "val", "test"))
    epochs: int = option(10, "passes over the training data", low=1, high=10_000)
    run_dir: str = option("runs/echo_depth", "run folder (config, TensorBoard, checkpoints)", nonempty=True)
    model: str = option("echo", "echo (echoes only), rgb (image only) or fusion (both)", choices=("echo", "rgb", "fusion"))
    data: str = option("", "echo dataset folder (default: outputs/echo_data/SPLIT-SAMPLES-RESOLUTION, made if missing)")
    samples: int = option(16_000, "training samples (when the dataset is made here)", low=1)
    val_samples: int = option(1_000, "val-split samples evaluated after every epoch (0: none)", low=0)
    resolution: int = option(32, "depth map side in pixels (a power of 2)", choices=(16, 32, 64, 128))
    batch_size: int = option(32, "samples per update", low=1)
    learning_rate: float = option(1e-3, "Adam learning rate", low=0.0)
    width: int = option(16, "channels of the first convolution (the network's width)", low=4, high=256)
    workers: int = option(2, "processes making the dataset", low=1, high=256)
    seed: int = option(0, "seed of the initial weights and the batch order", low=0)
    device: str = option("auto", "auto (cuda when available), cpu or cuda", choices=("auto", "cpu", "cuda"))
    torch_threads: int = option(0, "CPU threads of torch (0: its default, one per core)", low=0, high=256)
    progress: bool = option(True, "progress bars")


def data_folder(split: str, samples: int, resolution: int) -> Path:
    return Path("outputs/echo_data") / f"{split}-{samples}-{resolution}"


def device_of(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    return torch.device(name)


def evaluate(net, data, device, batch_size: int = 64) -> dict:
    from ..av_env.metrics import DepthMetrics
    from .echo_data import predict

    net.eval()
    m = DepthMetrics(max_depth=net.max_depth)
    m.update(predict(net, data, batch_size, device), data.depth)
    net.train()
    return m.compute()


def _datasets(cfg: EchoDepthConfig):
    """(training data, its folder, val data or None): read, or made first where no --data is given."""
    from .echo_data import echo_dataset, load_echo_data

    folder = Path(cfg.data) if cfg.data else data_folder(cfg.split, cfg.samples, cfg.resolution)
    if cfg.data and not (folder / "manifest.json").exists():
        raise FileNotFoundError(f"--data {cfg.data!r} holds no dataset (no manifest.json); leave --data out to make one")
    if not cfg.data:
        folder = echo_dataset(folder, cfg.split, cfg.samples, cfg.resolution, workers=cfg.workers,
                              progress=cfg.progress)
    train = load_echo_data(folder)
    if train.depth.shape[1] != cfg.resolution:
        raise ValueError(f"the dataset's depth maps are {train.depth.shape[1]} px, but --resolution is {cfg.resolution}")
    val = None
    if cfg.val_samples:
        vfolder = data_folder("val", cfg.val_samples, cfg.resolution)
        vfolder = echo_dataset(vfolder, "val", cfg.val_samples, cfg.resolution, workers=cfg.workers,
                               progress=cfg.progress)
        val = load_echo_data(vfolder)
    return train, folder, val


def _resume(cfg: EchoDepthConfig, run: Path, net, optimizer, device) -> int:
    """Load the run's latest checkpoint into ``net`` and ``optimizer`` (same options only); the
    epochs it had done (0 for a new run)."""
    import torch

    from .echo_depth import load_checkpoint

    latest = run / "checkpoints" / "latest"
    if not (latest / "meta.json").exists():
        return 0
    old, meta = load_checkpoint(latest, device)
    if meta["model"] != cfg.model or meta["size"] != cfg.resolution or meta.get("width") != cfg.width:
        raise ValueError(f"{str(run)!r} holds a {meta['model']} model of {meta['size']} px, width {meta.get('width')}: "
                         "use the same options to resume, or a new --run-dir")
    net.load_state_dict(old.state_dict())
    if (latest / "optimizer.pt").exists():
        optimizer.load_state_dict(torch.load(latest / "optimizer.pt", map_location=device, weights_only=True))
    print(f"resuming {run} after epoch {int(meta['epoch'])}")
    return int(meta["epoch"])


def _save_epoch(run: Path, net, optimizer, meta: dict, prior, history: list[dict]) -> None:
    """The epoch's checkpoint, ``latest``, and ``best`` when its val RMSE is the lowest so far."""
    import numpy as np

    from .echo_depth import save_checkpoint

    epoch = history[-1]["epoch"]
    for folder, opt in ((run / "checkpoints" / f"epoch_{epoch}", optimizer), (run / "checkpoints" / "latest", optimizer)):
        save_checkpoint(folder, net, dict(meta, epoch=epoch, history=history), opt)
        np.save(folder / "mean_depth.npy", prior, allow_pickle=False)
    scores = [h["val_rmse"] for h in history if "val_rmse" in h]
    if scores and history[-1].get("val_rmse") == min(scores):  # model selection on the val split
        best = run / "checkpoints" / "best"
        save_checkpoint(best, net, dict(meta, epoch=epoch, history=history, selected_by="val_rmse"))
        np.save(best / "mean_depth.npy", prior, allow_pickle=False)


def train_echo_depth(cfg: EchoDepthConfig) -> dict:
    """Train (or resume) as configured; returns the run's summary (also ``train_summary.json``).
    ``cfg.torch_threads`` holds only while it trains: the caller's thread count comes back after."""
    with jobs.torch_threads(cfg.torch_threads):
        return _train_echo_depth(cfg)


def _train_echo_depth(cfg: EchoDepthConfig) -> dict:
    import numpy as np
    import torch
    from torch.utils.tensorboard import SummaryWriter
    from .echo_data import mean_depth
    from .echo_depth import EchoDepthNet, masked_l1

    run = Path(cfg.run_dir)
    device = device_of(cfg.device)
    train, folder, val = _datasets(cfg)
    save_config(cfg, run)

    torch.manual_seed(cfg.seed)
    net = EchoDepthNet(cfg.model, cfg.resolution, width=cfg.width).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    prior = mean_depth(train.depth)
    start_epoch = _resume(cfg, run, net, optimizer, device)
    net.train()
    writer = SummaryWriter(str(run / "tb"))
    rng = np.random.default_rng([cfg.seed, start_epoch])
    history = []
    t0 = time.perf_counter()
    meta = {"split": cfg.split, "data": str(folder), "samples": len(train), "config": asdict(cfg),
            "command": " ".join(sys.argv)}
    for epoch in range(start_epoch, cfg.epochs):
        order = rng.permutation(len(train))
        batches = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
        losses = []
        for k, idx in enumerate(jobs.progress(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", enabled=cfg.progress)):
            b = train.batch(np.sort(idx), device)
            loss = masked_l1(net(echo=b["echo"], rgb=b["rgb"]), b["depth"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            writer.add_scalar("train/l1_loss", losses[-1], epoch * len(batches) + k)
        row = {"epoch": epoch + 1, "train_l1": float(np.mean(losses)), "seconds": time.perf_counter() - t0}
        if val is not None:
            metrics = evaluate(net, val, device)
            row.update({f"val_{k}": v for k, v in metrics.items() if k != "pixels"})
            for k, v in metrics.items():
                if k != "pixels":
                    writer.add_scalar(f"val/{k}", v, epoch + 1)
        writer.add_scalar("train/epoch_l1", row["train_l1"], epoch + 1)
        writer.flush()
        history.append(row)
        print(json.dumps(row))
        _save_epoch(run, net, optimizer, meta, prior, history)
    writer.close()
    summary = {"run_dir": str(run), "epochs": cfg.epochs, "history": history, "samples": len(train),
               "seconds": time.perf_counter() - t0}
    write_text_atomic(run / "train_summary.json", json.dumps(summary, indent=1) + "\n")
    print(f"trained {cfg.model} on {len(train)} {cfg.split} samples; checkpoints in {run / 'checkpoints'}")
    return summary


__all__ = ["EchoDepthConfig", "data_folder", "device_of", "evaluate", "train_echo_depth"]

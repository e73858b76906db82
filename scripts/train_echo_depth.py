"""Train an echo -> depth network (VisualEchoes-style): echo-only, RGB-only or RGB + echo fusion,
on the echo dataset of a split (made on first use: NavGraph nodes x 4 orientations of the split's
apartments, a chirp's binaural echo, the view and the depth there). TensorBoard logs, val metrics
after every epoch, checkpoints (state dicts + meta.json, read back with weights_only=True):
checkpoints/epoch_N, latest, and best (the lowest val RMSE so far, what evaluation of the run
folder uses); rerunning the same command resumes from the latest checkpoint.

  python scripts/train_echo_depth.py --split train --epochs 10 --run-dir runs/echo --model echo
  python scripts/evaluate_echo_depth.py --checkpoint runs/echo --split test --out runs/echo/test
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _config import option, run_script, save_config  # noqa: E402


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
    from earshot.agents.echo_data import predict
    from earshot.av_env.metrics import DepthMetrics

    net.eval()
    m = DepthMetrics(max_depth=net.max_depth)
    m.update(predict(net, data, batch_size, device), data.depth)
    net.train()
    return m.compute()


def main(cfg: EchoDepthConfig) -> dict:
    import numpy as np
    import torch
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    from earshot.agents.echo_data import echo_dataset, load_echo_data, mean_depth
    from earshot.agents.echo_depth import EchoDepthNet, load_checkpoint, masked_l1, save_checkpoint

    run = Path(cfg.run_dir)
    device = device_of(cfg.device)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    folder = Path(cfg.data) if cfg.data else data_folder(cfg.split, cfg.samples, cfg.resolution)
    if cfg.data and not (folder / "manifest.json").exists():
        raise FileNotFoundError(f"--data {cfg.data!r} holds no dataset (no manifest.json); leave --data out to make one")
    if not cfg.data:
        echo_dataset(folder, cfg.split, cfg.samples, cfg.resolution, workers=cfg.workers, progress=cfg.progress)
    train = load_echo_data(folder)
    if train.depth.shape[1] != cfg.resolution:
        raise ValueError(f"the dataset's depth maps are {train.depth.shape[1]} px, but --resolution is {cfg.resolution}")
    val = None
    if cfg.val_samples:
        vfolder = data_folder("val", cfg.val_samples, cfg.resolution)
        echo_dataset(vfolder, "val", cfg.val_samples, cfg.resolution, workers=cfg.workers, progress=cfg.progress)
        val = load_echo_data(vfolder)
    save_config(cfg, run)

    torch.manual_seed(cfg.seed)
    net = EchoDepthNet(cfg.model, cfg.resolution, width=cfg.width).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    prior = mean_depth(train.depth)
    latest = run / "checkpoints" / "latest"
    start_epoch = 0
    if (latest / "meta.json").exists():
        old, meta = load_checkpoint(latest, device)
        if meta["model"] != cfg.model or meta["size"] != cfg.resolution or meta.get("width") != cfg.width:
            raise ValueError(f"{str(run)!r} holds a {meta['model']} model of {meta['size']} px, width {meta.get('width')}: "
                             "use the same options to resume, or a new --run-dir")
        net.load_state_dict(old.state_dict())
        if (latest / "optimizer.pt").exists():
            optimizer.load_state_dict(torch.load(latest / "optimizer.pt", map_location=device, weights_only=True))
        start_epoch = int(meta["epoch"])
        print(f"resuming {run} after epoch {start_epoch}")
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
        for k, idx in enumerate(tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not cfg.progress)):
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
        folder_e = run / "checkpoints" / f"epoch_{epoch + 1}"
        save_checkpoint(folder_e, net, dict(meta, epoch=epoch + 1, history=history), optimizer)
        np.save(folder_e / "mean_depth.npy", prior, allow_pickle=False)
        save_checkpoint(latest, net, dict(meta, epoch=epoch + 1, history=history), optimizer)
        np.save(latest / "mean_depth.npy", prior, allow_pickle=False)
        scores = [h["val_rmse"] for h in history if "val_rmse" in h]
        if scores and row.get("val_rmse") == min(scores):  # model selection on the val split
            best = run / "checkpoints" / "best"
            save_checkpoint(best, net, dict(meta, epoch=epoch + 1, history=history, selected_by="val_rmse"))
            np.save(best / "mean_depth.npy", prior, allow_pickle=False)
    writer.close()
    summary = {"run_dir": str(run), "epochs": cfg.epochs, "history": history, "samples": len(train),
               "seconds": time.perf_counter() - t0}
    (run / "train_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"trained {cfg.model} on {len(train)} {cfg.split} samples; checkpoints in {run / 'checkpoints'}")
    return summary


if __name__ == "__main__":
    run_script(main, EchoDepthConfig, __doc__)

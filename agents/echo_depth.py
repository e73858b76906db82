"""Depth from echoes (VisualEchoes, Gao et al. 2020; Beyond Image to Depth, Parida et al. 2021):
encoder-decoder networks that predict a depth map from the binaural echo of a chirp, from the
RGB view, or from both.

- ``echo``: a CNN encodes the echo spectrogram (2 ears x 257 frequencies x 166 frames) into one
  vector; a decoder of transposed convolutions unfolds it into the depth map (VisualEchoes' echo
  net). It knows nothing of the view: what it predicts is the room's layout as the echoes
  carry it.
- ``rgb``: a small U-Net from the image (the visual baseline).
- ``fusion``: the U-Net with the echo vector joined to its bottleneck (VisualEchoes' fusion).

Every model outputs metres in (0, max_depth) through a sigmoid and is trained with an L1 loss over
valid pixels (ground truth > 0). Inputs are the env's observations: ``echo`` in [0, 1]
(``acoustics.echo.echo_spectrogram``) and ``rgb`` uint8.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

MODELS = ("echo", "rgb", "fusion")


def _down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True))


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class EchoEncoder(nn.Module):
    """(B, F, T, 2) echo spectrogram in [0, 1] -> (B, dim). The input is log-compressed (echoes
    span ~80 dB; the log1p values the env observes are linear at that level) and average-pooled
    ``pool`` x ``pool`` (257 x 166 -> 65 x 42 by default: 1.4 ms frames, 344 Hz bins), which keeps
    a CPU able to train it."""

    def __init__(self, dim: int = 256, width: int = 16, pool: int = 4):
        super().__init__()
        self.pool = int(pool)
        w = width
        self.net = nn.Sequential(_down(2, w), _down(w, 2 * w), _down(2 * w, 4 * w), _down(4 * w, 8 * w),
                                 nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.Linear(32 * w, dim), nn.ReLU(inplace=True))

    def forward(self, echo: torch.Tensor) -> torch.Tensor:
        x = torch.log(echo.permute(0, 3, 1, 2) + 1e-4) / 4.0 + 2.0  # about [-0.3, 2]
        if self.pool > 1:
            x = nn.functional.avg_pool2d(x, self.pool, ceil_mode=True)
        return self.net(x)


class EchoDepthNet(nn.Module):
    """One of ``MODELS`` predicting (B, size, size) depth in metres; ``size`` a power of 2 >= 16."""

    def __init__(self, model: str = "echo", size: int = 64, max_depth: float = 10.0, dim: int = 256, width: int = 16):
        super().__init__()
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        if size < 16 or size & (size - 1):
            raise ValueError(f"size must be a power of 2 of at least 16 (the depth map's side), got {size!r}")
        self.model, self.size, self.max_depth, self.width = model, int(size), float(max_depth), int(width)
        levels = int(np.log2(size)) - 2  # down to 4 x 4
        self.levels = levels
        widths = [min(width * 2 ** i, 8 * width) for i in range(levels)]
        top = widths[-1]
        if model in ("echo", "fusion"):
            self.echo = EchoEncoder(dim, width)
        if model == "echo":
            self.seed = nn.Sequential(nn.Linear(dim, top * 16), nn.ReLU(inplace=True))
            chans = [top] + widths[::-1]
            self.ups = nn.ModuleList([_up(chans[i], chans[i + 1]) for i in range(levels)])
            self.head = nn.Conv2d(chans[-1], 1, 3, 1, 1)
        else:
            self.downs = nn.ModuleList([_down(3 if i == 0 else widths[i - 1], widths[i]) for i in range(levels)])
            bottleneck = widths[-1] + (dim if model == "fusion" else 0)
            ups = []
            c = bottleneck
            for i in reversed(range(levels)):
                out = widths[i - 1] if i > 0 else width
                ups.append(_up(c if i == levels - 1 else c + widths[i], out))
                c = out
            self.ups = nn.ModuleList(ups)
            self.head = nn.Conv2d(width, 1, 3, 1, 1)

    def forward(self, echo: torch.Tensor | None = None, rgb: torch.Tensor | None = None) -> torch.Tensor:
        if self.model == "echo":
            x = self.seed(self.echo(echo)).view(-1, self.ups[0][0].in_channels, 4, 4)
            for up in self.ups:
                x = up(x)
        else:
            x = rgb.permute(0, 3, 1, 2).float() / 255.0
            skips = []
            for down in self.downs:
                x = down(x)
                skips.append(x)
            if self.model == "fusion":
                e = self.echo(echo)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
                x = torch.cat([x, e], dim=1)
            for k, up in enumerate(self.ups):
                if k > 0:
                    x = torch.cat([x, skips[self.levels - 1 - k]], dim=1)
                x = up(x)
        return torch.sigmoid(self.head(x))[:, 0] * self.max_depth

    def inputs(self) -> tuple[str, ...]:
        return {"echo": ("echo",), "rgb": ("rgb",), "fusion": ("echo", "rgb")}[self.model]


def masked_l1(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    valid = gt > 0
    if not bool(valid.any()):
        return pred.sum() * 0.0
    return (pred[valid] - gt[valid]).abs().mean()


# ---------------------------------------------------------------------------------- checkpoints
def save_checkpoint(folder, net: EchoDepthNet, meta: dict, optimizer=None) -> Path:
    """``folder/meta.json`` + ``model.pt`` (a state dict) [+ ``optimizer.pt``], written under a
    temporary name and renamed into place (``earshot.files.write_dir_atomic``)."""
    from ..files import write_dir_atomic

    meta = dict(meta, kind="echo-depth", model=net.model, size=net.size, max_depth=net.max_depth, width=net.width)

    def fill(tmp: Path) -> None:
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        torch.save(net.state_dict(), tmp / "model.pt")
        if optimizer is not None:
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")

    return write_dir_atomic(Path(folder), fill)


def load_checkpoint(path, device="cpu") -> tuple[EchoDepthNet, dict]:
    """(network in eval mode, meta) from a checkpoint folder or a run folder (its ``best``, the
    lowest val RMSE, else its ``latest``); weights are read with ``weights_only=True``."""
    path = Path(path)
    for name in ("best", "latest"):
        if (path / "checkpoints" / name / "meta.json").exists():
            path = path / "checkpoints" / name
            break
    meta_file = path / "meta.json"
    if not meta_file.exists():
        raise FileNotFoundError(f"{str(path)!r} is not an echo-depth checkpoint (no meta.json); pass a run folder of "
                                "scripts/train_echo_depth.py or one of its checkpoints/ folders")
    meta = json.loads(meta_file.read_text())
    if meta.get("kind") != "echo-depth":
        raise ValueError(f"{str(path)!r} is not an echo-depth checkpoint (kind {meta.get('kind')!r})")
    net = EchoDepthNet(meta["model"], meta["size"], meta["max_depth"], width=meta.get("width", 16))
    try:
        state = torch.load(path / "model.pt", map_location=device, weights_only=True)
        net.load_state_dict(state)
    except Exception as exc:
        raise ValueError(f"{str(path / 'model.pt')!r} could not be loaded ({type(exc).__name__}: {exc}); "
                         "the checkpoint is damaged: retrain or pick another") from exc
    return net.to(device).eval(), meta

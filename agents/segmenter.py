"""A learned semantic sensor: a small CNN that labels each pixel of an RGB-D frame with the
category of the object it shows (1 + its ``earshot.scenes.CATEGORIES`` index, 0 structure),
trained on the train split's frames against the ``semantic`` sensor's labels.

The ``semantic`` sensor is privileged (a perfect detector); an agent in SAVi's setting sees only
RGB-D. With ``--segmenter FOLDER`` (``scripts/train.py``) the policy carries this network
(frozen) and feeds its labels to the same encoder the ``semantic`` sensor would feed, so the
agent recognises categories from its camera alone, as habitat's ObjectNav agents do with a
segmentation network trained on the train scenes. ``scripts/train_segmenter.py`` trains it;
its folder holds ``model.pt`` (a state dict, read with ``weights_only=True``) and
``meta.json`` (its width, resolution, categories and val IoUs).

The network is a three-level encoder-decoder (a narrow U-Net) that works at half resolution and
upsamples its logits: at width 32, 4.1 ms per 64x64 frame on one core, one frame at a time
(``scripts/benchmark.py --only render`` also times batches of 64).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import jobs
from ..cli import option, save_config
from ..files import write_dir_atomic, write_text_atomic

FORMAT = "earshot-segmenter-1"


def _categories() -> tuple[str, ...]:
    from ..scenes import CATEGORIES

    return CATEGORIES


def n_classes() -> int:
    """Labels the network predicts: structure and every category."""
    return len(_categories()) + 1


def build_segmenter(width: int):
    """The network (a ``torch.nn.Module``): ``forward(rgb, depth)`` with rgb (N, 3, H, W) and
    depth (N, 1, H, W), both in [0, 1] (the env's observations as the policy sees them), gives
    logits (N, n_classes(), H, W); ``labels(rgb, depth)`` their argmax, float (N, 1, H, W)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def block(cin: int, cout: int, stride: int = 1):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU())

    class Segmenter(nn.Module):
        def __init__(self, w: int):
            super().__init__()
            self.width = int(w)
            self.e1 = nn.Sequential(block(4, w, 2), block(w, w))  # 1/2
            self.e2 = nn.Sequential(block(w, 2 * w, 2), block(2 * w, 2 * w))  # 1/4
            self.e3 = nn.Sequential(block(2 * w, 3 * w, 2), block(3 * w, 3 * w))  # 1/8
            self.d2 = block(5 * w, 2 * w)
            self.d1 = block(3 * w, w)
            self.out = nn.Conv2d(w, n_classes(), 1)

        def forward(self, rgb, depth):
            size = rgb.shape[-2:]
            e1 = self.e1(torch.cat([rgb, depth], dim=1))
            e2 = self.e2(e1)
            e3 = self.e3(e2)
            d2 = self.d2(torch.cat([F.interpolate(e3, size=e2.shape[-2:]), e2], dim=1))
            d1 = self.d1(torch.cat([F.interpolate(d2, size=e1.shape[-2:]), e1], dim=1))
            return F.interpolate(self.out(d1), size=size, mode="bilinear", align_corners=False)

        @torch.no_grad()
        def labels(self, rgb, depth):
            return self.forward(rgb, depth).argmax(dim=1, keepdim=True).to(rgb.dtype)

        def freeze(self):
            """Part of a policy that never trains it: no gradients, and batch norm in eval mode
            whatever the policy's ``train()`` says."""
            for p in self.parameters():
                p.requires_grad_(False)
            self.frozen = True
            return self.eval()

        def train(self, mode: bool = True):
            return super().train(mode and not getattr(self, "frozen", False))

    return Segmenter(width)


# ---------------------------------------------------------------------------- data
def _scene_frames(seed: int, count: int, resolution: int, rng_seed: int):
    """(rgb (N, H, W, 3) uint8, depth (N, H, W) float32 in [0, 1], labels (N, H, W) uint8) of
    ``count`` random views from the navigable nodes of procedural apartment ``seed``: headings a
    multiple of 90 degrees for half of them (the grid agents' views), uniform for the rest."""
    from ..scenes import generate_apartment
    from ..scenes.navigation import NavGraph
    from ..scenes.render.camera import depth_observation
    from ..scenes.render.raycast import RaycastRenderer, SemanticCamera

    rng = np.random.default_rng([rng_seed, seed])
    scene = generate_apartment(seed)
    graph = NavGraph.build(scene)
    renderer = RaycastRenderer(scene, resolution, resolution)
    camera = SemanticCamera(scene, renderer.camera)
    rgb = np.empty((count, resolution, resolution, 3), np.uint8)
    depth = np.empty((count, resolution, resolution), np.float32)
    labels = np.empty((count, resolution, resolution), np.uint8)
    nodes = rng.integers(0, len(graph), count)
    headings = np.where(np.arange(count) % 2 == 0, rng.integers(0, 4, count) * (np.pi / 2), rng.uniform(0, 2 * np.pi, count))
    for i, (node, heading) in enumerate(zip(nodes, headings)):
        position = graph.positions[node]
        frame, metres = renderer.render(position, heading)
        rgb[i], depth[i], labels[i] = frame, depth_observation(metres)[..., 0], camera.render(position, heading)
    return rgb, depth, labels


def segmentation_frames(split: str, scenes: int, per_scene: int, resolution: int = 64, seed: int = 0,
                        workers: int = 1, progress: bool = False):
    """(rgb, depth, labels) of ``per_scene`` views in each of the first ``scenes`` apartments of
    ``split`` (see ``_scene_frames``), made by ``workers`` processes; the same for the same
    arguments, whatever ``workers``."""
    from ..scenes.splits import split_seeds

    seeds = split_seeds(split)
    if scenes > len(seeds):
        raise ValueError(f"the {split} split has {len(seeds)} apartments, {scenes} asked for")
    parts: dict[int, tuple] = {}
    bar = jobs.progress_bar(scenes, desc=f"{split} frames", unit="scene", enabled=progress)

    def finished(result):
        parts[result[0]] = result[1]
        bar.update(1)

    try:
        jobs.run_tasks(_frames_task, [(i, seeds[i], per_scene, resolution, seed) for i in range(scenes)], finished,
                       workers=workers, one_thread=True)
    finally:
        bar.close()
    return tuple(np.concatenate([parts[i][k] for i in range(scenes)]) for k in range(3))


def _frames_task(index: int, scene_seed: int, count: int, resolution: int, seed: int):
    return index, _scene_frames(scene_seed, count, resolution, seed)


def tensors(rgb: np.ndarray, depth: np.ndarray):
    """Frames as the network (and the policy) sees them: rgb (N, 3, H, W) and depth (N, 1, H, W) in [0, 1]."""
    import torch

    return (torch.from_numpy(np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))).float() / 255.0,
            torch.from_numpy(np.ascontiguousarray(depth[:, None])).float())


def predict(net, rgb: np.ndarray, depth: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """uint8 (N, H, W) labels of frames."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(rgb), batch_size):
            out.append(net.labels(*tensors(rgb[i:i + batch_size], depth[i:i + batch_size]))[:, 0].to(torch.uint8).numpy())
    return np.concatenate(out)


def iou_per_category(pred: np.ndarray, truth: np.ndarray) -> dict[str, float | None]:
    """Intersection over union of each category's pixels (None where neither has any)."""
    out = {}
    for k, name in enumerate(_categories(), start=1):
        p, t = pred == k, truth == k
        union = int(np.count_nonzero(p | t))
        out[name] = float(np.count_nonzero(p & t)) / union if union else None
    return out


def segmentation_metrics(pred: np.ndarray, truth: np.ndarray) -> dict:
    """mIoU over categories, each category's IoU, and the share of object pixels labelled right."""
    ious = iou_per_category(pred, truth)
    seen = [v for v in ious.values() if v is not None]
    objects = truth > 0
    return {"miou": float(np.mean(seen)) if seen else 0.0, "iou": ious,
            "object_pixel_accuracy": float(np.mean(pred[objects] == truth[objects])) if objects.any() else 0.0,
            "structure_pixel_accuracy": float(np.mean(pred[~objects] == 0)) if (~objects).any() else 0.0}


def example_figure(net, rgb: np.ndarray, depth: np.ndarray, labels: np.ndarray, path: str | Path, count: int = 6,
                   scale: int = 3) -> Path:
    """A PNG of ``count`` views, one per row: the camera's RGB, the semantic sensor's labels and
    the network's (each category its colour, structure grey; ``av_env.visualize.semantic_image``),
    the views with the most object pixels first."""
    from PIL import Image

    from ..av_env.visualize import semantic_image
    from ..files import atomic_path

    order = np.argsort(-(labels > 0).reshape(len(labels), -1).sum(axis=1), kind="stable")[:count]
    pred = predict(net, rgb[order], depth[order])
    rows = [np.concatenate([rgb[i], semantic_image(labels[i]), semantic_image(p)], axis=1) for i, p in zip(order, pred)]
    image = np.concatenate(rows, axis=0).repeat(scale, axis=0).repeat(scale, axis=1)
    with atomic_path(path, ".png") as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return Path(path)


def video_panel(env, net):
    """A panel for ``av_env.visualize.record_episode``: what ``net`` labels in the agent's
    current view (the env's last ``rgb`` and ``depth`` observation), each category its colour,
    the goal's category red, as the ``semantic`` sensor's panel shows it."""
    from ..av_env.visualize import semantic_image
    from ..scenes.render.raycast import category_label

    def what_its_segmenter_sees():
        obs = env.get_wrapper_attr("last_observation")
        labels = predict(net, obs["rgb"][None], obs["depth"][None, ..., 0])[0]
        category = getattr(env.unwrapped.episode, "category", None)
        return semantic_image(labels, category_label(category) if category else None)

    return what_its_segmenter_sees


# ---------------------------------------------------------------------------- files
def save_segmenter(directory: str | Path, net, meta: dict) -> Path:
    import torch

    info = {**meta, "format": FORMAT, "width": int(net.width), "categories": list(_categories())}

    def fill(tmp: Path) -> None:
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, tmp / "model.pt")
        (tmp / "meta.json").write_text(json.dumps(info, indent=2, sort_keys=True))

    return write_dir_atomic(Path(directory), fill)


def read_segmenter_meta(directory: str | Path) -> dict:
    """A segmenter folder's meta.json, checked; one clear error naming what is wrong."""
    folder = Path(directory)
    if (folder / "segmenter" / "meta.json").is_file():  # a run folder: its trained network
        folder = folder / "segmenter"
    path = folder / "meta.json"
    if not path.is_file():
        raise FileNotFoundError(f"--segmenter {str(directory)!r} holds no segmenter (no meta.json); train one with "
                                "scripts/train_segmenter.py, or give its run folder")
    try:
        meta = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{str(path)!r} is not valid JSON ({exc}); retrain the segmenter") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not an earshot segmenter (format {meta.get('format') if isinstance(meta, dict) else None!r}, "
                         f"expected {FORMAT!r})")
    if meta.get("categories") != list(_categories()):
        raise ValueError(f"{str(path)!r} labels the categories {meta.get('categories')}, but earshot's are "
                         f"{list(_categories())}; retrain the segmenter")
    if not isinstance(meta.get("width"), int) or not 1 <= meta["width"] <= 256 or not isinstance(meta.get("resolution"), int):
        raise ValueError(f"{str(path)!r} has no valid integer 'width' (1 to 256) and 'resolution'")
    meta["folder"] = str(folder)
    return meta


def load_segmenter(directory: str | Path):
    """(network in eval mode, meta) of a segmenter folder (or a run folder of
    ``scripts/train_segmenter.py``)."""
    from .weights import load_tensors

    meta = read_segmenter_meta(directory)
    net = build_segmenter(meta["width"])
    state = load_tensors(Path(meta["folder"]) / "model.pt")
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{meta['folder']!r}: model.pt does not fit its meta.json ({' '.join(str(exc).split())})") from exc
    return net.eval(), meta


# ---------------------------------------------------------------------------- training
@dataclass
class SegmenterConfig:
    run_dir: str = option("runs/segmenter", "run folder (config, data, the trained network in segmenter/)", nonempty=True)
    scenes: int = option(2000, "train-split apartments to take views from", low=1, high=10_000)
    per_scene: int = option(40, "views per apartment", low=1, high=10_000)
    val_scenes: int = option(100, "val-split apartments evaluated after every epoch", low=1, high=100)
    val_per_scene: int = option(30, "views per val apartment", low=1, high=10_000)
    resolution: int = option(64, "frame side in pixels: the env's resolution the agent will see", low=16, high=512)
    width: int = option(32, "channels of the first convolution", low=4, high=256)
    epochs: int = option(6, "passes over the training views", low=1, high=1000)
    batch_size: int = option(64, "views per update", low=1)
    learning_rate: float = option(3e-3, "peak learning rate (one-cycle schedule, Adam)", low=0.0)
    seed: int = option(0, "seed of the views, the initial weights and the batch order", low=0)
    workers: int = option(2, "processes rendering the views", low=1, high=256)
    torch_threads: int = option(0, "CPU threads of torch (0: its default, one per core)", low=0, high=256)
    progress: bool = option(True, "progress bars")


def _views(cfg: SegmenterConfig, split: str, scenes: int, per_scene: int, run_dir: Path):
    """A split's views, rendered once per run folder (``data_SPLIT.npz``, written atomically)."""
    from ..files import atomic_path

    path = run_dir / f"data_{split}_{scenes}x{per_scene}_{cfg.resolution}_seed{cfg.seed}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return z["rgb"], z["depth"], z["labels"]
    t0 = time.time()
    rgb, depth, labels = segmentation_frames(split, scenes, per_scene, cfg.resolution, cfg.seed, cfg.workers, cfg.progress)
    with atomic_path(path, ".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, rgb=rgb, depth=depth, labels=labels)
    print(f"{len(rgb):,} {split} views of {scenes} apartments in {time.time() - t0:.0f} s", flush=True)
    return rgb, depth, labels


def train_segmenter(cfg: SegmenterConfig) -> dict:
    """Train the network on train-split views (cross-entropy, classes weighted by 1/sqrt of their
    pixel share, random horizontal flips), evaluating val views after every epoch; the last
    epoch's network goes to ``run_dir/segmenter`` with its val metrics. Returns those metrics.
    ``cfg.torch_threads`` holds only while it trains: the caller's thread count comes back after."""
    with jobs.torch_threads(cfg.torch_threads):
        return _train_segmenter(cfg)


def _train_segmenter(cfg: SegmenterConfig) -> dict:
    import torch
    import torch.nn.functional as F

    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir)
    rgb, depth, labels = _views(cfg, "train", cfg.scenes, cfg.per_scene, run_dir)
    vrgb, vdepth, vlabels = _views(cfg, "val", cfg.val_scenes, cfg.val_per_scene, run_dir)
    torch.manual_seed(cfg.seed)
    net = build_segmenter(cfg.width)
    share = np.bincount(labels.reshape(-1), minlength=n_classes()) / labels.size
    weight = 1.0 / np.sqrt(share + 1e-4)
    weight = torch.tensor(weight / weight.mean(), dtype=torch.float32)
    n = len(rgb)
    per_epoch = max(1, n // cfg.batch_size)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, cfg.learning_rate, total_steps=cfg.epochs * per_epoch)
    generator = torch.Generator().manual_seed(cfg.seed)
    history, t0 = [], time.time()

    for epoch in range(cfg.epochs):
        net.train()
        order = torch.randperm(n, generator=generator).numpy()
        flips = torch.rand(per_epoch, generator=generator).numpy() < 0.5
        total = 0.0
        for b in jobs.progress(range(per_epoch), desc=f"epoch {epoch + 1}", unit="batch", enabled=cfg.progress, leave=False):
            idx = np.sort(order[b * cfg.batch_size:(b + 1) * cfg.batch_size])
            x_rgb, x_depth = tensors(rgb[idx], depth[idx])
            y = torch.from_numpy(labels[idx].astype(np.int64))
            if flips[b]:
                x_rgb, x_depth, y = x_rgb.flip(-1), x_depth.flip(-1), y.flip(-1)
            loss = F.cross_entropy(net(x_rgb, x_depth), y, weight=weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        net.eval()
        metrics = segmentation_metrics(predict(net, vrgb, vdepth), vlabels)
        history.append({"epoch": epoch + 1, "loss": total / per_epoch, "val": metrics, "seconds": time.time() - t0})
        write_text_atomic(run_dir / "history.json", json.dumps(history, indent=2) + "\n")
        print(f"epoch {epoch + 1}/{cfg.epochs}: loss {total / per_epoch:.3f}, val mIoU {metrics['miou']:.3f}, object pixels "
              f"right {metrics['object_pixel_accuracy']:.3f} ({time.time() - t0:.0f} s)", flush=True)
    meta = {"resolution": cfg.resolution, "config": asdict(cfg), "val": history[-1]["val"],
            "train_views": n, "seconds": time.time() - t0}
    save_segmenter(run_dir / "segmenter", net, meta)
    figure = example_figure(net, vrgb, vdepth, vlabels, run_dir / "val_examples.png")
    print(f"segmenter written to {run_dir / 'segmenter'}; val views (RGB, the sensor's labels, its labels): {figure}",
          flush=True)
    return history[-1]["val"]


__all__ = ["SegmenterConfig", "build_segmenter", "example_figure", "load_segmenter", "predict", "read_segmenter_meta", "save_segmenter",
           "segmentation_frames", "segmentation_metrics", "train_segmenter", "video_panel"]

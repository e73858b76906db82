"""Top-down maps of a NavGraph's scene with the agent, goal, sources and path drawn on them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..files import atomic_path

_BACKGROUND = np.array([255, 255, 255], np.uint8)
_WALL = np.array([60, 60, 64], np.uint8)


def draw_topdown(navgraph, agent=None, heading: float | None = None, goal=None, path=None, sources=(),
                 show_nodes: bool = True, pixels_per_meter: float = 40.0) -> np.ndarray:
    """Top-down occupancy map, x to the right and y up, as uint8 (H, W, 3).

    Floor the agent can stand on keeps the colour seen from above; floor too close to obstacles
    is dimmed; walls and other vertical obstacles are dark; outside is white.

    Args:
        agent: (2,) or (3,) agent position (green disc), with ``heading`` (radians) as an arrow.
        goal: goal position (red disc).
        path: (K, 2|3) positions or node indices, drawn as a blue polyline.
        sources: extra sound-source positions (orange discs).
        show_nodes: draw the graph's nodes as small grey dots.
    """
    occ = navgraph.occupancy
    scene = navgraph.scene
    face = occ["face"]
    colors = np.where(face[..., None] >= 0, scene.face_colors[np.maximum(face, 0)], _BACKGROUND)
    img = colors.astype(np.float32)
    dim = occ["floor"] & ~occ["navigable"]
    img[dim] = img[dim] * 0.55 + 255 * 0.15
    img[~occ["floor"] & (face >= 0)] *= 0.75  # furniture and other raised surfaces
    img[occ["walls"]] = _WALL
    img = np.clip(img, 0, 255).astype(np.uint8)
    # raster index (i, j) = (x, y) -> image rows run from +y down
    img = np.ascontiguousarray(np.transpose(img, (1, 0, 2))[::-1])
    cell = occ["cell"]
    scale = max(int(round(pixels_per_meter * cell)), 1)
    img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    height = img.shape[0]
    ppm = scale / cell
    x0, y0 = occ["origin"]

    def px(p):
        p = np.asarray(p, dtype=np.float64)
        return ((p[..., 0] - x0) * ppm, height - (p[..., 1] - y0) * ppm)

    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    if show_nodes:
        for u, v in zip(*px(navgraph.positions)):
            draw.ellipse([u - 1.5, v - 1.5, u + 1.5, v + 1.5], fill=(150, 150, 150))
    if path is not None and len(path) > 1:
        pts = np.asarray(path)
        if pts.ndim == 1:
            pts = navgraph.positions[pts.astype(np.int64)]
        u, v = px(pts)
        draw.line(list(zip(u.tolist(), v.tolist())), fill=(30, 90, 230), width=max(2, int(ppm * 0.06)))
    r = ppm * 0.18
    for s in sources:
        u, v = px(s)
        draw.ellipse([u - r, v - r, u + r, v + r], fill=(245, 150, 20), outline=(0, 0, 0))
    if goal is not None:
        u, v = px(goal)
        draw.ellipse([u - r, v - r, u + r, v + r], fill=(220, 30, 30), outline=(0, 0, 0))
    if agent is not None:
        u, v = px(agent)
        draw.ellipse([u - r, v - r, u + r, v + r], fill=(30, 180, 60), outline=(0, 0, 0))
        if heading is not None:
            tip = (u + np.cos(heading) * r * 2.2, v - np.sin(heading) * r * 2.2)
            draw.line([(u, v), tip], fill=(0, 0, 0), width=max(2, int(ppm * 0.05)))
    return np.asarray(pil)


def save_png(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a uint8 (H, W, 3) or (H, W) image to ``path`` as PNG, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(image)).save(tmp, format="PNG")
    return path

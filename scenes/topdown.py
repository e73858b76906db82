"""Top-down maps of a NavGraph's scene with the agent, goal, sources and paths drawn on them, a
legend, a scale bar and a title (``draw_topdown``), and the pieces the episode videos reuse
(``legend_entries``, ``draw_legend``, ``draw_scale_bar``, ``font``)."""

from __future__ import annotations

import functools
import os
import weakref
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..files import atomic_path

_BACKGROUND = np.array([255, 255, 255], np.uint8)
_WALL = np.array([60, 60, 64], np.uint8)

# marker and line colours (tests look for them)
GOAL = (220, 30, 30)
AGENT = (30, 180, 60)
SOURCE = (245, 150, 20)
PATH = (30, 90, 230)
SHORTEST = (200, 40, 200)
DOOR = (170, 110, 40)
FURNITURE_EDGE = (95, 75, 55)
SCALE_BAR = (0, 0, 0)
TEXT = (20, 20, 20)

_bases: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # navgraph -> {pixels per cell: static map}


@functools.lru_cache(maxsize=16)
def font(size: int = 13) -> ImageFont.ImageFont:
    """Pillow's built-in scalable font (no system fonts needed)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _static_map(navgraph, scale: int) -> np.ndarray:
    """The scene's floor, furniture, walls and doors at ``scale`` pixels per occupancy cell (cached
    per graph: only the markers and paths change from frame to frame)."""
    try:
        cache = _bases.setdefault(navgraph, {})
    except TypeError:  # not weak-referenceable: no cache
        cache = {}
    if scale in cache:
        return cache[scale]
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
    img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    ppm = scale / occ["cell"]
    px = _projector(occ, ppm, img.shape[0])
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    for obj in getattr(scene, "objects", ()):  # furniture: outlined footprints
        (u0, v0), (u1, v1) = px(obj.bbox_min[:2]), px(obj.bbox_max[:2])
        draw.rectangle([min(u0, u1), min(v0, v1), max(u0, u1), max(v0, v1)], outline=FURNITURE_EDGE, width=1)
    for door in getattr(scene, "doors", ()):  # doors: a bar across the opening
        c = np.asarray(door.center[:2], np.float64)
        half = np.array([0.0, door.width / 2]) if door.normal_axis == 0 else np.array([door.width / 2, 0.0])
        a, b = px(c - half), px(c + half)
        draw.line([a, b], fill=DOOR, width=max(3, int(ppm * 0.12)))
    img = np.asarray(pil)
    img.setflags(write=False)
    cache[scale] = img
    return img


def _projector(occ, ppm: float, height: int):
    x0, y0 = occ["origin"]

    def px(p):
        p = np.asarray(p, dtype=np.float64)
        return ((p[..., 0] - x0) * ppm, height - (p[..., 1] - y0) * ppm)

    return px


def _dashed(draw, pts, fill, width: int, dash: float, gap: float) -> None:
    """A dashed polyline through ``pts`` ((K, 2) pixels)."""
    on, left = True, dash
    for (ua, va), (ub, vb) in zip(pts[:-1], pts[1:]):
        seg = float(np.hypot(ub - ua, vb - va))
        t = 0.0
        while t < seg - 1e-9:
            step = min(left, seg - t)
            if on:
                f0, f1 = t / seg, (t + step) / seg
                draw.line([(ua + (ub - ua) * f0, va + (vb - va) * f0), (ua + (ub - ua) * f1, va + (vb - va) * f1)],
                          fill=fill, width=width)
            t += step
            left -= step
            if left <= 1e-9:
                on = not on
                left = dash if on else gap


def legend_entries(navgraph, *, agent: bool = True, goal: bool = True, path: bool = True, shortest: bool = True,
                   sources: bool = False, nodes: bool = False, path_label: str = "path so far",
                   goal_area: bool = False) -> list[tuple[str, str, tuple]]:
    """(label, kind, colour) of each thing a map shows, kind one of "box", "line", "dash",
    "disc", "dot", "agent", "bar", "outline" (how ``draw_legend`` draws its symbol)."""
    scene = navgraph.scene
    out = [("wall", "box", tuple(int(c) for c in _WALL))]
    if getattr(scene, "doors", None):
        out.append(("door", "bar", DOOR))
    if getattr(scene, "objects", None):
        out.append(("furniture", "outline", FURNITURE_EDGE))
    if path:
        out.append((path_label, "line", PATH))
    if shortest:
        out.append(("shortest path", "dash", SHORTEST))
    if goal:
        out.append(("goal", "disc", GOAL))
    if goal_area:
        out.append(("goal area", "dot", GOAL))
    if sources:
        out.append(("other source", "disc", SOURCE))
    if agent:
        out.append(("agent + heading", "agent", AGENT))
    if nodes:
        out.append(("graph node", "disc", (150, 150, 150)))
    return out


def _symbol(draw, kind: str, colour, x: float, y: float, s: float) -> None:
    """A legend symbol in the box (x, y)-(x + s, y + s)."""
    cx, cy, r = x + s / 2, y + s / 2, s * 0.32
    if kind == "box":
        draw.rectangle([x + 1, y + 2, x + s - 1, y + s - 2], fill=colour)
    elif kind == "bar":
        draw.line([(x + 1, cy), (x + s - 1, cy)], fill=colour, width=max(3, int(s * 0.3)))
    elif kind == "outline":
        draw.rectangle([x + 1, y + 2, x + s - 1, y + s - 2], fill=(200, 190, 170), outline=colour)
    elif kind == "line":
        draw.line([(x, cy), (x + s, cy)], fill=colour, width=3)
    elif kind == "dash":
        for k in range(3):
            draw.line([(x + k * s / 2.5, cy), (x + k * s / 2.5 + s / 5, cy)], fill=colour, width=3)
    elif kind == "disc":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour, outline=(0, 0, 0))
    elif kind == "dot":
        draw.ellipse([cx - r / 2, cy - r / 2, cx + r / 2, cy + r / 2], fill=colour)
    elif kind == "agent":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour, outline=(0, 0, 0))
        draw.line([(cx, cy), (cx + s * 0.55, cy)], fill=(0, 0, 0), width=2)


def draw_legend(draw, entries, x: float, y: float, width: float, size: int = 13, vertical: bool = False) -> list:
    """Draw ``entries`` (``legend_entries``) from (x, y): in rows wrapped at ``width`` or one per
    line; returns each entry's (label, (x0, y0, x1, y1)) box."""
    f = font(size)
    s = size + 2
    line = s + 4
    boxes, cx, cy = [], x, y
    for label, kind, colour in entries:
        w = s + 4 + f.getlength(label) + 12
        if not vertical and cx > x and cx + w > x + width:
            cx, cy = x, cy + line
        _symbol(draw, kind, colour, cx, cy, s)
        draw.text((cx + s + 4, cy + s / 2), label, fill=TEXT, font=f, anchor="lm")
        boxes.append((label, (cx, cy, cx + w, cy + s)))
        if vertical:
            cy += line
        else:
            cx += w
    return boxes


def nice_length(metres: float) -> float:
    """The largest of 0.25, 0.5, 1, 2, 5, 10, 20, 50 m not above ``metres`` (at least 0.25)."""
    options = [0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
    return max([o for o in options if o <= metres] or [options[0]])


def draw_scale_bar(draw, ppm: float, x: float, y: float, max_width: float, size: int = 12) -> tuple:
    """A scale bar with its length in metres, its left end at (x, y) (the bar's bottom); the bar is
    at most ``max_width`` pixels long. Returns its (x0, y0, x1, y1) box (the bar alone)."""
    metres = nice_length(max_width / ppm)
    length = metres * ppm
    h = max(4, size // 3)
    box = (x, y - h, x + length, y)
    draw.rectangle(box, fill=SCALE_BAR)
    if length > 12:  # a white half: the classic two-part bar
        draw.rectangle((x + length / 2, y - h + 1, x + length - 1, y - 1), fill=(255, 255, 255))
    label = f"{metres:g} m"
    draw.text((x + length + 5, y - h / 2), label, fill=TEXT, font=font(size), anchor="lm")
    return box


def scale_bar_on_map(img: np.ndarray, ppm: float, size: int = 12) -> tuple[np.ndarray, tuple]:
    """``img`` (a map of ``ppm`` pixels per metre) with a scale bar in its lower left corner on a
    white box; returns (image, the bar's box)."""
    pil = Image.fromarray(np.ascontiguousarray(img))
    draw = ImageDraw.Draw(pil)
    max_width = max(8.0, img.shape[1] * 0.25)
    metres = nice_length(max_width / ppm)
    label_w = font(size).getlength(f"{metres:g} m")
    draw.rectangle((2, img.shape[0] - size - 10, 12 + metres * ppm + label_w + 8, img.shape[0] - 2),
                   fill=(255, 255, 255), outline=(120, 120, 120))
    box = draw_scale_bar(draw, ppm, 8, img.shape[0] - 8, max_width, size)
    return np.asarray(pil), box


def draw_topdown(navgraph, agent=None, heading: float | None = None, goal=None, path=None, sources=(),
                 show_nodes: bool = True, pixels_per_meter: float = 40.0, shortest_path=None,
                 legend: bool = True, title: str | None = None, scale_bar: bool = True,
                 path_label: str = "path", return_layout: bool = False, goal_area=None):
    """Top-down occupancy map, x to the right and y up, as uint8 (H, W, 3).

    Floor the agent can stand on keeps the colour seen from above; floor too close to obstacles
    is dimmed; walls and other vertical obstacles are dark; furniture is darker and outlined;
    doors are brown bars; outside is white.

    Args:
        agent: (2,) or (3,) agent position (green disc), with ``heading`` (radians) as an arrow.
        goal: goal position (red disc).
        path: (K, 2|3) positions or node indices, drawn as a blue polyline, ``path_label`` in the
            legend (a video's frames: "path so far").
        sources: extra sound-source positions (orange discs).
        goal_area: positions or node indices of a goal of many nodes (a semantic episode's view
            points, where the distance to the goal is 0), drawn as small red dots.
        show_nodes: draw the graph's nodes as small grey dots.
        shortest_path: positions or node indices of the shortest path to the goal (dashed magenta).
        legend: a band above the map with ``title`` (if any), a legend of what is drawn and a
            scale bar; the map below keeps its size and placement (its bottom left corner is the
            raster's origin).
        scale_bar: without the band, a scale bar in the map's lower left corner.
        return_layout: also return a dict: ``ppm`` (pixels per metre), ``map_top`` (the map's
            first row), ``goal_px``/``agent_px`` (pixel centres), ``legend`` (label, box) and
            ``scale_bar`` (the bar's box).
    """
    occ = navgraph.occupancy
    cell = occ["cell"]
    scale = max(int(round(pixels_per_meter * cell)), 1)
    base = _static_map(navgraph, scale)
    height = base.shape[0]
    ppm = scale / cell
    px = _projector(occ, ppm, height)
    layout = {"ppm": ppm, "map_top": 0, "goal_px": None, "agent_px": None, "legend": [], "scale_bar": None}

    pil = Image.fromarray(base.copy())
    draw = ImageDraw.Draw(pil)

    def points(p):
        pts = np.asarray(p)
        if pts.ndim == 1:
            pts = navgraph.positions[pts.astype(np.int64)]
        return np.stack(px(pts), axis=1)

    if show_nodes:
        for u, v in zip(*px(navgraph.positions)):
            draw.ellipse([u - 1.5, v - 1.5, u + 1.5, v + 1.5], fill=(150, 150, 150))
    width = max(2, int(ppm * 0.06))
    if shortest_path is not None and len(shortest_path) > 1:
        _dashed(draw, points(shortest_path), SHORTEST, width, dash=max(4.0, ppm * 0.2), gap=max(3.0, ppm * 0.12))
    if path is not None and len(path) > 1:
        draw.line([tuple(p) for p in points(path).tolist()], fill=PATH, width=width)
    r = ppm * 0.18
    if goal_area is not None and len(goal_area):
        for u, v in points(goal_area).tolist():
            draw.ellipse([u - r / 2, v - r / 2, u + r / 2, v + r / 2], fill=GOAL)
    for s in sources:
        u, v = px(s)
        draw.ellipse([u - r, v - r, u + r, v + r], fill=SOURCE, outline=(0, 0, 0))
    if goal is not None:
        u, v = px(goal)
        draw.ellipse([u - r, v - r, u + r, v + r], fill=GOAL, outline=(0, 0, 0))
        layout["goal_px"] = (float(u), float(v))
    if agent is not None:
        u, v = px(agent)
        draw.ellipse([u - r, v - r, u + r, v + r], fill=AGENT, outline=(0, 0, 0))
        if heading is not None:
            tip = (u + np.cos(heading) * r * 2.2, v - np.sin(heading) * r * 2.2)
            draw.line([(u, v), tip], fill=(0, 0, 0), width=max(2, int(ppm * 0.05)))
        layout["agent_px"] = (float(u), float(v))
    img = np.asarray(pil)
    if not legend:
        if scale_bar:
            img, layout["scale_bar"] = scale_bar_on_map(img, ppm)
        return (img, layout) if return_layout else img

    # the band above: title, legend rows, scale bar
    entries = legend_entries(navgraph, agent=agent is not None, goal=goal is not None,
                             path=path is not None and len(path) > 1,
                             shortest=shortest_path is not None and len(shortest_path) > 1,
                             sources=len(sources) > 0, nodes=show_nodes, path_label=path_label,
                             goal_area=goal_area is not None and len(goal_area) > 0)
    w = img.shape[1]
    size = 13
    scratch = ImageDraw.Draw(Image.new("RGB", (w, 400)))
    y = 6 + (size + 10 if title else 0)
    boxes = draw_legend(scratch, entries, 8, y, w - 16, size)  # a dry run: how many rows
    band = int(max(b[3] for _, b in boxes)) + 8 + (size + 12 if scale_bar else 0)
    out = Image.new("RGB", (w, band + img.shape[0]), (255, 255, 255))
    out.paste(pil, (0, band))
    draw = ImageDraw.Draw(out)
    if title:
        draw.text((8, 6), title, fill=TEXT, font=font(size + 2))
    layout["legend"] = draw_legend(draw, entries, 8, y, w - 16, size)
    if scale_bar:
        layout["scale_bar"] = draw_scale_bar(draw, ppm, 8, band - 8, max(8.0, w * 0.3), size - 1)
    draw.line([(0, band - 1), (w, band - 1)], fill=(160, 160, 160))
    layout["map_top"] = band
    for key in ("goal_px", "agent_px"):
        if layout[key] is not None:
            layout[key] = (layout[key][0], layout[key][1] + band)
    img = np.asarray(out)
    return (img, layout) if return_layout else img


def save_png(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a uint8 (H, W, 3) or (H, W) image to ``path`` as PNG, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(image)).save(tmp, format="PNG")
    return path

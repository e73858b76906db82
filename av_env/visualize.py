"""Frames and videos of episodes for people.

A frame (``compose_frame``) is a title line (task, scene, episode, sound), a row of captioned
panels and a per-step line (step, action, distance to goal, reward, return):

    [ RGB | depth, coloured, with a colour bar in metres | top-down map (walls, doors,
      furniture, the path so far, the shortest path to the goal, the goal, other sources, the
      agent and its heading, a scale bar) and its legend | extra panels | what the agent hears:
      the left and right spectrograms of the step's audio with a playhead, and a left/right
      level meter in dBFS ]

``record_episode`` writes an MP4 at ``FPS`` (10) frames per second: one env step is
``step_seconds`` (1 s) of audio, so each step is held for ``fps × step_seconds`` video frames
while its audio plays, the playhead and the level meter moving through it; the binaural audio is
muxed in (imageio-ffmpeg) in sync, and written as a WAV beside the video."""

from __future__ import annotations

import colorsys
import contextlib
import functools
import os
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..files import atomic_path
from ..scenes import CATEGORIES
from ..scenes import topdown as td
from ..scenes.render.camera import MAX_DEPTH
from .observations import SEMANTIC

FPS = 10  # video frames per second
PANEL = 256  # panel height, pixels
TITLE_H, CAPTION_H, STEP_H = 24, 18, 24  # the title line, the panels' captions, the per-step line
LEGEND_W = 132  # the map's legend column
COLORBAR_W = 56  # the depth colour bar and its labels
METER_W = 64  # the level meter and its labels
LEVEL_RANGE_DB = (-60.0, 0.0)  # the level meter's scale, dB re the audio's full scale
_ACTIONS = {0: "STOP", 1: "MOVE_FORWARD", 2: "TURN_LEFT", 3: "TURN_RIGHT"}
_BG = (255, 255, 255)


def _lut(anchors) -> np.ndarray:
    """(256, 3) uint8 colour map through ``anchors`` (evenly spaced RGB triples)."""
    a = np.asarray(anchors, np.float64)
    x = np.linspace(0, 1, len(a))
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, x, a[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)


# viridis- and magma-like maps (no matplotlib needed)
DEPTH_LUT = _lut([(253, 231, 37), (94, 201, 98), (33, 145, 140), (59, 82, 139), (68, 1, 84)])  # near bright
SPEC_LUT = _lut([(0, 0, 4), (81, 18, 124), (183, 55, 121), (252, 137, 97), (252, 253, 191)])


def frames_per_step(env, fps: float = FPS) -> int:
    """Video frames per env step: the step's audio (``step_seconds``) at ``fps``, at least 1."""
    return max(1, int(round(fps * env.unwrapped.cfg.step_seconds)))


def _fit(img: np.ndarray, height: int, max_width: int | None = None) -> np.ndarray:
    """``img`` scaled to ``height`` rows (or narrower, to ``max_width`` columns, padded white to
    ``height``)."""
    h, w = img.shape[:2]
    scale = height / h
    if max_width is not None and w * scale > max_width:
        scale = max_width / w
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    out = np.asarray(Image.fromarray(img).resize(size, Image.NEAREST if scale > 1 else Image.BILINEAR))
    if out.shape[0] < height:
        pad = np.full((height - out.shape[0], out.shape[1], 3), 255, np.uint8)
        out = np.concatenate([out, pad], axis=0)
    return out


def depth_image(depth: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3): depth in metres through ``DEPTH_LUT`` (0 to ``MAX_DEPTH``; no hit: black)."""
    idx = (np.clip(depth / MAX_DEPTH, 0, 1) * 255).astype(np.uint8)
    return np.where((depth > 0)[..., None], DEPTH_LUT[idx], 0).astype(np.uint8)


# the semantic panel: structure grey, each category a muted colour of its own, the goal's red
SEMANTIC_STRUCTURE = (205, 205, 205)
SEMANTIC_GOAL = (225, 35, 35)
_HUES = len(CATEGORIES)
_SEMANTIC_LUT = np.array([SEMANTIC_STRUCTURE] + [tuple(int(255 * v) for v in colorsys.hsv_to_rgb(0.1 + 0.8 * (k % _HUES) / _HUES, 0.5, 0.8))
                                                 for k in range(255)], np.uint8)  # hues 0.1–0.9: none red


def semantic_image(labels: np.ndarray, goal: int | None = None) -> np.ndarray:
    """uint8 (H, W, 3): the ``semantic`` sensor's labels (0 structure, 1 + category index), the
    goal's label (``goal``, if any) in ``SEMANTIC_GOAL``."""
    img = _SEMANTIC_LUT[labels]
    if goal is not None:
        img[labels == goal] = SEMANTIC_GOAL
    return img


def _goal_label(u) -> int | None:
    """The ``semantic`` label of a semantic episode's goal category, else None."""
    from ..scenes.render.raycast import category_label

    category = getattr(u.episode, "category", None)
    return category_label(category) if category else None


def _colorbar(height: int) -> np.ndarray:
    """The depth colour bar: 0 m at the bottom, ``MAX_DEPTH`` at the top, ticks every 2.5 m."""
    img = Image.new("RGB", (COLORBAR_W, height), _BG)
    draw = ImageDraw.Draw(img)
    top, bottom, x0, x1 = 8, height - 8, 4, 18
    ramp = DEPTH_LUT[np.linspace(255, 0, bottom - top).astype(int)]
    img.paste(Image.fromarray(np.repeat(ramp[:, None], x1 - x0, axis=1)), (x0, top))
    draw.rectangle((x0, top, x1 - 1, bottom - 1), outline=(0, 0, 0))
    f = td.font(11)
    for m in np.arange(0, MAX_DEPTH + 1e-9, 2.5):
        y = bottom - 1 - m / MAX_DEPTH * (bottom - top - 1)
        draw.line([(x1, y), (x1 + 3, y)], fill=(0, 0, 0))
        draw.text((x1 + 5, y), f"{m:g} m", fill=td.TEXT, font=f, anchor="lm")
    return np.asarray(img)


@functools.lru_cache(maxsize=4)
def _colorbar_cached(height: int) -> np.ndarray:
    return _colorbar(height)


def _map_panel(env, height: int) -> np.ndarray:
    """The top-down map (path so far, shortest path to the nearest goal, goal, sources, agent)
    fitted to ``height`` with a scale bar, and its legend in a column beside it."""
    u = env.unwrapped
    sim = u.sim
    graph = sim.ctx.graph
    goal_node = sim.sources[0].node if sim.sources else u.episode.goal_node
    goal = graph.positions[goal_node]
    sources = [graph.positions[s.node] for s in sim.sources[1:] if s.sounding(sim.steps)]  # those heard now
    try:
        shortest = graph.shortest_path(sim.node, u.nearest_goal())
        shortest = np.concatenate([np.asarray(sim.position)[None, :2], graph.positions[shortest][:, :2]])
    except Exception:  # no path (should not happen on the graph's component): none drawn
        shortest = None
    trajectory = np.array(sim.trajectory)
    area = u.goal_nodes()
    area = area if len(area) > 1 or area[0] != goal_node else None  # a goal of many nodes: a semantic one's view points
    img, layout = td.draw_topdown(graph, agent=sim.position, heading=sim.heading, goal=goal, path=trajectory,
                                  sources=sources, show_nodes=False, shortest_path=shortest, legend=False,
                                  scale_bar=False, pixels_per_meter=height / 8, return_layout=True,
                                  goal_area=None if area is None else np.asarray(area))
    fitted = _fit(img, height, max_width=2 * height)
    ppm = layout["ppm"] * fitted.shape[1] / img.shape[1]
    fitted, _ = td.scale_bar_on_map(fitted, ppm, size=11)
    column = Image.new("RGB", (LEGEND_W, height), _BG)
    entries = td.legend_entries(graph, sources=bool(sources), path_label="path so far", goal_area=area is not None)
    td.draw_legend(ImageDraw.Draw(column), entries, 6, 6, LEGEND_W - 8, size=11, vertical=True)
    return np.concatenate([fitted, np.asarray(column)], axis=1)


class _Hearing:
    """The hearing panel of one step: the left and right spectrograms of its audio (on the
    observation's fixed scale, so loudness shows) and a level meter; ``draw(k, n)`` gives the
    panel at sub-frame ``k`` of ``n`` (a playhead on the spectrograms, the level of that slice)."""

    def __init__(self, env, audio: np.ndarray, height: int, width: int = PANEL):
        from ..acoustics import spectrogram
        from ..acoustics.config import AUDIO_FULL_SCALE
        from ..acoustics.cues import spectrogram_bound

        cfg = env.unwrapped.cfg
        self.audio = np.asarray(audio, np.float64)
        self.full_scale = AUDIO_FULL_SCALE
        spec = np.asarray(spectrogram(self.audio, cfg, backend="numpy")) / spectrogram_bound(cfg)  # (F, T, 2)
        spec = np.sqrt(np.clip(spec, 0, 1))  # sqrt: quiet bins show too
        self.height, self.width = height, width
        self.sw = width - METER_W
        half = (height - 4 - 2 * 14) // 2
        self.rows = []
        img = Image.new("RGB", (width, height), _BG)
        draw = ImageDraw.Draw(img)
        f = td.font(11)
        y = 2
        for ch, name in enumerate(("left ear", "right ear")):
            draw.text((4, y), name, fill=td.TEXT, font=f)
            y += 14
            colours = SPEC_LUT[(spec[::-1, :, ch] * 255).astype(np.uint8)]
            img.paste(Image.fromarray(colours).resize((self.sw - 6, half), Image.BILINEAR), (4, y))
            self.rows.append((y, y + half))
            y += half + 2
        # the meter's scale
        self.mx = self.sw + 6
        self.mtop, self.mbottom = 18, height - 10
        draw.text((self.mx, 2), "L   R   dB", fill=td.TEXT, font=f)
        lo, hi = LEVEL_RANGE_DB
        for db in np.arange(lo, hi + 1e-9, 20):
            yy = self._y(db)
            draw.line([(self.mx + 30, yy), (self.mx + 33, yy)], fill=(0, 0, 0))
            draw.text((self.mx + 35, yy), f"{db:g}", fill=td.TEXT, font=td.font(10), anchor="lm")
        self.base = np.asarray(img)

    def _y(self, db: float) -> float:
        lo, hi = LEVEL_RANGE_DB
        t = (np.clip(db, lo, hi) - lo) / (hi - lo)
        return self.mbottom - t * (self.mbottom - self.mtop)

    def levels(self, k: int, n: int) -> np.ndarray:
        """dB re full scale of each ear's RMS over sub-frame ``k`` of ``n`` of the step's audio."""
        N = self.audio.shape[-1]
        part = self.audio[:, k * N // n:(k + 1) * N // n]
        rms = np.sqrt(np.mean(part ** 2, axis=-1)) if part.shape[-1] else np.zeros(2)
        return 20 * np.log10(np.maximum(rms / self.full_scale, 1e-9))

    def draw(self, k: int = 0, n: int = 1) -> np.ndarray:
        img = Image.fromarray(self.base.copy())
        draw = ImageDraw.Draw(img)
        if n > 1:  # the playhead: where in the step's second the audio is now
            x = 4 + (k + 0.5) / n * (self.sw - 6)
            for y0, y1 in self.rows:
                draw.line([(x, y0), (x, y1 - 1)], fill=(255, 255, 255), width=2)
        for ch, db in enumerate(self.levels(k, n)):
            x0 = self.mx + ch * 14
            draw.rectangle((x0, self.mtop, x0 + 10, self.mbottom), fill=(225, 225, 225), outline=(120, 120, 120))
            colour = (30, 170, 60) if db < -12 else (230, 170, 20) if db < -3 else (220, 30, 30)
            top = self._y(db)
            if top < self.mbottom - 1:  # silence (a semantic episode's sound has stopped): an empty bar
                draw.rectangle((x0 + 1, top, x0 + 9, self.mbottom - 1), fill=colour)
        return np.asarray(img)


def title_line(env) -> str:
    """Task, scene, episode and sound of the env's current episode."""
    u = env.unwrapped
    ep = u.episode
    parts = [f"{u.task}", f"scene {ep.scene}", f"episode {ep.episode_id}"]
    if u.uses_audio:
        parts.append(f"sound '{ep.sound}'")
    if getattr(ep, "category", None):
        parts.append(f"goal: {ep.category}")
    parts.append(f"start {u.start_distance:.1f} m from the goal")  # the distance STOP is judged by
    return "   |   ".join(parts)


def step_line(env, step: dict | None = None) -> str:
    """Step, action, distance to goal, reward and return (those known: ``step``'s ``action``,
    ``reward`` and ``return``)."""
    u = env.unwrapped
    step = step or {}
    parts = [f"step {u.sim.steps}/{u.max_steps}"]
    action = step.get("action")
    if u.sim.steps == 0:
        parts.append("start")
    elif action is not None:  # unknown between a waypoint agent's decisions
        parts.append(f"action {_ACTIONS.get(int(action), action)}")
    parts.append(f"distance to goal {u.distance_to_goal():.2f} m")
    if step.get("reward") is not None:
        parts.append(f"reward {step['reward']:+.2f}")
    if step.get("return") is not None:
        parts.append(f"return {step['return']:+.2f}")
    if step.get("outcome"):
        parts.append(step["outcome"])
    return "   |   ".join(parts)


def compose_frames(env, panels=(), step: dict | None = None, n: int = 1, layout: dict | None = None) -> list:
    """``n`` uint8 (H, W, 3) frames of the env's current state (see the module's docstring):
    alike but for the hearing panel, which moves through the step's audio. ``panels``: functions
    returning one more uint8 image each (an agent's own map, for instance). ``step``: what the
    per-step line says beyond the env's state (``step_line``). ``layout``, if given, receives
    each panel's (x0, y0, x1, y1) box under "panels" and the frame's size."""
    u = env.unwrapped
    sim = u.sim
    ctx = sim.ctx
    if ctx.renderer is None:  # sensors without rgb or depth: a renderer for people only
        ctx.renderer = u.make_renderer(ctx.scene)
    rgb, depth = ctx.renderer.render(sim.position, sim.heading)
    h = PANEL
    images = [("RGB", _fit(rgb, h)),
              ("depth (m)", np.concatenate([_fit(depth_image(depth), h), _colorbar_cached(h)], axis=1)),
              ("top-down map", _map_panel(env, h))]
    if SEMANTIC in u.observer.keys:
        images.append(("semantic (goal's category red)", _fit(semantic_image(sim.semantic()[..., 0], _goal_label(u)), h)))
    for k, panel in enumerate(panels):
        name = getattr(panel, "__name__", "") or f"panel {k + 1}"
        images.append((f"agent: {name.replace('_', ' ')}", _fit(panel(), h)))
    hearing = None
    if u.uses_audio:
        if u.last_audio is None:  # sensors without audio: hear it for people only
            u.last_audio = sim.audio()
        hearing = _Hearing(env, u.last_audio, h)
        images.append(("what the agent hears", hearing.draw(0, 1)))
    gap = 6
    width = sum(img.shape[1] for _, img in images) + gap * (len(images) + 1)
    width += width % 2
    height = TITLE_H + CAPTION_H + h + STEP_H
    height += height % 2
    canvas = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, TITLE_H - 1), fill=(235, 238, 245))
    draw.text((8, TITLE_H / 2), title_line(env), fill=td.TEXT, font=td.font(14), anchor="lm")
    draw.rectangle((0, height - STEP_H, width, height), fill=(245, 240, 228))
    draw.text((8, height - STEP_H / 2), step_line(env, step), fill=td.TEXT, font=td.font(14), anchor="lm")
    boxes = {}
    x, y = gap, TITLE_H + CAPTION_H
    for name, img in images:
        canvas.paste(Image.fromarray(img), (x, y))
        draw.text((x + 2, TITLE_H + CAPTION_H / 2), name, fill=td.TEXT, font=td.font(12), anchor="lm")
        boxes[name] = (x, y, x + img.shape[1], y + img.shape[0])
        x += img.shape[1] + gap
    base = np.asarray(canvas)
    if layout is not None:
        layout.update(panels=boxes, size=(height, width))
    if hearing is None or n == 1:
        return [base] * n if n > 1 else [base]
    x0, y0, x1, y1 = boxes["what the agent hears"]
    frames = []
    for k in range(n):
        frame = base.copy()
        frame[y0:y1, x0:x1] = hearing.draw(k, n)
        frames.append(frame)
    return frames


def compose_frame(env, panels=(), step: dict | None = None, layout: dict | None = None) -> np.ndarray:
    """One uint8 (H, W, 3) frame of the env's current state (``compose_frames`` with n = 1; the
    level meter shows the whole step's level)."""
    return compose_frames(env, panels, step, 1, layout)[0]


def record_episode(env, policy, path: str | os.PathLike, seed: int | None = None, options: dict | None = None, *,
                   panels=(), between_steps=None, fps: float = FPS) -> dict:
    """Run one episode with ``policy(env) -> action`` and write ``path`` (.mp4 at ``fps``, with the
    binaural audio muxed in when ffmpeg can) plus the audio as a .wav beside it. Each primitive
    step (and the start) is ``frames_per_step(env, fps)`` video frames, as long as its audio.
    ``panels``: extra images per frame (``compose_frame``). ``between_steps(capture)``: for an
    env whose step takes several primitive actions (the waypoint agent's wrapper), a context in
    which ``capture()`` is called after each of them; frames are then captured there instead of
    after each step. Agent kinds say which they need (``earshot.agents.kinds``:
    ``video_options``). Returns the final info."""
    import imageio.v2 as imageio
    import soundfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    u = env.unwrapped
    n = frames_per_step(env, fps)
    video_fps = n / u.cfg.step_seconds  # exactly n frames per step's audio
    silent = path.with_name(path.stem + ".video.mp4")
    audio = []
    state = {"action": None, "reward": None, "return": 0.0, "outcome": None}
    shape = None

    with imageio.get_writer(silent, fps=video_fps, macro_block_size=1) as writer:
        def capture(step=None):
            nonlocal shape
            for frame in compose_frames(env, panels, step, n):
                if shape is None:
                    shape = frame.shape
                elif frame.shape != shape:  # a panel changed size: keep the video's
                    fixed = np.full(shape, 255, np.uint8)
                    h, w = min(shape[0], frame.shape[0]), min(shape[1], frame.shape[1])
                    fixed[:h, :w] = frame[:h, :w]
                    frame = fixed
                writer.append_data(frame)
            if u.uses_audio:
                audio.append(u.last_audio)

        env.reset(seed=seed, options=options)
        capture({"return": None})
        info = {}
        with between_steps(capture) if between_steps is not None else contextlib.nullcontext():
            while True:
                action = policy(env)
                _, reward, terminated, truncated, info = env.step(action)
                state["return"] += float(reward)
                if terminated or truncated:
                    success = info.get("success")
                    state["outcome"] = ("success" if success else "failure") if success is not None else "end"
                if between_steps is None:
                    capture({"action": action, "reward": float(reward), "return": state["return"],
                             "outcome": state["outcome"]})
                if terminated or truncated:
                    break
    wav = path.with_suffix(".wav")
    if audio:
        pcm = np.concatenate(audio, axis=1).T
        with atomic_path(wav) as tmp:
            soundfile.write(tmp, pcm / max(1e-6, float(np.abs(pcm).max())) * 0.9, u.cfg.sample_rate, format="WAV")
        try:
            import imageio_ffmpeg

            with atomic_path(path) as tmp:  # a killed run leaves no half-written video
                subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(silent), "-i",
                                str(wav), "-c:v", "copy", "-c:a", "aac", "-shortest", "-f", "mp4", str(tmp)], check=True)
            silent.unlink()
        except Exception:  # no muxing available: keep the silent video next to the WAV
            os.replace(silent, path)
    else:
        os.replace(silent, path)
    return info

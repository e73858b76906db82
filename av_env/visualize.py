"""Frames and videos of episodes for people: first-person RGB, depth, a top-down map with the
path and the sources, and the spectrogram, side by side; MP4 (imageio-ffmpeg) with the binaural
audio muxed in, and a WAV beside it."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from ..files import atomic_path
from ..scenes.render.camera import depth_observation


def _fit(img: np.ndarray, height: int) -> np.ndarray:
    h, w = img.shape[:2]
    width = max(1, int(round(w * height / h)))
    return np.asarray(Image.fromarray(img).resize((width, height), Image.NEAREST if h < height else Image.BILINEAR))


def compose_frame(env, panels=()) -> np.ndarray:
    """uint8 (H, W, 3): [rgb | depth | top-down map | extra panels | spectrogram] of the env's
    current state; each of ``panels`` is a function returning one more uint8 image (an agent's
    own map, for instance)."""
    u = env.unwrapped
    sim = u.sim
    ctx = sim.ctx
    if ctx.renderer is None:  # sensors without rgb or depth: a renderer for people only
        ctx.renderer = u.make_renderer(ctx.scene)
    rgb, depth = ctx.renderer.render(sim.position, sim.heading)
    h = max(rgb.shape[0], 256)
    d = depth_observation(depth)[..., 0]
    depth_img = np.repeat((np.where(depth > 0, 1 - 0.85 * d, 0) * 255).astype(np.uint8)[..., None], 3, axis=2)
    sources = [ctx.graph.positions[s.node] for s in sim.sources[1:]]
    goal = ctx.graph.positions[sim.sources[0].node if sim.sources else u.episode.goal_node]
    topdown = ctx.graph.topdown_map(agent=sim.position, heading=sim.heading, goal=goal, path=np.array(sim.trajectory),
                                    sources=sources, show_nodes=False)
    images = [_fit(rgb, h), _fit(depth_img, h), _fit(topdown, h)]
    for panel in panels:
        images.append(_fit(panel(), h))
    if u.uses_audio:
        from ..acoustics import spectrogram

        if u.last_audio is None:  # sensors without audio: hear it for people only
            u.last_audio = sim.audio()
        spec = np.asarray(spectrogram(u.last_audio, u.cfg, backend="numpy"))  # (F, T, 2)
        img = np.concatenate([spec[::-1, :, 0], np.full((spec.shape[0], 2), spec.max()), spec[::-1, :, 1]], axis=1)
        img = (255 * np.sqrt(img / max(float(img.max()), 1e-6))).astype(np.uint8)  # sqrt: show quiet bins too
        images.append(_fit(np.repeat(img[..., None], 3, axis=2), h))
    return np.concatenate(images, axis=1)


def record_episode(env, policy, path: str | os.PathLike, seed: int | None = None, options: dict | None = None, *,
                   panels=(), between_steps=None) -> dict:
    """Run one episode with ``policy(env) -> action`` and write ``path`` (.mp4, with the binaural
    audio muxed in when ffmpeg can) plus the audio as a .wav beside it: one frame per primitive
    step. ``panels``: extra images per frame (``compose_frame``). ``between_steps(capture)``: for
    an env whose step takes several primitive actions (the waypoint agent's wrapper), a context
    in which ``capture()`` is called after each of them; frames are then captured there instead
    of after each step. Agent kinds say which they need (``earshot.agents.kinds``:
    ``video_options``). Returns the final info."""
    import imageio.v2 as imageio
    import soundfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    u = env.unwrapped
    env.reset(seed=seed, options=options)
    frames, audio = [compose_frame(env, panels)], [u.last_audio] if u.uses_audio else []

    def capture():
        frames.append(compose_frame(env, panels))
        if u.uses_audio:
            audio.append(u.last_audio)

    info = {}
    with between_steps(capture) if between_steps is not None else contextlib.nullcontext():
        while True:
            _, _, terminated, truncated, info = env.step(policy(env))
            if between_steps is None:
                capture()
            if terminated or truncated:
                break
    fps = 1.0 / u.cfg.step_seconds
    silent = path.with_name(path.stem + ".video.mp4")
    imageio.mimwrite(silent, [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in frames], fps=fps,
                     macro_block_size=1)
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

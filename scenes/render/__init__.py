"""RGB-D renderers. ``make_renderer(backend, scene, ...)`` returns an object with
``render(position, heading) -> (rgb uint8 (H, W, 3), depth float32 (H, W) metres)``.

Backends: ``raycast`` (always available), ``gl`` (moderngl + EGL, extra ``gl``), ``habitat``
(habitat-sim, conda only) and ``auto`` (``gl`` where an EGL context can be created, else
``raycast``; the choice is logged). See ``scenes.render.camera`` for the pose conventions.
"""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

from ..scene import Scene
from .camera import DEFAULT_CAMERA_HEIGHT, Camera

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "raycast", "gl", "habitat")


class Renderer(Protocol):
    backend: str
    camera: Camera

    def render(self, position, heading: float) -> tuple[np.ndarray, np.ndarray]: ...

    def close(self) -> None: ...


def make_renderer(backend: str, scene: Scene, width: int = 128, height: int = 128, hfov_deg: float = 90.0,
                  camera_height: float = DEFAULT_CAMERA_HEIGHT) -> Renderer:
    """A renderer of ``scene`` for ``backend`` in {"auto", "raycast", "gl", "habitat"}."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if not isinstance(scene, Scene):
        raise ValueError(f"scene must be a earshot.scenes.Scene, got {type(scene).__name__}")
    Camera(width, height, hfov_deg, camera_height)  # validates the camera arguments before any backend starts
    kwargs = dict(width=width, height=height, hfov_deg=hfov_deg, camera_height=camera_height)
    if backend == "auto":
        from .gl import egl_available

        ok, detail = egl_available()
        backend = "gl" if ok else "raycast"
        logger.info("renderer 'auto' chose %r (%s)", backend, detail if ok else f"EGL unavailable: {detail}")
    if backend == "raycast":
        from .raycast import RaycastRenderer

        return RaycastRenderer(scene, **kwargs)
    if backend == "gl":
        from .gl import GLRenderer, _context

        _context()  # fail now, with the fix named, rather than at the first frame
        return GLRenderer(scene, **kwargs)
    if backend == "habitat":
        from .habitat import HabitatRenderer

        return HabitatRenderer(scene, **kwargs)
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")


__all__ = ["BACKENDS", "Camera", "DEFAULT_CAMERA_HEIGHT", "Renderer", "make_renderer"]

"""CPU RGB-D renderer: Embree ray casting with flat Lambertian shading (no system libraries)."""

from __future__ import annotations

import numpy as np

from ..scene import Scene
from .camera import DEFAULT_CAMERA_HEIGHT, Camera

AMBIENT = 0.35  # shading = AMBIENT + DIFFUSE * |cos(angle between normal and view ray)|
DIFFUSE = 0.65
BACKGROUND_RGB = (200, 215, 230)  # pixels that hit nothing (open meshes)


class RaycastRenderer:
    """Renders ``rgb`` uint8 (H, W, 3) and z-depth float32 (H, W) metres by casting one ray per pixel."""

    backend = "raycast"

    def __init__(self, scene: Scene, width: int = 128, height: int = 128, hfov_deg: float = 90.0,
                 camera_height: float | None = None):
        self.scene = scene
        self.camera = Camera(width, height, hfov_deg, DEFAULT_CAMERA_HEIGHT if camera_height is None else camera_height)
        self._dirs = self.camera.ray_directions
        # unit face normals and colours looked up by the hit face's index; row F is the background
        self._normals = np.r_[scene.face_normals, np.zeros((1, 3))].astype(np.float32)
        self._colors = np.r_[scene.face_colors, np.array([BACKGROUND_RGB])].astype(np.float32)
        self._inv_len = (1.0 / np.linalg.norm(self._dirs, axis=1)).astype(np.float32)

    def render(self, position, heading: float) -> tuple[np.ndarray, np.ndarray]:
        """RGB-D for an agent at ``position`` (feet, metres) facing ``heading`` (radians)."""
        eye = self.camera.eye(position, self.scene.floor_height)
        rot = self.camera.rotation(float(heading)).astype(np.float32)
        dirs = self._dirs @ rot.T
        origins = np.broadcast_to(eye.astype(np.float32), dirs.shape)
        t, face = self.scene.ray_caster.intersect(origins, dirs)
        miss = face < 0
        face[miss] = len(self._normals) - 1
        cos = np.abs(np.einsum("ij,ij->i", self._normals[face], dirs)) * self._inv_len
        shade = AMBIENT + DIFFUSE * cos
        shade[miss] = 1.0
        rgb = np.rint(np.clip(self._colors[face] * shade[:, None], 0, 255)).astype(np.uint8)  # round like GL
        depth = np.where(miss, 0.0, t).astype(np.float32)
        h, w = self.camera.height, self.camera.width
        return rgb.reshape(h, w, 3), depth.reshape(h, w)

    def close(self) -> None:
        pass

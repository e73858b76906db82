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
        # unit face normals and colours looked up by the hit face's index; row F is the background
        self._normals = np.r_[scene.face_normals, np.zeros((1, 3))].astype(np.float32)
        self._colors = np.r_[scene.face_colors, np.array([BACKGROUND_RGB])].astype(np.float32)
        self._inv_len = (1.0 / np.linalg.norm(self.camera.ray_directions, axis=1)).astype(np.float32)

    def render(self, position, heading: float) -> tuple[np.ndarray, np.ndarray]:
        """RGB-D for an agent at ``position`` (feet, metres) facing ``heading`` (radians)."""
        t, face, dirs = cast_pixels(self.scene, self.camera, position, heading)
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


def cast_pixels(scene: Scene, camera: Camera, position, heading: float):
    """One ray per pixel of ``camera`` for an agent at ``position`` facing ``heading``: each
    ray's z-depth (H*W,) and hit face (-1 where nothing is hit), and the world directions."""
    eye = camera.eye(position, scene.floor_height)
    rot = camera.rotation(float(heading)).astype(np.float32)
    dirs = camera.ray_directions @ rot.T
    origins = np.broadcast_to(eye.astype(np.float32), dirs.shape)
    t, face = scene.ray_caster.intersect(origins, dirs)
    return t, face, dirs


def category_label(category: str) -> int:
    """The ``semantic`` sensor's label of ``category``: 1 + its index in ``earshot.scenes.CATEGORIES``
    (0 is structure)."""
    from ..procedural import CATEGORIES

    return CATEGORIES.index(category) + 1


def face_categories(scene: Scene) -> np.ndarray:
    """(F + 1,) uint8: for every face, 1 + the index in ``earshot.scenes.CATEGORIES`` of the
    category of the object it belongs to, 0 for structure (walls, floors, doors); the last entry,
    0, is for rays that hit nothing."""
    from ..procedural import CATEGORIES

    if not scene.objects:
        raise ValueError(f"scene {scene.name!r} has no objects, so the semantic sensor would see nothing but 0: a "
                         "bare mesh carries no object semantics; leave 'semantic' out of the sensors for it")
    labels = np.zeros(len(scene.objects) + 1, np.uint8)  # row -1: structure
    for i, obj in enumerate(scene.objects):
        if obj.category not in CATEGORIES:
            raise ValueError(f"scene {scene.name!r} has an object of category {obj.category!r}, which the semantic "
                             f"sensor cannot label: its categories are earshot.scenes.CATEGORIES {list(CATEGORIES)}")
        labels[i] = category_label(obj.category)
    return np.r_[labels[scene.face_objects], np.uint8(0)]


class SemanticCamera:
    """Per-pixel object categories (habitat's semantic sensor, by category): ``render(position,
    heading)`` gives uint8 (H, W), 1 + the ``CATEGORIES`` index of the object each pixel's ray
    hits first, 0 for structure or nothing. Cast by Embree through ``camera`` whatever backend
    renders the RGB-D frame, so its pixels are the ray caster's (the GL frame may differ at
    edges by a pixel)."""

    def __init__(self, scene: Scene, camera: Camera):
        self.scene, self.camera = scene, camera
        self._labels = face_categories(scene)

    def render(self, position, heading: float) -> np.ndarray:
        _, face, _ = cast_pixels(self.scene, self.camera, position, heading)
        return self._labels[face].reshape(self.camera.height, self.camera.width)

    def close(self) -> None:
        pass

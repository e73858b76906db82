"""Ray casting against a triangle mesh with Embree (via embreex; Embree ships inside the wheel)."""

from __future__ import annotations

import os

import numpy as np


class RayCaster:
    """Closest-hit ray queries against fixed triangles.

    Args:
        triangles: (F, 3, 3) float, the triangle vertices in metres.

    The Embree scene is built lazily in the process that first casts, so a RayCaster can be
    created before ``fork`` and used in each child.
    """

    def __init__(self, triangles: np.ndarray):
        self._triangles = np.ascontiguousarray(triangles, dtype=np.float32)
        if self._triangles.ndim != 3 or self._triangles.shape[1:] != (3, 3):
            raise ValueError(f"triangles must have shape (F, 3, 3), got {self._triangles.shape}")
        self._scene = None
        self._pid = None

    def __getstate__(self) -> dict:  # Embree scenes do not pickle: rebuilt in the receiving process
        return {"_triangles": self._triangles, "_scene": None, "_pid": None}

    def _embree(self):
        if self._scene is None or self._pid != os.getpid():
            from embreex import rtcore_scene
            from embreex.mesh_construction import TriangleMesh

            scene = rtcore_scene.EmbreeScene()
            TriangleMesh(scene, self._triangles)
            self._scene, self._pid = scene, os.getpid()
        return self._scene

    def intersect(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Closest hit along each ray.

        Args:
            origins: (N, 3) float, ray origins.
            directions: (N, 3) float, ray directions (need not be unit length).

        Returns:
            t: (N,) float32 ray parameter of the hit, in units of the direction's length
               (metres for unit directions); ``inf`` where the ray hits nothing.
            face: (N,) int64 index of the hit triangle, -1 where nothing is hit.
        """
        origins = np.ascontiguousarray(origins, dtype=np.float32).reshape(-1, 3)
        directions = np.ascontiguousarray(directions, dtype=np.float32).reshape(-1, 3)
        if len(self._triangles) == 0 or len(origins) == 0:
            n = len(origins)
            return np.full(n, np.inf, np.float32), np.full(n, -1, np.int64)
        result = self._embree().run(origins, directions, output=1)
        face = result["primID"].astype(np.int64)
        t = result["tfar"].astype(np.float32)
        t[face < 0] = np.inf
        return t, face

    def first_hit_distance(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """(N,) float32 distance to the closest hit, ``inf`` for a miss."""
        return self.intersect(origins, directions)[0]

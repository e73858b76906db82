"""Pinhole camera conventions shared by every renderer backend.

The agent stands at ``position`` (its feet, on the floor) facing ``heading`` (yaw, radians
counter-clockwise from +x); the camera is ``camera_height`` metres above that point, looking
horizontally. Image rows run top to bottom, columns left to right; pixel (r, c) looks through
its centre. Depth is z-depth: distance along the optical axis, in metres; 0 where nothing is hit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

DEFAULT_CAMERA_HEIGHT = 1.5  # m above the agent's floor position (and the ears', acoustics.AudioConfig)
MAX_DEPTH = 10.0  # m: depth observations are metres / MAX_DEPTH, clipped to [0, 1] (SoundSpaces)


def depth_observation(depth_m: np.ndarray) -> np.ndarray:
    """float32 (H, W, 1) in [0, 1]: a (H, W) depth image in metres as observed (metres /
    MAX_DEPTH, clipped; SoundSpaces' normalisation). The one place depth is scaled."""
    return np.clip(depth_m / MAX_DEPTH, 0.0, 1.0)[..., None].astype(np.float32)


def depth_metres(observation: np.ndarray) -> np.ndarray:
    """The inverse of ``depth_observation`` (metres; depths beyond MAX_DEPTH read MAX_DEPTH)."""
    return np.asarray(observation) * MAX_DEPTH


@dataclass(frozen=True)
class Camera:
    width: int = 128
    height: int = 128
    hfov_deg: float = 90.0
    camera_height: float = DEFAULT_CAMERA_HEIGHT

    def __post_init__(self) -> None:
        from ..checks import check_int, check_number

        check_int("width", self.width, low=1, high=8192)
        check_int("height", self.height, low=1, high=8192)
        check_number("hfov_deg", self.hfov_deg, low=0.0, high=180.0, low_open=True, high_open=True, unit="degrees")
        check_number("camera_height", self.camera_height, low=0.0, high=10.0, low_open=True, unit="m")

    @property
    def focal(self) -> float:
        """Focal length in pixels (square pixels)."""
        return (self.width / 2) / np.tan(np.radians(self.hfov_deg) / 2)

    @cached_property
    def ray_directions(self) -> np.ndarray:
        """(H*W, 3) float32 camera-frame directions (x forward, y left, z up) with unit forward
        component, so a hit's ray parameter is its z-depth."""
        c = np.arange(self.width) + 0.5 - self.width / 2
        r = np.arange(self.height) + 0.5 - self.height / 2
        cc, rr = np.meshgrid(c, r)
        d = np.stack([np.ones_like(cc), -cc / self.focal, -rr / self.focal], axis=-1)
        return np.ascontiguousarray(d.reshape(-1, 3), dtype=np.float32)

    def eye(self, position, floor_height: float = 0.0) -> np.ndarray:
        """(3,) camera centre for an agent at ``position``: (3,) feet position, or (2,) xy on the
        floor at ``floor_height``."""
        p = np.asarray(position, dtype=np.float64).reshape(-1)
        if p.shape == (2,):
            p = np.r_[p, floor_height]
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise ValueError(f"position must be 2 or 3 finite coordinates in metres, got {position!r}")
        return p + np.array([0.0, 0.0, self.camera_height])

    @staticmethod
    def rotation(heading: float) -> np.ndarray:
        """(3, 3) camera-to-world rotation for a yaw ``heading`` (radians)."""
        if not np.isfinite(heading):
            raise ValueError(f"heading must be a finite angle in radians, got {heading!r}")
        c, s = np.cos(heading), np.sin(heading)
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])

"""Angles, defined once: headings are yaw in radians counter-clockwise from +x."""

from __future__ import annotations

import numpy as np


def wrap_angle(angle):
    """Angle(s) in radians wrapped to (-pi, pi]."""
    wrapped = -((-np.asarray(angle, dtype=np.float64) + np.pi) % (2 * np.pi) - np.pi)
    return float(wrapped) if np.ndim(wrapped) == 0 else wrapped

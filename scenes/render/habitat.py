"""Adapter over habitat-sim's RGB-D sensors (optional).

habitat-sim is not on PyPI for Linux: install it with conda
(``conda install habitat-sim -c conda-forge -c aihabitat``) in the same environment as earshot.
The adapter exports the Scene to a temporary .glb (y-up, as habitat expects), places an agent
with colour and depth sensors ``camera_height`` above ``position``, and converts earshot's pose
convention (z up, yaw counter-clockwise from +x) to habitat's (y up, looking down -z).
It is not exercised by earshot's tests, which cannot install habitat-sim.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..scene import Scene
from .camera import DEFAULT_CAMERA_HEIGHT, Camera


def _import_habitat():
    try:
        import habitat_sim  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "the 'habitat' renderer needs habitat-sim, which is not installable from PyPI on Linux: "
            "conda install habitat-sim -c conda-forge -c aihabitat (or use renderer='raycast' or 'gl')"
        ) from exc
    return habitat_sim


class HabitatRenderer:
    backend = "habitat"

    def __init__(self, scene: Scene, width: int = 128, height: int = 128, hfov_deg: float = 90.0,
                 camera_height: float | None = None):
        habitat_sim = _import_habitat()
        self.scene = scene
        self.camera = Camera(width, height, hfov_deg, DEFAULT_CAMERA_HEIGHT if camera_height is None else camera_height)
        self._tmp = tempfile.TemporaryDirectory(prefix="earshot_habitat_")
        glb = Path(self._tmp.name) / "scene.glb"
        _export_y_up(scene, glb)
        sim_cfg = habitat_sim.SimulatorConfiguration()
        sim_cfg.scene_id = str(glb)
        sensors = []
        for uuid, kind in (("rgb", habitat_sim.SensorType.COLOR), ("depth", habitat_sim.SensorType.DEPTH)):
            spec = habitat_sim.CameraSensorSpec()
            spec.uuid, spec.sensor_type = uuid, kind
            spec.resolution = [height, width]
            spec.hfov = hfov_deg
            spec.position = [0.0, self.camera.camera_height, 0.0]
            sensors.append(spec)
        agent_cfg = habitat_sim.agent.AgentConfiguration(sensor_specifications=sensors)
        self._sim = habitat_sim.Simulator(habitat_sim.Configuration(sim_cfg, [agent_cfg]))
        self._habitat = habitat_sim

    def render(self, position, heading: float):
        p = np.asarray(position, dtype=np.float64).reshape(-1)
        if p.shape == (2,):
            p = np.r_[p, self.scene.floor_height]
        state = self._habitat.AgentState()
        state.position = np.array([p[0], p[2], -p[1]], dtype=np.float32)  # z-up -> y-up
        # habitat looks down -z; yaw about +y by (heading - pi/2) turns -z onto earshot's heading
        angle = heading - np.pi / 2
        state.rotation = np.quaternion(np.cos(angle / 2), 0.0, np.sin(angle / 2), 0.0)
        self._sim.get_agent(0).set_state(state)
        obs = self._sim.get_sensor_observations()
        return np.ascontiguousarray(obs["rgb"][..., :3], np.uint8), np.ascontiguousarray(obs["depth"], np.float32)

    def close(self) -> None:
        self._sim.close()
        self._tmp.cleanup()


def _export_y_up(scene: Scene, path: Path) -> None:
    import trimesh

    from ..scene import Scene as _Scene

    v = np.asarray(scene.mesh.vertices)
    y_up = np.c_[v[:, 0], v[:, 2], -v[:, 1]]
    _Scene(trimesh.Trimesh(y_up, scene.mesh.faces, process=False), scene.face_materials, scene.materials,
           face_colors=scene.face_colors, floor_height=scene.floor_height, name=scene.name).export(path)

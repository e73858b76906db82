"""Room impulse responses from scene geometry, the batch entry points: ``compute_rirs`` checks
its inputs and assembles one source's RIRs to many receivers (``acoustics.assemble``) as
``DirectionalRIR``s, rendered binaurally for any heading (``acoustics.binaural``).

Per-scene acoustic state (image sources, door graph, traced tails, ...) lives in a
``SceneAcoustics``: the one passed as ``acoustics=``, else the scene's own.
"""

from __future__ import annotations

import numpy as np

from ..scenes import Scene
from ..scenes.checks import check_points

from .assemble import TRACE_SECONDS, assemble_rirs, door_path_length
from .binaural import DirectionalRIR, band_weights, tail_envelope
from .config import AudioConfig
from .geometry import room_of
from .scene_acoustics import SceneAcoustics, scene_acoustics


def compute_rir(scene: Scene, source, receiver, config: AudioConfig | None = None, *,
                acoustics: SceneAcoustics | None = None) -> DirectionalRIR:
    """The RIR from ``source`` to ``receiver`` ((3,) points in metres, as given)."""
    return compute_rirs(scene, source, np.asarray(receiver, dtype=np.float64).reshape(1, 3), config,
                        acoustics=acoustics)[0]


def compute_rirs(scene: Scene, source, receivers, config: AudioConfig | None = None, *,
                 check_free_space: bool = True, direct: bool = True,
                 acoustics: SceneAcoustics | None = None) -> list[DirectionalRIR]:
    """RIRs from one ``source`` (3,) to many ``receivers`` (M, 3), sharing one image-source pass.

    Points must lie in the scene's free space (one clear error otherwise); callers that pass
    points known to be free, such as NavGraph nodes at ear height, may skip that check.
    ``direct=False`` leaves out the straight source-to-receiver path (echoes: an emitter on the
    listener's own head; the diffuse tail then starts at the first reflection). ``acoustics``
    is the scene's ``SceneAcoustics`` to read and fill (default: the one stored on ``scene``)."""
    config = config or AudioConfig()
    if not isinstance(config, AudioConfig):
        raise ValueError(f"config must be an AudioConfig, got {type(config).__name__}")
    src = check_points("source", source, 3, single=True)
    rec = check_points("receivers", receivers, 3)
    if check_free_space:
        check_in_free_space(scene, src[None], "source")
        check_in_free_space(scene, rec, "receiver")
    if acoustics is None:
        acoustics = scene_acoustics(scene)
    elif not isinstance(acoustics, SceneAcoustics) or not acoustics.belongs_to(scene):
        raise ValueError("acoustics must be the SceneAcoustics of this scene (SceneAcoustics(scene)), "
                         f"got {acoustics!r}")
    return assemble_rirs(acoustics, src, rec, config, direct)


def check_in_free_space(scene: Scene, points: np.ndarray, what: str) -> None:
    """Raise one ValueError naming the first of ``points`` (M, 3) that is not in the scene's free
    space (below the floor, above the ceiling, outside the mesh, inside a wall or slab): sound
    sources and listeners must be in the air inside the scene."""
    if not isinstance(scene, Scene):
        raise ValueError(f"scene must be a earshot.scenes.Scene, got {type(scene).__name__}")
    for k, problem in enumerate(scene.free_space_problems(points)):
        if problem is not None:
            p = points[k]
            label = what if len(points) == 1 else f"{what} {k}"
            raise ValueError(f"{label} at ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m is {problem}; sources and "
                             f"receivers must lie in free space inside scene {scene.name!r}")


def tail_vs_raytraced(scene: Scene, source, receivers, config: AudioConfig | None = None, rays: int = 5000) -> np.ndarray:
    """(M, 6) ratios of the fast tail's T30 (``config.tail``, ray-traced by default) to the T60 fitted to pyroomacoustics' ray tracer
    (furniture included) for the same source and receivers: the fast tail's validation."""
    config = config or AudioConfig()
    fast = compute_rirs(scene, source, receivers, config)
    traced = compute_rirs(scene, source, receivers, config.replace(tail="raytraced", rays=rays, include_furniture=True))
    return np.array([a.tail_t30() / b.tail_rt60 for a, b in zip(fast, traced)])


# the names tests and older code import from here
_door_path_length = door_path_length
_room_of = room_of

__all__ = ["TRACE_SECONDS", "DirectionalRIR", "band_weights", "check_in_free_space", "compute_rir", "compute_rirs",
           "tail_envelope", "tail_vs_raytraced"]

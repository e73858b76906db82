"""Observations: the spaces an env declares and the observation of each step, computing only the
observed keys. The scaling of each key is stated once: ``depth`` by
``scenes.render.camera.depth_observation`` (metres / 10), ``spectrogram`` and the other audio
features by ``acoustics.cues`` (``spectrogram_bound``, ``FEATURE_RANGES``; re-exported here),
``echo`` by ``acoustics.echo.echo_spectrogram``."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from ..acoustics import AudioConfig
from ..acoustics.cues import FEATURE_RANGES, audio_feature, feature_shape, scale_spectrogram, spectrogram_bound
from ..scenes import Action
from ..scenes.lru import BUDGETS, LRU
from ..scenes.render.camera import MAX_DEPTH, depth_metres
from .config import SensorConfig
from .egomap import LocalMap
from .simulator import AUDIO_FULL_SCALE, Simulator
from .tasks import Task


LAST_ACTION = "last_action"  # opt-in key: only observed when the sensors name it
N_ACTIONS = len(Action)


def last_action_vector(last_action: int | None, blocked: bool) -> np.ndarray:
    """(N_ACTIONS + 2,) float32: the action just taken one-hot (index N_ACTIONS: none yet), then
    1.0 when it was a blocked MOVE_FORWARD."""
    v = np.zeros(N_ACTIONS + 2, np.float32)
    v[N_ACTIONS if last_action is None else int(last_action)] = 1.0
    v[-1] = float(blocked)
    return v


VISITS = "visits"  # opt-in key: only observed when the sensors name it
VISITS_CAP = 64  # the count at which the visits observation reaches 1


def visits_value(earlier: int) -> np.ndarray:
    """(1,) float32: log(1 + n) / log(1 + VISITS_CAP), capped at 1, for n earlier steps of the
    episode that ended where the agent stands (0 on a first visit)."""
    return np.array([min(np.log1p(earlier) / np.log1p(VISITS_CAP), 1.0)], np.float32)


POSE = "pose"  # opt-in key: only observed when the sensors name it
POSE_SCALE = 10.0  # metres per unit of the pose observation's displacement
POSE_BOUND = 5.0  # the displacement's bound in those units (50 m)


def frame_vector(origin: np.ndarray, heading: float, point: np.ndarray) -> np.ndarray:
    """(2,) float32: ``point`` seen from ``origin`` facing ``heading`` (radians): (ahead, to the
    left) in metres / ``POSE_SCALE``, clipped to ±``POSE_BOUND``."""
    d = np.asarray(point[:2], np.float64) - np.asarray(origin[:2], np.float64)
    c, s = np.cos(heading), np.sin(heading)
    return np.clip(np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1]]) / POSE_SCALE, -POSE_BOUND,
                   POSE_BOUND).astype(np.float32)


def pose_vector(start_position: np.ndarray, start_heading: float, position: np.ndarray, heading: float) -> np.ndarray:
    """(4,) float32: the agent's displacement from where the episode started, in the start's frame
    (``frame_vector``: x ahead, y to the left, metres / ``POSE_SCALE``, clipped to ±``POSE_BOUND``),
    then the cosine and sine of its heading relative to the start's (habitat's episodic GPS +
    compass, as SAVi observes its pose)."""
    xy = frame_vector(start_position, start_heading, position)
    turn = heading - start_heading
    return np.array([xy[0], xy[1], np.cos(turn), np.sin(turn)], np.float32)


LOCAL_MAP = "local_map"  # opt-in key: only observed when the sensors name it (``egomap.LocalMap``)
SEMANTIC = "semantic"  # opt-in key: per-pixel object categories (``Simulator.semantic``)

# the opt-in keys (observed only when ``sensors`` names them): their width, bounds and value
_OPT_IN = {
    LAST_ACTION: (N_ACTIONS + 2, 0.0, 1.0, lambda sim: last_action_vector(sim.last_action, sim.blocked)),
    VISITS: (1, 0.0, 1.0, lambda sim: visits_value(sim.visits[sim.node] - 1)),
    POSE: (4, np.array([-POSE_BOUND, -POSE_BOUND, -1.0, -1.0], np.float32), np.array([POSE_BOUND, POSE_BOUND, 1.0, 1.0], np.float32),
           lambda sim: pose_vector(sim.trajectory[0], sim.start_heading, sim.position, sim.heading)),
}


class Observer:
    """The observation spaces of a task under a sensor config, and each step's observation.

    Args:
        task: the task (its own keys: point goal, category).
        sensors: what is observed.
        audio_config: the audio heard.
        echo_config: the chirp's config when echoes are observed, else None.
    """

    def __init__(self, task: Task, sensors: SensorConfig, audio_config: AudioConfig, echo_config: AudioConfig | None):
        self.task, self.cfg = task, audio_config
        h = w = sensors.resolution
        obs = {"rgb": spaces.Box(0, 255, (h, w, 3), np.uint8), "depth": spaces.Box(0.0, 1.0, (h, w, 1), np.float32)}
        # observation key -> acoustics.cues feature name (the spectrogram is one of them)
        self.cue_keys: dict[str, str] = {}
        if task.uses_audio:
            for key in sensors.audio_keys:
                if key == "audiogoal":
                    obs["audiogoal"] = spaces.Box(-AUDIO_FULL_SCALE, AUDIO_FULL_SCALE, (2, audio_config.step_samples),
                                                  np.float32)
                else:
                    name = key.replace("_", "-")
                    low, high = FEATURE_RANGES[name]
                    obs[key] = spaces.Box(low, high, feature_shape(name, audio_config), np.float32)
                    self.cue_keys[key] = name
        if echo_config is not None:
            from ..acoustics.echo import echo_spectrogram

            shape = echo_spectrogram(np.zeros((2, echo_config.step_samples), np.float32), echo_config).shape
            obs["echo"] = spaces.Box(0.0, 1.0, shape, np.float32)
        obs.update(task.observation_spaces())
        for key, (size, low, high, _) in _OPT_IN.items():
            if sensors.sensors is not None and key in sensors.sensors:
                obs[key] = spaces.Box(low, high, (size,), np.float32)
        self.local_map: LocalMap | None = None
        if sensors.sensors is not None and LOCAL_MAP in sensors.sensors:
            obs[LOCAL_MAP] = spaces.Box(0.0, 1.0, LocalMap.shape, np.float32)
            self.local_map = LocalMap(sensors.hfov_deg, sensors.camera_height if sensors.camera_height is not None
                                      else audio_config.ear_height, VISITS_CAP)  # its visits scaled as ``visits``
        if sensors.sensors is not None and SEMANTIC in sensors.sensors:
            # uint8 0..255 like rgb, so every policy sees it as an image; the values are 0..len(CATEGORIES)
            obs[SEMANTIC] = spaces.Box(0, 255, (h, w, 1), np.uint8)
        self.keys = sensors.select(tuple(obs))
        self.space = spaces.Dict({k: v for k, v in obs.items() if k in self.keys})
        self.renders = bool({"rgb", "depth", LOCAL_MAP} & set(self.keys))  # the frame is needed (the map is built from depth)
        self.needs_camera = self.renders or SEMANTIC in self.keys  # the renderer's camera (semantic casts through it)
        self.spectrogram_scale = spectrogram_bound(audio_config)
        self.last_audio: np.ndarray | None = None
        self.spectrograms: LRU = LRU(BUDGETS.step_spectrograms)  # observed audio features by (key, audio_key())

    @property
    def audio_keys(self) -> frozenset[str]:
        """The observed keys that carry the sound heard: the waveform and each audio feature."""
        return frozenset(k for k in self.keys if k == "audiogoal" or k in self.cue_keys)

    def begin_episode(self, sim: Simulator) -> None:
        """Start the episode's own state (the ``local_map``) at the agent's start."""
        if self.local_map is not None:
            self.local_map.begin(sim.position)

    def observe(self, sim: Simulator, episode) -> dict:
        """The observation, computing only the observed keys: no rendering without rgb or depth
        (or the ``local_map``, built from depth), no audio without an audio key."""
        wanted = self.keys
        obs = {}
        if self.renders:
            rgb, depth = sim.rgbd()
            obs.update(rgb=rgb, depth=depth)
            if LOCAL_MAP in wanted:
                obs[LOCAL_MAP] = self.local_map.observe(depth_metres(depth), sim.position, sim.heading, MAX_DEPTH)
        self.last_audio = None
        if SEMANTIC in wanted:
            obs[SEMANTIC] = sim.semantic()
        if "audiogoal" in wanted:
            obs["audiogoal"] = self.last_audio = sim.audio()  # kept for frames and videos of this step
        if "echo" in wanted:
            obs["echo"] = sim.echo()
        for key, name in self.cue_keys.items():
            if key not in wanted:
                continue
            # a revisited (position, heading) at the same point of the sounds' loops hears the
            # same signal: its features are kept (13.5 kB for a spectrogram at 16 kHz)
            cue_key = (key, sim.audio_key())
            value = self.spectrograms.get(cue_key)
            if value is None:
                if self.last_audio is None:
                    self.last_audio = sim.audio()
                value = self.spectrograms[cue_key] = audio_feature(name, self.last_audio, self.cfg)
            obs[key] = value.copy()
        obs.update(self.task.observe(sim, episode))
        for key, (*_, value) in _OPT_IN.items():
            if key in wanted:
                obs[key] = value(sim)
        return {k: obs[k] for k in wanted}

    def close(self) -> None:
        self.spectrograms.clear()


__all__ = ["SEMANTIC", "Observer", "scale_spectrogram", "spectrogram_bound"]

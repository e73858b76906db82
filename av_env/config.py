"""The env's configuration: small frozen dataclasses, each validated once, when it is made.

``EnvConfig`` composes them: ``SensorConfig`` (what is observed and how it is rendered),
``MotionConfig`` (how actions move the agent), ``AcousticsConfig`` (the audio numbers and the
RIR cache), ``EpisodeConfig`` (scenes, sounds, episodes and their limits), plus the task's name
and its own options (``task_options``, checked by the Task class itself).

``EnvConfig.from_kwargs`` is the one place the flat keyword arguments of
``gym.make("earshot/AudioGoal-v0", **kwargs)`` are mapped onto these configs (``FLAT_KWARGS``
lists where each goes), so code written against the flat arguments keeps working::

    cfg = EnvConfig(task="moving_source", task_options={"p_move": 0.5},
                    motion=MotionConfig("continuous"), episodes=EpisodeConfig(split="val", scenes=5))
    env = gym.make("earshot/MovingSource-v0", config=cfg)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..acoustics import AudioConfig
from ..acoustics.config import check_head
from ..scenes.checks import check_bool, check_choice, check_int, check_number
from ..scenes.loading import check_load_arguments
from ..scenes.lru import BUDGETS
from ..scenes.render import BACKENDS
from ..scenes.splits import SPLITS
from .tasks import TASKS

AUDIO_MODES = ("spectrogram", "waveform", "binaural-cues", "gcc-phat", "onset-cues")
MESH_KWARGS = ("up_axis", "scale", "materials", "default_material", "floor_height", "name")


@dataclass(frozen=True)
class SensorConfig:
    """What the agent observes.

    Attributes:
        resolution: rgb/depth width = height, pixels (8–2048).
        hfov_deg: horizontal field of view, degrees (0–180, open).
        renderer: rgb/depth backend: "auto", "raycast", "gl" or "habitat".
        audio: what the agent hears, observed under keys of the same name (dashes as underscores):
            "spectrogram" (default: SoundSpaces' log1p |STFT| per ear, pooled), "waveform" (the
            ``audiogoal`` key, (2, N) samples), or a feature that keeps direction
            (``acoustics.cues``): "binaural-cues" (per time-frequency cell: the ears' levels, ILD
            and interaural phase), "gcc-phat" (interaural cross-correlation per frame, plain and
            onset-weighted) or "onset-cues" (binaural cues of each onset's first wavefront);
            several joined by "+", e.g. "spectrogram+gcc-phat".
        sensors: the observation keys to compute (any non-empty subset of the task's keys), or
            None for all of them; keys left out cost nothing.
        echoes: add ``echo`` (the spectrogram of a chirp's echoes); None: the task's default.
        render_mode: None or "rgb_array" (``env.render()`` returns a composed frame).
        camera_height: metres above the agent's floor position; None (the default): at the ears,
            ``AudioConfig.ear_height`` (1.5 m, SoundSpaces' sensor height). The agent has one
            listener height: change ``ear_height`` and the camera follows; give both only to set
            them apart on purpose.
    """

    resolution: int = 128
    hfov_deg: float = 90.0
    renderer: str = "auto"
    audio: str = "spectrogram"
    sensors: tuple[str, ...] | None = None
    echoes: bool | None = None
    render_mode: str | None = None
    camera_height: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.audio, str) or not self.audio:
            raise ValueError(f"audio must be one of {AUDIO_MODES} or several joined by '+', got {self.audio!r}")
        for part in self.audio.split("+"):
            check_choice("audio", part, AUDIO_MODES)
        if len(set(self.audio.split("+"))) != len(self.audio.split("+")):
            raise ValueError(f"audio names a feature twice: {self.audio!r}")
        if self.camera_height is not None:
            _set(self, "camera_height", check_number("camera_height", self.camera_height, low=0.0, high=10.0,
                                                     low_open=True, unit="m"))
        check_choice("render_mode", self.render_mode, (None, "rgb_array"))
        check_choice("renderer", self.renderer, BACKENDS)
        _set(self, "resolution", check_int("resolution", self.resolution, low=8, high=2048))
        _set(self, "hfov_deg", check_number("hfov_deg", self.hfov_deg, low=0.0, high=180.0, low_open=True,
                                            high_open=True, unit="degrees"))
        if self.echoes is not None:
            check_bool("echoes", self.echoes)
        if self.sensors is not None:
            if isinstance(self.sensors, str) or not all(isinstance(k, str) for k in self.sensors):
                raise ValueError(f"sensors must be a list of observation keys, got {self.sensors!r}")
            _set(self, "sensors", tuple(dict.fromkeys(self.sensors)))

    @property
    def audio_keys(self) -> tuple[str, ...]:
        """The observation keys of ``audio``: "spectrogram", "audiogoal" (waveform), "binaural_cues", ..."""
        return tuple("audiogoal" if m == "waveform" else m.replace("-", "_") for m in self.audio.split("+"))

    def select(self, keys: tuple[str, ...]) -> tuple[str, ...]:
        """The observed keys among a task's ``keys`` (in their order)."""
        if self.sensors is None:
            return keys
        unknown = [k for k in self.sensors if k not in keys]
        if unknown or not self.sensors:
            raise ValueError(f"sensors must be a non-empty subset of this task's keys {list(keys)}, got {list(self.sensors)!r}")
        return tuple(k for k in keys if k in self.sensors)


@dataclass(frozen=True)
class MotionConfig:
    """How actions move the agent.

    Attributes:
        motion: "grid" (one NavGraph edge per MOVE_FORWARD, SoundSpaces) or "continuous"
            (``forward_step`` metres against the occupancy map, SoundSpaces 2.0).
        turn_angle_deg: degrees per TURN; None: 90 for grid motion, 10 for continuous. Grid turns
            must divide 90.
        forward_step: metres per MOVE_FORWARD in continuous motion (0–2).
    """

    motion: str = "grid"
    turn_angle_deg: float | None = None
    forward_step: float = 0.25

    def __post_init__(self) -> None:
        check_choice("motion", self.motion, ("grid", "continuous"))
        turn = self.turn_angle_deg
        if turn is None:
            turn = 90.0 if self.motion == "grid" else 10.0
        turn = check_number("turn_angle_deg", turn, low=0.0, high=180.0, low_open=True, unit="degrees")
        if self.motion == "grid" and abs(90.0 / turn - round(90.0 / turn)) > 1e-9:
            raise ValueError(f"turn_angle_deg must divide 90 for grid motion (e.g. 90, 45, 30, 15), got {self.turn_angle_deg!r}")
        _set(self, "turn_angle_deg", turn)
        _set(self, "forward_step", check_number("forward_step", self.forward_step, low=0.0, high=2.0, low_open=True, unit="m"))


@dataclass(frozen=True)
class AcousticsConfig:
    """The audio the agent hears.

    Attributes:
        audio_config: every audio number (``earshot.acoustics.AudioConfig``); None: the defaults.
        echo_config: the chirp's AudioConfig when echoes are observed (None:
            ``acoustics.echo.ECHO_CONFIG``).
        rir_cache: a folder of RIRs shared by vectorized workers and runs (``acoustics.RIRCache``).
        tail_cache: a folder of traced tails (``acoustics.tail_store.TailStore``), shared likewise:
            each room's tail is ray-traced once for every process and run that uses the folder.
            None (default): the per-user folder (``$EARSHOT_CACHE/tails``, else
            ``~/.cache/earshot/tails``; ``EARSHOT_CACHE=off`` turns it off); False: none (traced
            in memory by each process).
        head: the head the agent hears with (``AudioConfig.head``: "kemar", "sphere" or a SOFA
            file), for the sounds and the echoes; None: that of ``audio_config`` (default KEMAR).
            The flat ``gym.make(..., head="sphere")`` sets it, and checkpoints record it in their
            env arguments.
    """

    audio_config: AudioConfig | None = None
    echo_config: AudioConfig | None = None
    rir_cache: str | Path | None = None
    tail_cache: str | Path | bool | None = None
    head: str | None = None

    def __post_init__(self) -> None:
        if self.audio_config is not None and not isinstance(self.audio_config, AudioConfig):
            raise ValueError(f"audio_config must be an earshot.acoustics.AudioConfig, got {type(self.audio_config).__name__}")
        for name in ("rir_cache", "tail_cache"):
            value = getattr(self, name)
            if name == "tail_cache" and value is False:
                continue  # no traced-tail cache on disk
            if value is not None and not isinstance(value, (str, Path)):
                extra = ", None (the per-user cache) or False (none)" if name == "tail_cache" else ""
                raise ValueError(f"{name} must be a folder path{extra}, got {value!r}")
        if self.echo_config is not None and not isinstance(self.echo_config, AudioConfig):
            raise ValueError(f"echo_config must be an earshot.acoustics.AudioConfig, got {type(self.echo_config).__name__}")
        if self.head is not None:
            _set(self, "head", check_head(self.head))

    @property
    def config(self) -> AudioConfig:
        cfg = self.audio_config or AudioConfig()
        return cfg if self.head is None else cfg.replace(head=self.head)

    @property
    def echo(self) -> AudioConfig:
        """The echoes' AudioConfig: ``echo_config`` or ``acoustics.echo.ECHO_CONFIG``, with ``head``."""
        from ..acoustics.echo import ECHO_CONFIG

        cfg = self.echo_config or ECHO_CONFIG
        return cfg if self.head is None else cfg.replace(head=self.head)


@dataclass(frozen=True)
class EpisodeConfig:
    """Where episodes come from and when they end.

    Attributes:
        split: "train", "val" or "test" (held out).
        scenes: a count (the split's first procedural apartments), seeds of the split and/or mesh
            paths, one mesh path, or a split file (.json) of mesh paths per split.
        sounds: "heard", "unheard", "all" or a list of built-in sound names (or variants of them,
            "<sound>~<k>": ``acoustics.sounds.sound_variants``).
        sound_variants: a training augmentation: half the generated episodes play one of this
            many variants of their sound (pitch, colour, rhythm and level drawn per variant,
            ``acoustics.sounds``), the other half the sound itself; 0 = the sounds as they are.
        episodes: an episode file (``env.save_episodes``) or a list of ``Episode``; None: made per
            scene on its first visit.
        episodes_per_scene: episodes made per scene.
        spacing: NavGraph spacing, metres (procedural apartments: 0.25, 0.5 or 1.0).
        max_steps: actions before the episode is truncated.
        success_distance: metres from the goal within which STOP succeeds.
        episodes_per_visit: consecutive episodes of one scene in training iteration.
        scene_memory: scenes (with NavGraphs and renderers) kept in memory.
        scene_shard: (index, count): this env uses every count-th scene from index (workers).
        scene_cache: a folder of built scenes and NavGraphs shared by workers and runs.
        mesh_kwargs: ``earshot.scenes.load_scene`` arguments for mesh paths.
    """

    split: str = "train"
    scenes: object = 2
    sounds: object = "heard"
    sound_variants: int = 0
    episodes: object = None
    episodes_per_scene: int = 50
    spacing: float = 0.5
    max_steps: int = 500
    success_distance: float = 1.0
    episodes_per_visit: int = 10
    scene_memory: int = BUDGETS.scenes
    scene_shard: tuple[int, int] | None = None
    scene_cache: str | Path | None = None
    mesh_kwargs: dict | None = None

    def __post_init__(self) -> None:
        check_choice("split", self.split, SPLITS)
        _set(self, "max_steps", check_int("max_steps", self.max_steps, low=1))
        # beyond 1 km every STOP in any scene would succeed: a meaningless value, not a setting
        _set(self, "success_distance", check_number("success_distance", self.success_distance, low=0.0, low_open=True,
                                                    high=1000.0, unit="m"))
        _set(self, "spacing", check_number("spacing", self.spacing, low=0.0, high=5.0, low_open=True, unit="m"))
        _set(self, "episodes_per_scene", check_int("episodes_per_scene", self.episodes_per_scene, low=1, high=100_000))
        _set(self, "sound_variants", check_int("sound_variants", self.sound_variants, low=0, high=100_000))
        _set(self, "episodes_per_visit", check_int("episodes_per_visit", self.episodes_per_visit, low=1))
        _set(self, "scene_memory", check_int("scene_memory", self.scene_memory, low=1))
        if self.mesh_kwargs is not None:
            if not isinstance(self.mesh_kwargs, dict):
                raise ValueError(f"mesh_kwargs must be a dict of earshot.scenes.load_scene arguments, got {self.mesh_kwargs!r}")
            unknown = sorted(set(self.mesh_kwargs) - set(MESH_KWARGS))
            if unknown:
                raise ValueError(f"mesh_kwargs has unknown keys {unknown}; earshot.scenes.load_scene takes {sorted(MESH_KWARGS)}")
            try:  # the values too, now rather than when the first mesh is read
                check_load_arguments(**self.mesh_kwargs)
            except ValueError as exc:
                raise ValueError(f"mesh_kwargs: {exc}") from None
        s = self.scene_shard
        if s is not None and not (isinstance(s, (tuple, list)) and len(s) == 2
                                  and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in s)
                                  and 0 <= s[0] < s[1]):
            raise ValueError(f"scene_shard must be (index, count) with 0 <= index < count, got {s!r}")


def _set(config, name: str, value) -> None:
    """Store a checked (converted) value on a frozen config."""
    object.__setattr__(config, name, value)


@dataclass(frozen=True)
class EnvConfig:
    """Everything an ``AVNavEnv`` is made from. ``task_options`` are the task's own parameters
    (``TASKS[task].PARAMETERS``: e.g. ``failed_stop_reward`` of every navigation task,
    ``p_move`` and ``num_distractors`` of moving_source), checked by the task."""

    task: str = "audiogoal"
    task_options: dict = field(default_factory=dict)
    sensors: SensorConfig = field(default_factory=SensorConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    acoustics: AcousticsConfig = field(default_factory=AcousticsConfig)
    episodes: EpisodeConfig = field(default_factory=EpisodeConfig)

    def __post_init__(self) -> None:
        check_choice("task", self.task, tuple(TASKS))
        for name, kind in (("sensors", SensorConfig), ("motion", MotionConfig), ("acoustics", AcousticsConfig),
                           ("episodes", EpisodeConfig)):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(f"{name} must be an earshot.av_env.config.{kind.__name__}, got {getattr(self, name)!r}")
        if not isinstance(self.task_options, dict):
            raise ValueError(f"task_options must be a dict of the task's parameters, got {self.task_options!r}")

    @classmethod
    def from_kwargs(cls, task: str = "audiogoal", **kwargs) -> "EnvConfig":
        """The config of ``AVNavEnv(task, **kwargs)`` with the flat keyword arguments of
        ``gym.make``: each goes to the config ``FLAT_KWARGS`` names; an unknown one is one clear
        error listing the known ones."""
        check_choice("task", task, tuple(TASKS))
        unknown = sorted(set(kwargs) - set(FLAT_KWARGS))
        if unknown:
            raise ValueError(f"unknown env arguments {unknown}; the env takes {sorted(FLAT_KWARGS)} "
                             "(or config=EnvConfig(...))")
        parts: dict[str, dict] = {"sensors": {}, "motion": {}, "acoustics": {}, "episodes": {}, "task_options": {}}
        for name, value in kwargs.items():
            part, field_name = FLAT_KWARGS[name]
            if part == "task_options" and value is None:
                continue  # "not given" for a task parameter
            parts[part][field_name] = value
        # checked in the order users met these errors before configs existed
        motion = MotionConfig(**parts["motion"])
        sensors = SensorConfig(**parts["sensors"])
        episodes = EpisodeConfig(**parts["episodes"])
        acoustics = AcousticsConfig(**parts["acoustics"])
        return cls(task=task, task_options=parts["task_options"], sensors=sensors, motion=motion,
                   acoustics=acoustics, episodes=episodes)


# flat keyword argument -> (config, field): the one documented mapping of gym.make's kwargs
FLAT_KWARGS: dict[str, tuple[str, str]] = {
    **{k: ("sensors", k) for k in ("resolution", "hfov_deg", "renderer", "audio", "sensors", "echoes", "render_mode",
                                   "camera_height")},
    **{k: ("motion", k) for k in ("motion", "turn_angle_deg", "forward_step")},
    **{k: ("acoustics", k) for k in ("audio_config", "echo_config", "rir_cache", "tail_cache", "head")},
    **{k: ("episodes", k) for k in ("split", "scenes", "sounds", "sound_variants", "episodes", "episodes_per_scene", "spacing",
                                    "max_steps", "success_distance", "episodes_per_visit", "scene_memory",
                                    "scene_shard", "scene_cache", "mesh_kwargs")},
    # every parameter any task takes (``Task.defaults()``), so a new task option is a flat kwarg (and
    # an ``evaluate.py --task-options`` key) without being listed here
    **{k: ("task_options", k) for task in TASKS.values() for k in task.defaults()},
}

__all__ = ["AcousticsConfig", "EnvConfig", "EpisodeConfig", "FLAT_KWARGS", "MESH_KWARGS", "MotionConfig", "SensorConfig"]

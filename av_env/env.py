"""The audio-visual navigation environment (one class; tasks chosen by kwargs)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from acoustics import AudioConfig, compute_rir, compute_rirs, make_sound, sound_names, spectrogram
from acoustics.features import StepConvolver
from scenes import CATEGORIES, Action, NavGraph, generate_apartment, load_scene, split_of, split_seeds
from scenes.render import make_renderer

from . import metrics
from .episodes import Episode, check_episode, generate_episodes, load_episodes, save_episodes

logger = logging.getLogger(__name__)

TASKS = ("pointgoal", "audiogoal", "audiopointgoal", "semantic_audiogoal", "moving_source")
MAX_DEPTH = 10.0  # m, depth observations are divided by this (SoundSpaces)
SUCCESS_REWARD = 10.0
SLACK_REWARD = -0.01


@dataclass
class _SceneContext:
    ref: str
    scene: object
    graph: NavGraph
    renderer: object = None


@dataclass
class _Source:
    node: int
    sound: str
    audio: np.ndarray
    until_step: float = np.inf  # stops sounding after this many steps
    destination: int | None = None  # moving sources walk towards this node
    trail: list = field(default_factory=list)


class AVNavEnv(gym.Env):
    """Audio-visual navigation in procedural apartments or user meshes.

    ## Description
    An agent moves through an indoor scene and must reach a goal: a point given by GPS+compass
    (PointGoal), a sounding source it hears binaurally (AudioGoal), both (AudioPointGoal), an
    object of a category whose sound stops after a while (SemanticAudioGoal, SAVi-style) or a
    source that moves among distractor sounds (MovingSource, Dynamic AV-Nav style).

    ## Action Space
    ``Discrete(4)``: 0 STOP, 1 MOVE_FORWARD, 2 TURN_LEFT, 3 TURN_RIGHT. Grid motion moves one
    NavGraph edge (blocked: stays and counts a collision) and turns ``turn_angle_deg`` (90°);
    continuous motion moves ``forward_step`` (0.25 m) and turns 10° by default.

    ## Observation Space
    A Dict with ``rgb`` uint8 (H, W, 3), ``depth`` float32 (H, W, 1) in [0, 1] (metres / 10),
    and by task ``spectrogram`` float32 (F, T, 2) or ``audiogoal`` float32 (2, N) (binaural, all
    sources mixed), ``pointgoal_with_gps_compass`` float32 (2,) = (distance m, angle rad
    counter-clockwise from the heading), ``category`` float32 one-hot over ``scenes.CATEGORIES``.

    ## Rewards
    +10 on success, −0.01 per step, plus the decrease of the geodesic distance to the goal.

    ## Starting State
    The episode's start node and heading (episodes are fixed per split and seed).

    ## Episode End
    Terminated on STOP; truncated after ``max_steps``. ``info`` then holds success, spl, softspl,
    sna, distance_to_goal, normalized_distance_to_goal, num_steps, collisions (+ dspl).

    ## Arguments
    task, split ("train"/"val"/"test"), scenes (count or list of seeds / mesh paths), sounds
    ("heard"/"unheard"/list), motion ("grid"/"continuous"), turn_angle_deg, forward_step,
    resolution, hfov_deg, audio ("spectrogram"/"waveform"), max_steps, success_distance,
    renderer, episodes (file path or list), episodes_per_scene, spacing, audio_config, p_move,
    num_distractors, render_mode ("rgb_array").
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, task: str = "audiogoal", split: str = "train", scenes=2, sounds="heard", motion: str = "grid",
                 turn_angle_deg: float | None = None, forward_step: float = 0.25, resolution: int = 128,
                 hfov_deg: float = 90.0, audio: str = "spectrogram", max_steps: int = 500,
                 success_distance: float = 1.0, renderer: str = "auto", episodes=None, episodes_per_scene: int = 50,
                 spacing: float = 0.5, audio_config: AudioConfig | None = None, p_move: float = 0.3,
                 num_distractors: int | None = None, render_mode: str | None = None):
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        if motion not in ("grid", "continuous"):
            raise ValueError(f"motion must be 'grid' or 'continuous', got {motion!r}")
        if audio not in ("spectrogram", "waveform"):
            raise ValueError(f"audio must be 'spectrogram' or 'waveform', got {audio!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        split_seeds(split)  # validates the split name
        self.task, self.split, self.motion, self.audio_mode = task, split, motion, audio
        self.turn_angle_deg = float(turn_angle_deg if turn_angle_deg is not None else (90.0 if motion == "grid" else 10.0))
        if motion == "grid" and abs(90.0 / self.turn_angle_deg - round(90.0 / self.turn_angle_deg)) > 1e-9:
            raise ValueError("grid motion needs a turn angle that divides 90°")
        self.forward_step = float(forward_step)
        self.resolution, self.hfov_deg = int(resolution), float(hfov_deg)
        self.max_steps, self.success_distance = int(max_steps), float(success_distance)
        self.renderer_backend, self.spacing = renderer, float(spacing)
        self.p_move = float(p_move)
        self.num_distractors = int(num_distractors if num_distractors is not None else (2 if task == "moving_source" else 0))
        self.render_mode = render_mode
        self.cfg = audio_config or AudioConfig()
        self.sound_list = self._resolve_sounds(sounds)
        self.uses_audio = task != "pointgoal"
        self.uses_pointgoal = task in ("pointgoal", "audiopointgoal")

        self.scene_refs = self._resolve_scenes(scenes)
        self._contexts: OrderedDict[str, _SceneContext] = OrderedDict()
        self.episodes = self._resolve_episodes(episodes, episodes_per_scene)

        h = w = self.resolution
        obs = {"rgb": spaces.Box(0, 255, (h, w, 3), np.uint8), "depth": spaces.Box(0.0, 1.0, (h, w, 1), np.float32)}
        if self.uses_audio:
            if audio == "spectrogram":
                shape = spectrogram(np.zeros((2, self.cfg.step_samples), np.float32), self.cfg, backend="numpy").shape
                obs["spectrogram"] = spaces.Box(0.0, np.inf, shape, np.float32)
            else:
                obs["audiogoal"] = spaces.Box(-np.inf, np.inf, (2, self.cfg.step_samples), np.float32)
        if self.uses_pointgoal:
            obs["pointgoal_with_gps_compass"] = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        if task == "semantic_audiogoal":
            obs["category"] = spaces.Box(0.0, 1.0, (len(CATEGORIES),), np.float32)
        self.observation_space = spaces.Dict(obs)
        self.action_space = spaces.Discrete(4)
        self._ctx: _SceneContext | None = None
        self._rirs: dict[int, list] = {}
        self._binaural: OrderedDict = OrderedDict()
        self._sound_cache: dict[str, np.ndarray] = {}
        self._conv = StepConvolver(self.cfg.step_samples, self.cfg.rir_samples)

    # ------------------------------------------------------------------ configuration helpers
    def _resolve_sounds(self, sounds) -> list[str]:
        if isinstance(sounds, str):
            if sounds == "all":
                return sound_names()
            return sound_names(sounds)  # raises for an unknown split
        names = list(sounds)
        known = set(sound_names())
        unknown = [s for s in names if s not in known]
        if unknown:
            raise ValueError(f"unknown sounds {unknown}; built-in sounds are {sorted(known)}")
        return names

    def _resolve_scenes(self, scenes) -> list[str]:
        if isinstance(scenes, (int, np.integer)):
            seeds = split_seeds(self.split)
            if not 1 <= scenes <= len(seeds):
                raise ValueError(f"scenes must be between 1 and {len(seeds)} for split {self.split!r}, got {scenes}")
            return [f"procedural:{s}" for s in list(seeds)[: int(scenes)]]
        refs = []
        for s in scenes:
            if isinstance(s, (int, np.integer)):
                if split_of(int(s)) != self.split:
                    raise ValueError(f"procedural seed {s} is not in the {self.split!r} split; see scenes.split_seeds")
                refs.append(f"procedural:{int(s)}")
            else:
                path = Path(s)
                if not path.exists():
                    raise FileNotFoundError(f"scene file {str(path)!r} does not exist")
                refs.append(str(path))
        if not refs:
            raise ValueError("scenes must name at least one scene")
        return refs

    def _context(self, ref: str) -> _SceneContext:
        if ref not in self._contexts:
            if ref.startswith("procedural:"):
                scene = generate_apartment(int(ref.split(":", 1)[1]), nav_spacing=self.spacing)
            else:
                scene = load_scene(ref)
            graph = NavGraph.build(scene, spacing=self.spacing)
            self._contexts[ref] = _SceneContext(ref, scene, graph)
            while len(self._contexts) > 4:
                old = self._contexts.popitem(last=False)[1]
                if old.renderer is not None:
                    old.renderer.close()
        self._contexts.move_to_end(ref)
        return self._contexts[ref]

    def _resolve_episodes(self, episodes, per_scene: int) -> list[Episode]:
        if episodes is None:
            out = []
            task_id = TASKS.index(self.task)
            for k, ref in enumerate(self.scene_refs):
                ctx = self._context(ref)
                key = [task_id, k, int(ref.split(":", 1)[1]) if ref.startswith("procedural:") else 0,
                       int(ctx.scene.content_hash[:8], 16)]
                rng = np.random.default_rng(key)
                out += generate_episodes(ref, ctx.scene, ctx.graph, per_scene, rng, self.sound_list, self.turn_angle_deg
                                         if self.motion == "grid" else 90.0, self.task, self.num_distractors)
            return out
        eps = load_episodes(episodes) if isinstance(episodes, (str, Path)) else list(episodes)
        if not eps:
            raise ValueError("the episode list is empty")
        for e in eps:
            if e.scene not in self.scene_refs:
                self.scene_refs.append(e.scene)
            ctx = self._context(e.scene)
            check_episode(e, ctx.scene, ctx.graph)
        return eps

    def save_episodes(self, path) -> Path:
        return save_episodes(path, self.episodes)

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        index = options.get("episode_index")
        if index is None:
            index = int(self.np_random.integers(len(self.episodes)))
        if not 0 <= int(index) < len(self.episodes):
            raise ValueError(f"episode_index {index} out of range: there are {len(self.episodes)} episodes")
        self.episode = ep = self.episodes[int(index)]
        ctx = self._context(ep.scene)
        if self._ctx is not ctx:
            self._rirs.clear()
            self._binaural.clear()
        self._ctx = ctx
        if ctx.renderer is None:
            ctx.renderer = make_renderer(self.renderer_backend, ctx.scene, width=self.resolution,
                                         height=self.resolution, hfov_deg=self.hfov_deg)
        g = ctx.graph
        self.node = ep.start_node
        self.position = g.positions[ep.start_node].copy()
        self.heading = float(ep.start_heading)
        self.steps = self.collisions = 0
        self.path_length = 0.0
        self.done = False
        self.trajectory = [self.position.copy()]
        self.sources = [self._make_source(ep.goal_node, ep.sound, ep.sound_seconds)]
        for node, sound in ep.distractors:
            self.sources.append(self._make_source(int(node), sound, None))
        if self.task == "moving_source":
            self.sources[0].destination = int(self.np_random.integers(len(g)))
        self.start_distance = self._distance_to_goal()
        self.prev_distance = self.start_distance
        self.oracle_steps = self._oracle_action_count()
        obs = self._observe()
        return obs, {"episode_id": ep.episode_id, "distance_to_goal": self.start_distance}

    def step(self, action):
        if self._ctx is None:
            raise RuntimeError("call reset() before step()")
        if self.done:
            raise RuntimeError("the episode has ended: call reset()")
        action = self._check_action(action)
        g = self._ctx.graph
        terminated = False
        if action == Action.STOP:
            terminated = True
        elif action == Action.MOVE_FORWARD:
            self._forward()
        else:
            turn = np.radians(self.turn_angle_deg) * (1 if action == Action.TURN_LEFT else -1)
            self.heading = float(np.arctan2(np.sin(self.heading + turn), np.cos(self.heading + turn)))
        self.steps += 1
        if self.task == "moving_source":
            self._move_source()
        distance = self._distance_to_goal()
        success = bool(terminated and distance <= self.success_distance)
        reward = SLACK_REWARD + (self.prev_distance - distance) + (SUCCESS_REWARD if success else 0.0)
        self.prev_distance = distance
        truncated = bool(not terminated and self.steps >= self.max_steps)
        self.done = terminated or truncated
        obs = self._observe()
        info = {"distance_to_goal": distance}
        if self.done:
            info.update(self._metrics(success, distance))
        del g
        return obs, float(reward), terminated, truncated, info

    def _check_action(self, action) -> int:
        a = np.asarray(action)
        if a.size != 1 or not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
            raise ValueError(f"action must be one integer in 0..3 (STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT), got {action!r}")
        value = a.reshape(()).item()
        if value != int(value) or not 0 <= int(value) <= 3:
            raise ValueError(f"action must be one integer in 0..3 (STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT), got {action!r}")
        return int(value)

    # ------------------------------------------------------------------ motion
    def _forward(self) -> None:
        g = self._ctx.graph
        if self.motion == "grid":
            nxt = g.neighbor_in_direction(self.node, self.heading, tolerance=np.radians(1.0))
            if nxt is None:
                self.collisions += 1
                return
            self.path_length += float(np.linalg.norm(g.positions[nxt, :2] - g.positions[self.node, :2]))
            self.node = int(nxt)
            self.position = g.positions[nxt].copy()
        else:
            step = self.forward_step * np.array([np.cos(self.heading), np.sin(self.heading)])
            target = self.position[:2] + step
            if not self._free_segment(self.position[:2], target):
                self.collisions += 1
                return
            self.position = np.r_[target, self.position[2]]
            self.path_length += self.forward_step
            self.node = int(g.nearest_node(self.position))
        self.trajectory.append(self.position.copy())

    def _free_segment(self, a, b) -> bool:
        occ = self._ctx.graph.occupancy
        pts = a[None] + (b - a)[None] * np.linspace(0, 1, 6)[:, None]
        ij = np.floor((pts - occ["origin"]) / occ["cell"]).astype(int)
        nav = occ["navigable"]
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < nav.shape[0]) & (ij[:, 1] >= 0) & (ij[:, 1] < nav.shape[1])
        return bool(inside.all() and nav[ij[:, 0], ij[:, 1]].all())

    def _move_source(self) -> None:
        src = self.sources[0]
        g = self._ctx.graph
        if self.np_random.random() >= self.p_move:
            return
        if src.destination is None or src.destination == src.node:
            src.destination = int(self.np_random.integers(len(g)))
        path = g.shortest_path(src.node, src.destination)
        if len(path) > 1:
            src.node = int(path[1])
            src.trail.append(src.node)

    # ------------------------------------------------------------------ goals and metrics
    def _goal_nodes(self) -> list[int]:
        if self.task == "semantic_audiogoal":
            g = self._ctx.graph
            objs = self._ctx.scene.objects_of(self.episode.category)
            return sorted({int(g.nearest_node(o.center[:2])) for o in objs}) or [self.episode.goal_node]
        return [self.sources[0].node]

    def _distance_to_goal(self) -> float:
        g = self._ctx.graph
        best = np.inf
        for goal in self._goal_nodes():
            d = g.distances_from(goal)[self.node]
            if self.motion == "continuous":
                d += float(np.linalg.norm(self.position[:2] - g.positions[self.node, :2]))
            best = min(best, d)
        return float(best)

    def _oracle_action_count(self) -> int:
        if self.motion != "grid":
            return max(1, int(np.ceil(self.start_distance / self.forward_step)) + 1)
        g = self._ctx.graph
        goal = min(self._goal_nodes(), key=lambda n: g.distances_from(n)[self.node])
        node, heading, count = self.node, self.heading, 0
        for _ in range(4 * len(g) + 10):
            a = g.best_action(node, heading, goal, self.turn_angle_deg)
            count += 1
            if a == Action.STOP:
                return count
            if a == Action.MOVE_FORWARD:
                node = g.neighbor_in_direction(node, heading)
            else:
                heading += np.radians(self.turn_angle_deg) * (1 if a == Action.TURN_LEFT else -1)
        return count

    def oracle_action(self) -> int:
        """The shortest-path action: STOP on the goal, else forward or the fewest turns."""
        g = self._ctx.graph
        goal = min(self._goal_nodes(), key=lambda n: g.distances_from(n)[self.node])
        if self.motion == "grid":
            return int(g.best_action(self.node, self.heading, goal, self.turn_angle_deg))
        if self._distance_to_goal() <= min(self.success_distance, self.forward_step):
            return int(Action.STOP)
        path = g.shortest_path(self.node, goal)
        target = g.positions[path[1] if len(path) > 1 else path[0], :2]
        if len(path) > 1 and np.linalg.norm(target - self.position[:2]) < self.forward_step / 2 and len(path) > 2:
            target = g.positions[path[2], :2]
        delta = np.arctan2(*(target - self.position[:2])[::-1]) - self.heading
        delta = float(np.arctan2(np.sin(delta), np.cos(delta)))
        half = np.radians(self.turn_angle_deg) / 2
        if abs(delta) <= half:
            return int(Action.MOVE_FORWARD)
        return int(Action.TURN_LEFT if delta > 0 else Action.TURN_RIGHT)

    def _metrics(self, success: bool, distance: float) -> dict:
        out = {
            "success": float(success),
            "spl": metrics.spl(success, self.episode.geodesic_distance if self.task != "semantic_audiogoal" else self.start_distance, self.path_length),
            "softspl": metrics.softspl(distance, self.start_distance, self.start_distance, self.path_length),
            "sna": metrics.sna(success, self.oracle_steps, self.steps),
            "distance_to_goal": distance,
            "normalized_distance_to_goal": metrics.normalized_distance_to_goal(distance, self.start_distance),
            "num_steps": self.steps,
            "collisions": self.collisions,
        }
        if self.task == "moving_source":
            final = self.sources[0].node
            hindsight = float(self._ctx.graph.distances_from(final)[self.episode.start_node])
            out["dspl"] = metrics.spl(success, hindsight, self.path_length)
        return out

    # ------------------------------------------------------------------ observations
    def _make_source(self, node: int, sound: str, seconds: float | None) -> _Source:
        if sound not in self._sound_cache:
            self._sound_cache[sound] = make_sound(sound, self.cfg.sample_rate)
        until = np.inf if seconds is None else seconds / self.cfg.step_seconds
        return _Source(int(node), sound, self._sound_cache[sound], until)

    def _observe(self) -> dict:
        ctx = self._ctx
        rgb, depth = ctx.renderer.render(self.position, self.heading)
        obs = {"rgb": rgb, "depth": np.clip(depth / MAX_DEPTH, 0.0, 1.0)[..., None].astype(np.float32)}
        if self.uses_audio:
            audio = self._audio()
            if self.audio_mode == "spectrogram":
                obs["spectrogram"] = np.asarray(spectrogram(audio, self.cfg, backend="numpy"), np.float32)
            else:
                obs["audiogoal"] = audio
        if self.uses_pointgoal:
            goal = ctx.graph.positions[self.episode.goal_node]
            d = goal[:2] - self.position[:2]
            angle = np.arctan2(d[1], d[0]) - self.heading
            obs["pointgoal_with_gps_compass"] = np.array([np.linalg.norm(d), np.arctan2(np.sin(angle), np.cos(angle))], np.float32)
        if self.task == "semantic_audiogoal":
            onehot = np.zeros(len(CATEGORIES), np.float32)
            onehot[CATEGORIES.index(self.episode.category)] = 1.0
            obs["category"] = onehot
        return obs

    def _audio(self) -> np.ndarray:
        n = self.cfg.step_samples
        out = np.zeros((2, n), np.float32)
        for src in self.sources:
            if self.steps >= src.until_step:
                continue
            key = self._rir_key(src.node)
            out += self._conv.hear(src.sound, src.audio, key, self._binaural_rir(src.node, key), self.steps * n)
        return out

    def _rir_key(self, source_node: int) -> tuple:
        if self.motion == "grid":
            return (self._ctx.ref, source_node, self.node, round(self.heading, 6))
        return (self._ctx.ref, source_node, tuple(np.round(self.position[:2], 2)), round(self.heading, 4))

    def _binaural_rir(self, source_node: int, key: tuple) -> np.ndarray:
        g = self._ctx.graph
        if key in self._binaural:
            self._binaural.move_to_end(key)
            return self._binaural[key]
        src_pos = g.positions[source_node] + [0, 0, self.cfg.source_height]
        if self.motion == "grid":
            if source_node not in self._rirs:
                self._rirs[source_node] = compute_rirs(self._ctx.scene, src_pos, g.positions + [0, 0, self.cfg.ear_height], self.cfg)
                while len(self._rirs) > 8:
                    self._rirs.pop(next(iter(self._rirs)))
            rir = self._rirs[source_node][self.node]
        else:
            ear = np.r_[np.round(self.position[:2], 2), self.position[2] + self.cfg.ear_height]
            rir = compute_rir(self._ctx.scene, src_pos, ear, self.cfg)
        b = rir.binaural(self.heading)
        self._binaural[key] = b
        while len(self._binaural) > 256:
            self._binaural.popitem(last=False)
        return b

    # ------------------------------------------------------------------ rendering for people
    def render(self):
        if self.render_mode != "rgb_array":
            return None
        from .visualize import compose_frame

        return compose_frame(self)

    def close(self):
        for ctx in self._contexts.values():
            if ctx.renderer is not None:
                ctx.renderer.close()
                ctx.renderer = None

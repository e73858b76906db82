"""The audio-visual navigation environment (one class; tasks chosen by kwargs)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..acoustics import AudioConfig, RIRCache, sound_names, spectrogram
from ..scenes import Action, NavGraph, generate_apartment, load_scene, load_split_file, split_of, split_seeds
from ..scenes.checks import check_choice, check_int, check_number
from ..scenes.render import BACKENDS, make_renderer
from ..scenes.splits import SPLITS

from . import metrics
from .episodes import Episode, check_episode, generate_episodes, read_episode_file, save_episodes
from .simulator import SceneContext, Simulator
from .tasks import TASKS, MovingSourceTask

_MESH_KWARGS = {"up_axis", "scale", "materials", "default_material", "floor_height", "name"}
RESET_OPTIONS = ("episode_index",)
SUCCESS_REWARD = 10.0
SLACK_REWARD = -0.01


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
    counter-clockwise from the heading), ``category`` float32 one-hot over ``earshot.scenes.CATEGORIES``.

    ## Rewards
    +10 on success, −0.01 per step, plus the decrease of the geodesic distance to the goal.

    ## Starting State
    The episode's start node and heading (episodes are fixed per split and seed).

    ## Episode End
    Terminated on STOP; truncated after ``max_steps``. ``info`` then holds success, spl, softspl,
    sna, distance_to_goal, normalized_distance_to_goal, num_steps, collisions (+ dspl).

    ## Arguments
    task, split ("train"/"val"/"test"), scenes (count, list of seeds / mesh paths, or a split file
    ``{"train": [...], "val": [...], "test": [...]}`` of mesh paths), sounds
    ("heard"/"unheard"/list), motion ("grid"/"continuous"), turn_angle_deg, forward_step,
    resolution, hfov_deg, audio ("spectrogram"/"waveform"), max_steps, success_distance,
    renderer, episodes (file path or list), episodes_per_scene, spacing, audio_config, p_move,
    num_distractors, rir_cache (a folder shared by vectorized workers), mesh_kwargs (passed to
    ``earshot.scenes.load_scene`` for mesh paths, e.g. ``{"up_axis": "y"}``), render_mode ("rgb_array").
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, task: str = "audiogoal", split: str = "train", scenes=2, sounds="heard", motion: str = "grid",
                 turn_angle_deg: float | None = None, forward_step: float = 0.25, resolution: int = 128,
                 hfov_deg: float = 90.0, audio: str = "spectrogram", max_steps: int = 500,
                 success_distance: float = 1.0, renderer: str = "auto", episodes=None, episodes_per_scene: int = 50,
                 spacing: float = 0.5, audio_config: AudioConfig | None = None, p_move: float = 0.3,
                 num_distractors: int | None = None, rir_cache: str | None = None, mesh_kwargs: dict | None = None,
                 render_mode: str | None = None):
        self._closed = False
        self._contexts: OrderedDict[str, SceneContext] = OrderedDict()
        check_choice("task", task, tuple(TASKS))
        check_choice("motion", motion, ("grid", "continuous"))
        check_choice("audio", audio, ("spectrogram", "waveform"))
        check_choice("render_mode", render_mode, (None, "rgb_array"))
        check_choice("renderer", renderer, BACKENDS)
        check_choice("split", split, SPLITS)
        self.task, self.split, self.motion, self.audio_mode = task, split, motion, audio
        if turn_angle_deg is None:
            turn_angle_deg = 90.0 if motion == "grid" else 10.0
        self.turn_angle_deg = check_number("turn_angle_deg", turn_angle_deg, low=0.0, high=180.0, low_open=True, unit="degrees")
        if motion == "grid" and abs(90.0 / self.turn_angle_deg - round(90.0 / self.turn_angle_deg)) > 1e-9:
            raise ValueError(f"turn_angle_deg must divide 90 for grid motion (e.g. 90, 45, 30, 15), got {turn_angle_deg!r}")
        self.forward_step = check_number("forward_step", forward_step, low=0.0, high=2.0, low_open=True, unit="m")
        self.resolution = check_int("resolution", resolution, low=8, high=2048)
        self.hfov_deg = check_number("hfov_deg", hfov_deg, low=0.0, high=180.0, low_open=True, high_open=True, unit="degrees")
        self.max_steps = check_int("max_steps", max_steps, low=1)
        self.success_distance = check_number("success_distance", success_distance, low=0.0, low_open=True, unit="m")
        self.spacing = check_number("spacing", spacing, low=0.0, high=5.0, low_open=True, unit="m")
        check_int("episodes_per_scene", episodes_per_scene, low=1, high=100_000)
        check_number("p_move", p_move, low=0.0, high=1.0)
        if num_distractors is not None:
            if task != "moving_source":
                raise ValueError(f"num_distractors applies to the moving_source task only, got {num_distractors!r} for task {task!r}")
            check_int("num_distractors", num_distractors, low=0, high=16)
        if audio_config is not None and not isinstance(audio_config, AudioConfig):
            raise ValueError(f"audio_config must be an earshot.acoustics.AudioConfig, got {type(audio_config).__name__}")
        if mesh_kwargs is not None:
            if not isinstance(mesh_kwargs, dict):
                raise ValueError(f"mesh_kwargs must be a dict of earshot.scenes.load_scene arguments, got {mesh_kwargs!r}")
            unknown = sorted(set(mesh_kwargs) - _MESH_KWARGS)
            if unknown:
                raise ValueError(f"mesh_kwargs has unknown keys {unknown}; earshot.scenes.load_scene takes {sorted(_MESH_KWARGS)}")
        if rir_cache is not None and not isinstance(rir_cache, (str, Path)):
            raise ValueError(f"rir_cache must be a folder path, got {rir_cache!r}")
        self.renderer_backend = renderer
        self.mesh_kwargs = dict(mesh_kwargs or {})
        self.task_obj = (MovingSourceTask(p_move, 2 if num_distractors is None else num_distractors)
                         if task == "moving_source" else TASKS[task]())
        self.render_mode = render_mode
        self.cfg = audio_config or AudioConfig()
        self.sound_list = self._resolve_sounds(sounds)
        self.uses_audio = self.task_obj.uses_audio
        self.sim = Simulator(self.cfg, motion, self.turn_angle_deg, self.forward_step,
                             RIRCache(rir_cache) if rir_cache is not None else None)

        self.scene_refs = self._resolve_scenes(scenes)
        self.episodes = self._resolve_episodes(episodes, episodes_per_scene)

        h = w = self.resolution
        obs = {"rgb": spaces.Box(0, 255, (h, w, 3), np.uint8), "depth": spaces.Box(0.0, 1.0, (h, w, 1), np.float32)}
        if self.uses_audio:
            if audio == "spectrogram":
                shape = spectrogram(np.zeros((2, self.cfg.step_samples), np.float32), self.cfg, backend="numpy").shape
                obs["spectrogram"] = spaces.Box(0.0, np.inf, shape, np.float32)
            else:
                obs["audiogoal"] = spaces.Box(-np.inf, np.inf, (2, self.cfg.step_samples), np.float32)
        obs.update(self.task_obj.observation_spaces())
        self.observation_space = spaces.Dict(obs)
        self.action_space = spaces.Discrete(4)
        self.episode: Episode | None = None
        self.done = True
        self.last_audio: np.ndarray | None = None

    # ------------------------------------------------------------------ configuration helpers
    def _resolve_sounds(self, sounds) -> list[str]:
        if isinstance(sounds, str):
            if sounds == "all":
                return sound_names()
            if sounds not in ("heard", "unheard"):
                raise ValueError(f"sounds must be 'heard', 'unheard', 'all' or a list of built-in sound names, got {sounds!r}")
            return sound_names(sounds)
        if not isinstance(sounds, (list, tuple)):
            raise ValueError(f"sounds must be 'heard', 'unheard', 'all' or a list of built-in sound names, got {sounds!r}")
        names = list(sounds)
        if not names:
            raise ValueError("sounds must name at least one sound, got an empty list")
        known = set(sound_names())
        unknown = [s for s in names if not isinstance(s, str) or s not in known]
        if unknown:
            raise ValueError(f"sounds has unknown names {unknown}; built-in sounds are {sorted(known)}")
        return names

    def _resolve_scenes(self, scenes) -> list[str]:
        if isinstance(scenes, (str, Path)) and str(scenes).endswith(".json"):  # user meshes by split file
            files = load_split_file(scenes).get(self.split, [])
            if not files:
                raise ValueError(f"scenes split file {str(scenes)!r} lists no meshes for split {self.split!r}")
            scenes = files
        elif isinstance(scenes, (str, Path)):
            scenes = [scenes]  # one mesh file
        if isinstance(scenes, bool) or not isinstance(scenes, (int, np.integer, list, tuple)):
            raise ValueError(f"scenes must be a count, a list of procedural seeds or mesh paths, or a split file (.json), got {scenes!r}")
        if isinstance(scenes, (int, np.integer)):
            seeds = split_seeds(self.split)
            check_int("scenes", scenes, low=1, high=len(seeds))
            refs = [f"procedural:{s}" for s in list(seeds)[: int(scenes)]]
        else:
            refs = []
            for s in scenes:
                if isinstance(s, bool):
                    raise ValueError(f"scenes entries must be procedural seeds or mesh paths, got {s!r}")
                if isinstance(s, (int, np.integer)):
                    if split_of(int(s)) != self.split:
                        raise ValueError(f"scenes entry {s} is not a seed of the {self.split!r} split; see earshot.scenes.split_seeds")
                    refs.append(f"procedural:{int(s)}")
                elif isinstance(s, (str, Path)):
                    path = Path(s)
                    if not path.is_file():
                        raise FileNotFoundError(f"scenes entry {str(path)!r} is not an existing mesh file")
                    refs.append(str(path))
                else:
                    raise ValueError(f"scenes entries must be procedural seeds or mesh paths, got {s!r}")
            if not refs:
                raise ValueError("scenes must name at least one scene, got an empty list")
            if len(set(refs)) != len(refs):
                raise ValueError(f"scenes lists a scene twice: {sorted(r for r in set(refs) if refs.count(r) > 1)}")
        if any(r.startswith("procedural:") for r in refs) and self.spacing not in (0.25, 0.5, 1.0):
            raise ValueError(f"spacing must be 0.25, 0.5 or 1.0 m for procedural apartments, got {self.spacing!r}")
        return refs

    def _context(self, ref: str) -> SceneContext:
        if ref not in self._contexts:
            if ref.startswith("procedural:"):
                scene = generate_apartment(int(ref.split(":", 1)[1]), nav_spacing=self.spacing)
            else:
                scene = load_scene(ref, **self.mesh_kwargs)
            graph = NavGraph.build(scene, spacing=self.spacing)
            self._contexts[ref] = SceneContext(ref, scene, graph)
            while len(self._contexts) > 4:
                old = self._contexts.popitem(last=False)[1]
                if old.renderer is not None:
                    old.renderer.close()
        self._contexts.move_to_end(ref)
        return self._contexts[ref]

    def _resolve_episodes(self, episodes, per_scene: int) -> list[Episode]:
        if episodes is None:
            out = []
            task_id = list(TASKS).index(self.task)
            for k, ref in enumerate(self.scene_refs):
                ctx = self._context(ref)
                key = [task_id, k, int(ref.split(":", 1)[1]) if ref.startswith("procedural:") else 0,
                       int(ctx.scene.content_hash[:8], 16)]
                rng = np.random.default_rng(key)
                out += generate_episodes(ref, ctx.scene, ctx.graph, per_scene, rng, self.sound_list, self.turn_angle_deg
                                         if self.motion == "grid" else 90.0, self.task, self.task_obj.num_distractors)
            return out
        if isinstance(episodes, (str, Path)):
            eps, header = read_episode_file(episodes)
            source = f"episodes file {str(episodes)!r}"
            if header["split"] != self.split:
                raise ValueError(f"{source} was made for split {header['split']!r}, but this env's split is {self.split!r}")
            if header["spacing"] != self.spacing:
                raise ValueError(f"{source} was made for NavGraph spacing {header['spacing']} m, but this env's spacing "
                                 f"is {self.spacing} m: pass spacing={header['spacing']} or regenerate it")
        elif isinstance(episodes, (list, tuple)) and all(isinstance(e, Episode) for e in episodes):
            eps, source = list(episodes), "episodes"
        else:
            raise ValueError(f"episodes must be an episode file path or a list of earshot.av_env.Episode, got {type(episodes).__name__}")
        if not eps:
            raise ValueError(f"{source} holds no episodes")
        for e in eps:
            if e.scene.startswith("procedural:"):
                seed = int(e.scene.split(":", 1)[1])
                if split_of(seed) != self.split:
                    raise ValueError(f"{source} names scene {e.scene!r} of split {split_of(seed)!r}, but this env's split "
                                     f"is {self.split!r}")
            if self.task == "semantic_audiogoal" and not e.category:
                raise ValueError(f"{source}: episode {e.episode_id!r} has no goal category, which the semantic_audiogoal task needs")
            if e.scene not in self.scene_refs:
                self.scene_refs.append(e.scene)
            ctx = self._context(e.scene)
            check_episode(e, ctx.scene, ctx.graph)
        return eps

    def save_episodes(self, path) -> Path:
        """Write this env's episodes (with its split and spacing) to reload with ``episodes=path``."""
        return save_episodes(path, self.episodes, split=self.split, spacing=self.spacing)

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._check_open("reset")
        if seed is not None:
            check_int("seed", seed, low=0)
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"options must be a dict (keys: {', '.join(RESET_OPTIONS)}), got {options!r}")
        options = options or {}
        unknown = sorted(set(options) - set(RESET_OPTIONS))
        if unknown:
            raise ValueError(f"unknown reset options {unknown}; reset takes {', '.join(RESET_OPTIONS)}")
        super().reset(seed=seed)
        index = options.get("episode_index")
        if index is None:
            index = int(self.np_random.integers(len(self.episodes)))
        else:
            index = check_int("episode_index", index, low=0, high=len(self.episodes) - 1)
        self.episode = ep = self.episodes[int(index)]
        ctx = self._context(ep.scene)
        if ctx.renderer is None:
            ctx.renderer = make_renderer(self.renderer_backend, ctx.scene, width=self.resolution,
                                         height=self.resolution, hfov_deg=self.hfov_deg)
        self.sim.reset(ctx, ep.start_node, ep.start_heading)
        self.task_obj.reset(self.sim, ep, self.np_random)
        self.done = False
        self.start_distance = self.distance_to_goal()
        self.prev_distance = self.start_distance
        self.oracle_steps = self._oracle_action_count()
        return self._observe(), {"episode_id": ep.episode_id, "distance_to_goal": self.start_distance}

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise RuntimeError(f"{what}() called after close(): this environment is closed; make a new one")

    def step(self, action):
        self._check_open("step")
        if self.episode is None:
            raise RuntimeError("call reset() before step()")
        if self.done:
            raise RuntimeError("the episode has ended: call reset()")
        action = self._check_action(action)
        sim = self.sim
        terminated = action == Action.STOP
        if action == Action.MOVE_FORWARD:
            sim.move_forward()
        elif action in (Action.TURN_LEFT, Action.TURN_RIGHT):
            sim.turn(1 if action == Action.TURN_LEFT else -1)
        sim.steps += 1
        self.task_obj.after_action(sim, self.np_random)
        distance = self.distance_to_goal()
        success = bool(terminated and distance <= self.success_distance)
        reward = SLACK_REWARD + (self.prev_distance - distance) + (SUCCESS_REWARD if success else 0.0)
        self.prev_distance = distance
        truncated = bool(not terminated and sim.steps >= self.max_steps)
        self.done = terminated or truncated
        info = {"distance_to_goal": distance}
        if self.done:
            info.update(self._metrics(success, distance))
        return self._observe(), float(reward), terminated, truncated, info

    def _check_action(self, action) -> int:
        a = np.asarray(action)
        message = f"action must be one integer in 0..3 (STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT), got {action!r}"
        if a.size != 1 or not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
            raise ValueError(message)
        value = a.reshape(()).item()
        if value != int(value) or not 0 <= int(value) <= 3:
            raise ValueError(message)
        return int(value)

    # ------------------------------------------------------------------ goals, oracle, metrics
    def goal_nodes(self) -> list[int]:
        return self.task_obj.goal_nodes(self.sim, self.episode)

    def distance_to_goal(self) -> float:
        """Geodesic distance (m) from the agent to the nearest goal node."""
        return self.sim.distance_to(self.goal_nodes())

    def _nearest_goal(self) -> int:
        g = self.sim.graph
        return min(self.goal_nodes(), key=lambda n: g.distances_from(n)[self.sim.node])

    def _oracle_action_count(self) -> int:
        sim = self.sim
        if self.motion != "grid":
            return max(1, int(np.ceil(self.start_distance / self.forward_step)) + 1)
        g, goal = sim.graph, self._nearest_goal()
        node, heading, count = sim.node, sim.heading, 0
        for _ in range(4 * len(g) + 10):
            a = g.best_action(node, heading, goal, self.turn_angle_deg)
            count += 1
            if a == Action.STOP:
                break
            if a == Action.MOVE_FORWARD:
                node = g.neighbor_in_direction(node, heading)
            else:
                heading += np.radians(self.turn_angle_deg) * (1 if a == Action.TURN_LEFT else -1)
        return count

    def oracle_action(self) -> int:
        """The shortest-path action: STOP on the goal, else forward or the fewest turns."""
        sim = self.sim
        g, goal = sim.graph, self._nearest_goal()
        if self.motion == "grid":
            return int(g.best_action(sim.node, sim.heading, goal, self.turn_angle_deg))
        if self.distance_to_goal() <= min(self.success_distance, self.forward_step):
            return int(Action.STOP)
        return self._continuous_oracle_action(goal)

    def _continuous_oracle_action(self, goal: int) -> int:
        """Greedy descent of a cost-to-go field: cost(p) = min over NavGraph nodes n within reach
        of p by a free straight move of |p − n| + geodesic(n, goal). Among the headings reachable
        by turns, the one whose free forward step lowers the cost most is chosen; the agent moves
        when it already faces it, else turns towards it (the fewest turns, left on ties). The
        choice depends on the position only, so turning converges on it and every forward move
        lowers the cost: the agent cannot loop against a wall."""
        sim, g = self.sim, self.sim.graph
        turn = np.radians(self.turn_angle_deg)
        n_turns = int(round(2 * np.pi / turn))
        ks = np.arange(-(n_turns // 2), n_turns - n_turns // 2)
        ks = ks[np.lexsort((-np.sign(ks), np.abs(ks)))]  # 0, +1, -1, +2, -2, ...
        headings = sim.heading + ks * turn
        here = sim.position[:2]
        targets = here[None] + self.forward_step * np.c_[np.cos(headings), np.sin(headings)]
        free = sim.free_segments(np.repeat(here[None], len(targets), axis=0), targets)
        dist = g.distances_from(goal)

        def cost(points: np.ndarray) -> np.ndarray:
            out = np.full(len(points), np.inf)
            # the 8 nearest nodes within 2.5 spacings (a point near a corner may see none closer)
            _, near = g._tree2d.query(points, k=min(8, len(g)), distance_upper_bound=2.5 * g.spacing)
            near = np.asarray(near).reshape(len(points), -1)
            owner = np.repeat(np.arange(len(points)), near.shape[1])
            nodes = near.reshape(-1)
            real = nodes < len(g)
            owner, nodes = owner[real], nodes[real]
            if len(nodes) == 0:
                return out
            ok = sim.free_segments(points[owner], g.positions[nodes, :2])
            total = np.linalg.norm(g.positions[nodes, :2] - points[owner], axis=1) + dist[nodes]
            np.minimum.at(out, owner[ok], total[ok])
            return out

        costs = np.full(len(ks), np.inf)
        costs[free] = cost(targets[free])
        if not np.isfinite(costs).any():
            return int(Action.TURN_LEFT)  # boxed in on every side: nothing better to do
        best = int(np.flatnonzero(costs <= costs.min() + 1e-9)[0])  # fewest turns among the best
        if ks[best] == 0:
            return int(Action.MOVE_FORWARD)
        return int(Action.TURN_LEFT if ks[best] > 0 else Action.TURN_RIGHT)

    def _metrics(self, success: bool, distance: float) -> dict:
        sim = self.sim
        shortest = self.start_distance if self.task == "semantic_audiogoal" else self.episode.geodesic_distance
        out = {
            "success": float(success),
            "spl": metrics.spl(success, shortest, sim.path_length),
            "softspl": metrics.softspl(distance, self.start_distance, self.start_distance, sim.path_length),
            "sna": metrics.sna(success, self.oracle_steps, sim.steps),
            "distance_to_goal": distance,
            "normalized_distance_to_goal": metrics.normalized_distance_to_goal(distance, self.start_distance),
            "num_steps": sim.steps,
            "collisions": sim.collisions,
        }
        out.update(self.task_obj.metrics(sim, self.episode, success))
        return out

    # ------------------------------------------------------------------ observations
    def _observe(self) -> dict:
        rgb, depth = self.sim.rgbd()
        obs = {"rgb": rgb, "depth": depth}
        if self.uses_audio:
            audio = self.last_audio = self.sim.audio()  # kept for frames and videos of this step
            if self.audio_mode == "spectrogram":
                obs["spectrogram"] = np.asarray(spectrogram(audio, self.cfg, backend="numpy"), np.float32)
            else:
                obs["audiogoal"] = audio
        obs.update(self.task_obj.observe(self.sim, self.episode))
        return obs

    # ------------------------------------------------------------------ rendering for people
    def render(self):
        self._check_open("render")
        if self.render_mode != "rgb_array":
            return None
        if self.episode is None:
            raise RuntimeError("call reset() before render()")
        from .visualize import compose_frame

        return compose_frame(self)

    def close(self):
        self._closed = True
        for ctx in self._contexts.values():
            if ctx.renderer is not None:
                ctx.renderer.close()
                ctx.renderer = None

"""The audio-visual navigation environment (one class; tasks chosen by kwargs)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..acoustics import AudioConfig, RIRCache, sound_names, spectrogram
from ..scenes import Action, NavGraph, generate_apartment, load_scene, load_split_file, split_of, split_seeds
from ..scenes.checks import check_bool, check_choice, check_int, check_number
from ..scenes.lru import BUDGETS, LRU
from ..scenes.render import BACKENDS, make_renderer
from ..scenes.splits import SPLITS
from ..scenes.store import SceneCache

from . import metrics, oracles
from .episodes import Episode, EpisodeList, check_episode, generate_episodes, read_episode_file, save_episodes
from .simulator import AUDIO_FULL_SCALE, SceneContext, Simulator
from .tasks import TASKS

_MESH_KWARGS = {"up_axis", "scale", "materials", "default_material", "floor_height", "name"}
RESET_OPTIONS = ("episode_index",)


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
    num_distractors, rir_cache (a folder shared by vectorized workers), scene_cache (a folder of
    built scenes and NavGraphs, shared likewise; see ``earshot.scenes.store``), mesh_kwargs (passed to
    ``earshot.scenes.load_scene`` for mesh paths, e.g. ``{"up_axis": "y"}``), render_mode ("rgb_array"),
    failed_stop_reward (≤ 0, default 0 as in SoundSpaces: added to the reward of a STOP away from
    the goal, an option against policies that learn to stop at once), echoes (add the ``echo``
    observation: the spectrogram of a chirp's echoes, ``earshot.acoustics.echo``; on by default
    only for EchoDepth), echo_config (its AudioConfig; default ``acoustics.echo.ECHO_CONFIG``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, task: str = "audiogoal", split: str = "train", scenes=2, sounds="heard", motion: str = "grid",
                 turn_angle_deg: float | None = None, forward_step: float = 0.25, resolution: int = 128,
                 hfov_deg: float = 90.0, audio: str = "spectrogram", max_steps: int = 500,
                 success_distance: float = 1.0, renderer: str = "auto", episodes=None, episodes_per_scene: int = 50,
                 spacing: float = 0.5, audio_config: AudioConfig | None = None, p_move: float | None = None,
                 num_distractors: int | None = None, rir_cache: str | None = None, mesh_kwargs: dict | None = None,
                 render_mode: str | None = None, sensors=None, episodes_per_visit: int = 10,
                 scene_memory: int = BUDGETS.scenes, scene_shard: tuple[int, int] | None = None,
                 scene_cache: str | None = None, failed_stop_reward: float = 0.0, echoes: bool | None = None,
                 echo_config: AudioConfig | None = None):
        self._closed = False
        self._contexts: LRU[SceneContext] = LRU(BUDGETS.scenes, on_evict=lambda _, ctx: ctx.close())
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
        self.episodes_per_visit = check_int("episodes_per_visit", episodes_per_visit, low=1)
        self._contexts.max_items = check_int("scene_memory", scene_memory, low=1)
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
        self.scene_cache = SceneCache(scene_cache) if scene_cache is not None else None
        self.renderer_backend = renderer
        self.mesh_kwargs = dict(mesh_kwargs or {})
        self.task_obj = TASKS[task](p_move=p_move, num_distractors=num_distractors)
        self.task_obj.failed_stop_reward = check_number("failed_stop_reward", failed_stop_reward, high=0.0)
        self.render_mode = render_mode
        self.cfg = audio_config or AudioConfig()
        self.sound_list = self._resolve_sounds(sounds)
        self.uses_audio = self.task_obj.uses_audio
        self.sim = Simulator(self.cfg, motion, self.turn_angle_deg, self.forward_step,
                             RIRCache(rir_cache) if rir_cache is not None else None)

        self.scene_refs = self._resolve_scenes(scenes)
        if scene_shard is not None:
            if not (isinstance(scene_shard, (tuple, list)) and len(scene_shard) == 2
                    and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in scene_shard)
                    and 0 <= scene_shard[0] < scene_shard[1]):
                raise ValueError(f"scene_shard must be (index, count) with 0 <= index < count, got {scene_shard!r}")
            index, count = int(scene_shard[0]), int(scene_shard[1])
            if count > len(self.scene_refs):
                raise ValueError(f"scene_shard {tuple(scene_shard)} asks for {count} shards of {len(self.scene_refs)} scenes: "
                                 "use at most as many workers as scenes")
            self.scene_refs = self.scene_refs[index::count]
        self.episodes = self._resolve_episodes(episodes, episodes_per_scene)

        h = w = self.resolution
        obs = {"rgb": spaces.Box(0, 255, (h, w, 3), np.uint8), "depth": spaces.Box(0.0, 1.0, (h, w, 1), np.float32)}
        if self.uses_audio:
            if audio == "spectrogram":
                shape = spectrogram(np.zeros((2, self.cfg.step_samples), np.float32), self.cfg, backend="numpy").shape
                obs["spectrogram"] = spaces.Box(0.0, 1.0, shape, np.float32)
            else:
                obs["audiogoal"] = spaces.Box(-AUDIO_FULL_SCALE, AUDIO_FULL_SCALE, (2, self.cfg.step_samples), np.float32)
        if echoes is not None:
            check_bool("echoes", echoes)
        if echo_config is not None and not isinstance(echo_config, AudioConfig):
            raise ValueError(f"echo_config must be an earshot.acoustics.AudioConfig, got {type(echo_config).__name__}")
        self.echoes = self.task_obj.echoes if echoes is None else bool(echoes)
        if self.echoes:
            from ..acoustics.echo import ECHO_CONFIG, chirp, echo_spectrogram

            self.sim.echo_config = echo_config or ECHO_CONFIG
            chirp(self.sim.echo_config)  # the chirp must fit the sample rate: fail now, not at reset
            shape = echo_spectrogram(np.zeros((2, self.sim.echo_config.step_samples), np.float32), self.sim.echo_config).shape
            obs["echo"] = spaces.Box(0.0, 1.0, shape, np.float32)
        elif echo_config is not None:
            raise ValueError("echo_config applies only with echoes=True (or the EchoDepth task)")
        obs.update(self.task_obj.observation_spaces())
        self.sensors = self._resolve_sensors(sensors, tuple(obs))
        self.observation_space = spaces.Dict({k: v for k, v in obs.items() if k in self.sensors})
        # log1p |STFT| of audio within full scale is at most log1p(full scale x the window's sum)
        self._spectrogram_scale = float(np.log1p(AUDIO_FULL_SCALE * self.cfg.win_length / 2))
        self._iteration: list[int] = []
        self.action_space = spaces.Discrete(4)
        self.episode: Episode | None = None
        self.done = True
        self.last_audio: np.ndarray | None = None
        self.last_observation: dict | None = None
        self._spectrograms: LRU = LRU(BUDGETS.step_spectrograms)  # observed spectrograms by Simulator.audio_key()

    # ------------------------------------------------------------------ configuration helpers
    @staticmethod
    def _resolve_sensors(sensors, keys: tuple[str, ...]) -> tuple[str, ...]:
        if sensors is None:
            return keys
        if isinstance(sensors, str) or not all(isinstance(k, str) for k in sensors):
            raise ValueError(f"sensors must be a list of observation keys from {list(keys)}, got {sensors!r}")
        chosen = list(dict.fromkeys(sensors))
        unknown = [k for k in chosen if k not in keys]
        if unknown or not chosen:
            raise ValueError(f"sensors must be a non-empty subset of this task's keys {list(keys)}, got {sensors!r}")
        return tuple(k for k in keys if k in chosen)

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
        """The scene, its NavGraph (and renderer, made at first reset) of ``ref``: built once and
        kept in a bounded LRU (``scene_memory`` scenes; an evicted scene's renderer is closed)."""
        def build_scene():
            if ref.startswith("procedural:"):
                scene = generate_apartment(int(ref.split(":", 1)[1]), nav_spacing=self.spacing)
            else:
                scene = load_scene(ref, **self.mesh_kwargs)
            return scene, NavGraph.build(scene, spacing=self.spacing)

        def build() -> SceneContext:
            if self.scene_cache is None:
                return SceneContext(ref, *build_scene())
            args = {"spacing": self.spacing} if ref.startswith("procedural:") else {"spacing": self.spacing, **self.mesh_kwargs}
            return SceneContext(ref, *self.scene_cache.get_or_build(SceneCache.key(ref, **args), build_scene))

        return self._contexts.get_or_create(ref, build)

    def _scene_episodes(self, k: int, per_scene: int) -> list[Episode]:
        """The fixed episodes of scene ``k``: seeded by the task, the scene's index and content."""
        ref = self.scene_refs[k]
        ctx = self._context(ref)
        key = [list(TASKS).index(self.task), k, int(ref.split(":", 1)[1]) if ref.startswith("procedural:") else 0,
               int(ctx.scene.content_hash[:8], 16)]
        return generate_episodes(ref, ctx.scene, ctx.graph, per_scene, np.random.default_rng(key), self.sound_list,
                                 self.turn_angle_deg if self.motion == "grid" else 90.0, self.task_obj)

    def _resolve_episodes(self, episodes, per_scene: int):
        if episodes is None:  # generated per scene on its first visit
            return EpisodeList(self.scene_refs, per_scene, lambda k: self._scene_episodes(k, per_scene))
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
            self.task_obj.check_episode(e)
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
        if seed is not None:
            self._iteration = []  # a seed restarts the episode iteration
        super().reset(seed=seed)
        index = options.get("episode_index")
        if index is None:
            index = self._next_episode_index()
        else:
            index = check_int("episode_index", index, low=0, high=len(self.episodes) - 1)
        self.episode = ep = self.episodes[int(index)]
        ctx = self._context(ep.scene)
        if ctx.renderer is None and ("rgb" in self.sensors or "depth" in self.sensors or self.render_mode):
            ctx.renderer = make_renderer(self.renderer_backend, ctx.scene, width=self.resolution,
                                         height=self.resolution, hfov_deg=self.hfov_deg)
        self.sim.reset(ctx, ep.start_node, ep.start_heading)
        self.task_obj.reset(self.sim, ep, self.np_random)
        self.done = False
        self.start_distance = self.distance_to_goal()
        self.prev_distance = self.start_distance
        self._start_state = (self.sim.node, self.sim.heading, self._nearest_goal())  # for SNA, at the end
        return self._observe(), {"episode_id": ep.episode_id, "distance_to_goal": self.start_distance}

    def _next_episode_index(self) -> int:
        """Episode iteration made for training (habitat-lab's EpisodeIterator is the model):
        scenes in a shuffled order, ``episodes_per_visit`` shuffled episodes from each before
        moving on, reshuffled after every pass; all drawn from ``np_random``, so a seed fixes the
        sequence. Scene switches are therefore rare, and each scene is built once."""
        if not self._iteration:
            groups: dict[str, list[int]] = {}
            if isinstance(self.episodes, EpisodeList):
                for k, ref in enumerate(self.episodes.scene_refs):
                    groups[ref] = list(self.episodes.indices_of_scene(k))
            else:
                for i, e in enumerate(self.episodes):
                    groups.setdefault(e.scene, []).append(i)
            rng = self.np_random
            order = [list(groups)[i] for i in rng.permutation(len(groups))]
            plan: list[int] = []
            for ref in order:
                members = [groups[ref][i] for i in rng.permutation(len(groups[ref]))]
                for start in range(0, len(members), self.episodes_per_visit):
                    plan.append(members[start:start + self.episodes_per_visit])
            # visits of one scene follow each other only when a scene has more than one visit's worth
            self._iteration = [i for visit in plan for i in visit][::-1]
        return self._iteration.pop()

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
        success = self.task_obj.success(terminated, distance, self.success_distance)
        reward = self.task_obj.reward(self.prev_distance, distance, success, stopped=terminated)
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
        return oracles.nearest_goal(self.sim.graph, self.sim.node, self.goal_nodes())

    def _oracle_action_count(self) -> int:
        """Actions the grid oracle takes from the episode's start (SNA's denominator)."""
        sim = self.sim
        if self.motion != "grid":
            return max(1, int(np.ceil(self.start_distance / self.forward_step)) + 1)
        node, heading, goal = self._start_state
        return sim.graph.oracle_action_count(node, heading, goal, self.turn_angle_deg)

    def oracle_action(self) -> int:
        """The shortest-path action (``earshot.av_env.oracles``): STOP on the goal, else forward or
        the fewest turns."""
        sim = self.sim
        goal = self._nearest_goal()
        if self.motion == "grid":
            return oracles.shortest_path_action(sim.graph, sim.node, sim.heading, goal, self.turn_angle_deg)
        return oracles.continuous_action(sim.graph, sim.position, sim.heading, goal, self.turn_angle_deg,
                                         self.forward_step, self.distance_to_goal(), self.success_distance,
                                         sim.free_segments)

    def _metrics(self, success: bool, distance: float) -> dict:
        sim = self.sim
        shortest = self.task_obj.shortest_distance(self.episode, self.start_distance)
        out = {
            "success": float(success),
            "spl": metrics.spl(success, shortest, sim.path_length),
            "softspl": metrics.softspl(distance, self.start_distance, self.start_distance, sim.path_length),
            "sna": metrics.sna(success, self._oracle_action_count(), sim.steps),
            "distance_to_goal": distance,
            "normalized_distance_to_goal": metrics.normalized_distance_to_goal(distance, self.start_distance),
            "num_steps": sim.steps,
            "collisions": sim.collisions,
        }
        out.update(self.task_obj.metrics(sim, self.episode, success))
        return out

    # ------------------------------------------------------------------ observations
    def _observe(self) -> dict:
        """The observation, computing only the keys in ``sensors``: no rendering without rgb or
        depth, no audio without spectrogram or audiogoal."""
        wanted = self.sensors
        obs = {}
        if "rgb" in wanted or "depth" in wanted:
            rgb, depth = self.sim.rgbd()
            obs.update(rgb=rgb, depth=depth)
        self.last_audio = None
        if "audiogoal" in wanted:
            obs["audiogoal"] = self.last_audio = self.sim.audio()  # kept for frames and videos of this step
        if "echo" in wanted:
            obs["echo"] = self.sim.echo()
        if "spectrogram" in wanted:
            # a revisited (position, heading) at the same point of the sounds' loops hears the
            # same signal: its spectrogram is kept (13.5 kB each at 16 kHz)
            key = self.sim.audio_key()
            spec = self._spectrograms.get(key)
            if spec is None:
                if self.last_audio is None:
                    self.last_audio = self.sim.audio()
                spec = np.asarray(spectrogram(self.last_audio, self.cfg, backend="numpy"), np.float32)
                spec = self._spectrograms[key] = np.minimum(spec / np.float32(self._spectrogram_scale), np.float32(1.0))
            obs["spectrogram"] = spec.copy()
        obs.update(self.task_obj.observe(self.sim, self.episode))
        self.last_observation = {k: obs[k] for k in wanted}  # what step/reset returned last
        return self.last_observation

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
        self._contexts.clear()  # closes every renderer
        self._spectrograms.clear()
        self.sim.close()

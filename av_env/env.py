"""The audio-visual navigation environment: a thin Gymnasium shell over a simulator
(``simulator.Simulator``), a task (``tasks``) and an episode source (``episode_source``),
composed from the frozen configs of ``config``."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..scenes import Action
from ..scenes.checks import check_int
from ..scenes.render import make_renderer

from . import metrics, oracles
from .config import EnvConfig
from .episode_source import EpisodeSource
from .observations import Observer
from .simulator import Simulator
from .tasks import TASKS

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
    Opt-in (only when ``sensors`` names it): ``last_action`` float32 (6,), the action just taken
    one-hot (STOP, MOVE_FORWARD, TURN_LEFT, TURN_RIGHT, none yet) and 1 when it was a blocked
    MOVE_FORWARD (a collision), as habitat's policies are given the previous action;
    ``visits`` float32 (1,), how many earlier steps of the episode ended where the agent stands,
    log(1 + n) / log(65) capped at 1 (from the agent's own pose, as the waypoint agent's map:
    a policy can tell a place it keeps returning to, and leave a loop); ``pose`` float32 (4,),
    the displacement from the episode's start in the start's frame (ahead, left; metres / 10,
    clipped to ±5) and the cosine and sine of the heading relative to the start's (habitat's
    episodic GPS + compass, as SAVi observes its pose); ``local_map`` float32 (48, 48, 3) in
    [0, 1], an occupancy map the agent builds from its own depth images and pose since the
    episode began (``av_env.egomap``; 0.2 m cells, 9.6 m around it, facing up to the nearest
    90°): occupied, explored, and the steps that ended in each cell (log-scaled as ``visits``),
    memory of where it has looked and been, as the waypoint agent's map and Dynamic AV-Nav's
    occupancy input.

    ## Rewards
    +10 on success, −0.01 per step, plus the decrease of the geodesic distance to the goal.

    ## Starting State
    The episode's start node and heading (episodes are fixed per split and seed).

    ## Episode End
    Terminated on STOP; truncated after ``max_steps``. ``info`` then holds success, spl, softspl,
    sna, distance_to_goal, normalized_distance_to_goal, num_steps, collisions, stopped (1.0 when a
    STOP ended the episode, 0.0 at the step limit) (+ dspl).

    ## Arguments
    ``AVNavEnv(task, config=EnvConfig(...))``, or the flat keyword arguments below, which
    ``EnvConfig.from_kwargs`` maps onto the configs (``earshot.av_env.config``): task, split ("train"/"val"/"test"), scenes (count, list of seeds / mesh paths, or a split file
    ``{"train": [...], "val": [...], "test": [...]}`` of mesh paths), sounds
    ("heard"/"unheard"/list), sound_variants (a training augmentation: half the episodes play one of
    that many variants of their sound, ``earshot.acoustics.sounds``), motion ("grid"/"continuous"), turn_angle_deg, forward_step,
    resolution, hfov_deg, audio ("spectrogram" default, "waveform", "binaural-cues", "gcc-phat",
    "onset-cues", or several joined by "+"), head ("kemar" default, "sphere" or a SOFA file),
    max_steps, success_distance,
    renderer, episodes (file path or list), episodes_per_scene, spacing, audio_config, p_move,
    num_distractors, rir_cache (a folder shared by vectorized workers), tail_cache (a folder of traced
    tails, shared likewise), scene_cache (a folder of
    built scenes and NavGraphs, shared likewise; see ``earshot.scenes.store``), mesh_kwargs (passed to
    ``earshot.scenes.load_scene`` for mesh paths, e.g. ``{"up_axis": "y"}``), render_mode ("rgb_array"),
    failed_stop_reward (≤ 0, default 0 as in SoundSpaces: added to the reward of a STOP away from
    the goal, an option against policies that learn to stop at once), spl_reward (false as in
    SoundSpaces; true: the +10 of a success is scaled by the episode's SPL, so PPO is paid for the
    short path, not only for arriving), revisit_reward (≤ 0, default 0 as in SoundSpaces: added to
    the reward of a move or turn that ends in a pose, place and heading, the episode has already
    been in: a blocked step, a full turn in place, a cycle; an option against looping), echoes (add the ``echo``
    observation: the spectrogram of a chirp's echoes, ``earshot.acoustics.echo``; on by default
    only for EchoDepth), echo_config (its AudioConfig; default ``acoustics.echo.ECHO_CONFIG``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, task: str = "audiogoal", config: EnvConfig | None = None, **kwargs):
        self._closed = False
        if config is None:
            config = EnvConfig.from_kwargs(task, **kwargs)
        elif kwargs:
            raise ValueError(f"pass either config=EnvConfig(...) or flat keyword arguments, not both (got {sorted(kwargs)})")
        elif not isinstance(config, EnvConfig):
            raise ValueError(f"config must be an earshot.av_env.config.EnvConfig, got {type(config).__name__}")
        self.config = c = config
        self.task_obj = TASKS[c.task](**c.task_options)
        self.cfg = c.acoustics.config
        rir_cache = None
        if c.acoustics.rir_cache is not None:
            from ..acoustics import RIRCache

            rir_cache = RIRCache(c.acoustics.rir_cache)
        self.sim = Simulator(self.cfg, c.motion.motion, c.motion.turn_angle_deg, c.motion.forward_step, rir_cache)
        from ..acoustics.tail_store import resolve_tail_store

        tail_store = resolve_tail_store(c.acoustics.tail_cache)  # None: the per-user folder; False: none
        self.source = EpisodeSource(c.episodes, c.task, self.task_obj,
                                    c.motion.turn_angle_deg if c.motion.motion == "grid" else 90.0, tail_store,
                                    grid=c.motion.motion == "grid")
        self.echoes = self.task_obj.echoes if c.sensors.echoes is None else bool(c.sensors.echoes)
        if self.echoes:
            from ..acoustics.echo import chirp

            self.sim.echo_config = c.acoustics.echo
            chirp(self.sim.echo_config)  # the chirp must fit the sample rate: fail now, not at reset
        elif c.acoustics.echo_config is not None:
            raise ValueError("echo_config applies only with echoes=True (or the EchoDepth task)")
        self.observer = Observer(self.task_obj, c.sensors, self.cfg, self.sim.echo_config)
        self.observation_space = self.observer.space
        self.action_space = spaces.Discrete(4)
        self.render_mode = c.sensors.render_mode
        self.episode = None
        self.done = True
        self.last_observation: dict | None = None

    # ------------------------------------------------------------------ the config, read-only
    task = property(lambda self: self.config.task, doc="the task's name")
    split = property(lambda self: self.config.episodes.split)
    spacing = property(lambda self: self.config.episodes.spacing)
    max_steps = property(lambda self: self.config.episodes.max_steps)
    success_distance = property(lambda self: self.config.episodes.success_distance)
    episodes_per_visit = property(lambda self: self.config.episodes.episodes_per_visit)
    motion = property(lambda self: self.config.motion.motion)
    turn_angle_deg = property(lambda self: self.config.motion.turn_angle_deg)
    forward_step = property(lambda self: self.config.motion.forward_step)
    resolution = property(lambda self: self.config.sensors.resolution)
    hfov_deg = property(lambda self: self.config.sensors.hfov_deg)
    renderer_backend = property(lambda self: self.config.sensors.renderer)
    audio_mode = property(lambda self: self.config.sensors.audio)
    sensors = property(lambda self: self.observer.keys, doc="the observed keys")
    camera_height = property(lambda self: self.config.sensors.camera_height if self.config.sensors.camera_height
                             is not None else self.cfg.ear_height, doc="m above the floor: at the ears unless set apart")
    uses_audio = property(lambda self: self.task_obj.uses_audio)
    episodes = property(lambda self: self.source.episodes)
    scene_refs = property(lambda self: self.source.scene_refs)
    sound_list = property(lambda self: self.source.sound_list)
    scene_cache = property(lambda self: self.source.scene_cache)
    mesh_kwargs = property(lambda self: self.source.mesh_kwargs)
    last_audio = property(lambda self: self.observer.last_audio, doc="the binaural audio of the last observation, if heard")

    @last_audio.setter
    def last_audio(self, value) -> None:
        self.observer.last_audio = value

    def make_renderer(self, scene):
        """A renderer of ``scene`` for this env's camera (resolution, field of view, height)."""
        return make_renderer(self.renderer_backend, scene, width=self.resolution, height=self.resolution,
                             hfov_deg=self.hfov_deg, camera_height=self.camera_height)

    def save_episodes(self, path) -> Path:
        """Write this env's episodes (with its split and spacing) to reload with ``episodes=path``."""
        return self.source.save(path)

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
            self.source.restart()  # a seed restarts the episode iteration
        super().reset(seed=seed)
        index = options.get("episode_index")
        if index is None:
            index = self.source.next_index(self.np_random)
        else:
            index = check_int("episode_index", index, low=0, high=len(self.episodes) - 1)
        self.episode = ep = self.episodes[int(index)]
        ctx = self.source.context(ep.scene)
        if ctx.renderer is None and (self.render_mode or self.observer.needs_camera):
            ctx.renderer = self.make_renderer(ctx.scene)
        self.sim.reset(ctx, ep.start_node, ep.start_heading)
        self.task_obj.reset(self.sim, ep, self.np_random)
        self.observer.begin_episode(self.sim)
        self.done = False
        self.start_distance = self.distance_to_goal()
        self.prev_distance = self.start_distance
        self._start_state = (self.sim.node, self.sim.heading, self._nearest_goal())  # for SNA, at the end
        # every pose the episode has been in, kept only for a task that penalises revisits
        self._poses = {self.pose_key()} if self.task_obj.revisit_reward else None
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
        sim.last_action, sim.blocked = action, False
        if action == Action.MOVE_FORWARD:
            sim.blocked = not sim.move_forward()
        elif action in (Action.TURN_LEFT, Action.TURN_RIGHT):
            sim.turn(1 if action == Action.TURN_LEFT else -1)
        sim.steps += 1
        sim.visits[sim.node] += 1
        self.task_obj.after_action(sim, self.np_random)
        distance = self.distance_to_goal()
        success = self.task_obj.success(terminated, distance, self.success_distance)
        repeated = False
        if self._poses is not None:
            pose = self.pose_key()
            repeated = pose in self._poses
            self._poses.add(pose)
        reward = self.task_obj.reward(self.prev_distance, distance, success, stopped=terminated,
                                      spl=self._spl(success) if success else 0.0, repeated=repeated)
        self.prev_distance = distance
        truncated = bool(not terminated and sim.steps >= self.max_steps)
        self.done = terminated or truncated
        info = {"distance_to_goal": distance}
        if self.done:
            info.update(self._metrics(success, distance, terminated))
        return self._observe(), float(reward), terminated, truncated, info

    def pose_key(self) -> tuple:
        """The agent's pose as a hashable key: its place (to the centimetre) and heading (to the
        degree, in [0, 360))."""
        sim = self.sim
        return tuple(np.round(sim.position[:2], 2).tolist()) + (int(round(np.degrees(sim.heading))) % 360,)

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

    def nearest_goal(self) -> int:
        """The goal node geodesically nearest to the agent."""
        return oracles.nearest_goal(self.sim.graph, self.sim.node, self.goal_nodes())

    _nearest_goal = nearest_goal

    def goal_vector(self) -> np.ndarray:
        """(2,) float32: where the goal is, seen from the agent (``observations.frame_vector``:
        ahead and to the left, metres / 10): the goal's sound source (the sounding object of a
        semantic episode, a moving source where it is now), else the nearest goal node. Privileged,
        as the oracle's action is: a label for training (DAgger's goal-location loss), never an
        observation."""
        from .observations import frame_vector

        sim = self.sim
        node = sim.sources[0].node if sim.sources else self._nearest_goal()
        return frame_vector(sim.position, sim.heading, sim.graph.positions[node])

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

    def _spl(self, success: bool) -> float:
        """The episode's SPL so far: the task's shortest path against the length walked."""
        shortest = self.task_obj.shortest_distance(self.episode, self.start_distance)
        return metrics.spl(success, shortest, self.sim.path_length)

    def _metrics(self, success: bool, distance: float, stopped: bool) -> dict:
        sim = self.sim
        out = {
            "success": float(success),
            "spl": self._spl(success),
            "softspl": metrics.softspl(distance, self.start_distance, self.start_distance, sim.path_length),
            # a failed episode's SNA is 0 whatever the oracle's count: walked only on success
            "sna": metrics.sna(success, self._oracle_action_count(), sim.steps) if success else 0.0,
            "distance_to_goal": distance,
            "normalized_distance_to_goal": metrics.normalized_distance_to_goal(distance, self.start_distance),
            "num_steps": sim.steps,
            "collisions": sim.collisions,
            "stopped": float(stopped),
        }
        out.update(self.task_obj.metrics(sim, self.episode, success))
        return out

    # ------------------------------------------------------------------ observations
    def _observe(self) -> dict:
        self.last_observation = self.observer.observe(self.sim, self.episode)  # what step/reset returned last
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
        self.source.close()  # closes every renderer
        self.observer.close()
        self.sim.close()

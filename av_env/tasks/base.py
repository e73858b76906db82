"""The Task interface: everything task-specific lives in a Task, built from its own kwargs; the
env and the episode generator never branch on a task's name (dm_control style)."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from ...scenes.angles import wrap_angle
from ...scenes.checks import check_bool, check_number
from ..episodes import Episode
from ..simulator import Simulator

SUCCESS_REWARD = 10.0  # SoundSpaces: reward on success
SLACK_REWARD = -0.01  # SoundSpaces: reward per step
# parameters every task takes, with their defaults
COMMON_PARAMETERS: dict[str, object] = {"failed_stop_reward": 0.0, "spl_reward": False, "revisit_reward": 0.0}


class Task:
    """Hooks the environment calls, each given the simulator (tasks keep no hidden state beyond
    their parameters):

    - ``sample_goal(scene, graph, rng, distances, lo, hi)``: (goal node, category) for a new
      episode from a start whose geodesic ``distances`` to every node are given, preferring
      goals in [lo, hi) metres; None to retry;
    - ``episode_extras(rng, sounds, sound, n_nodes)``: extra Episode fields (sound duration,
      distractor sources);
    - ``check_episode(episode)``: refuse a loaded episode this task cannot run;
    - ``reset(sim, episode, rng)``: place the episode's sound sources;
    - ``after_action(sim, rng)``: the world's own motion after the agent acted (moving sources);
    - ``goal_nodes(sim, episode)``: nodes where STOP succeeds (within the success distance);
    - ``success(stopped, distance, success_distance)``, ``reward(previous, distance, success,
      stopped, spl)``;
    - ``shortest_distance(episode, start_distance)``: the l of SPL;
    - ``observe(sim, episode)``, ``observation_spaces()``: the task's own observation keys;
    - ``metrics(sim, episode, success)``: extra end-of-episode metrics.

    ``Task(**kwargs)`` takes only the parameters the task has (``COMMON_PARAMETERS`` and its own
    ``PARAMETERS``): they are the task's options, owned here, not patched onto the env; any other
    is one clear error naming it.
    """

    name = "task"
    uses_audio = True
    uses_pointgoal = False
    echoes = False  # observe the echo of a chirp by default (the env's ``echoes`` kwarg overrides)
    PARAMETERS: dict[str, object] = {}
    # parameters added with a default that changed what the task did: the behaviour before them
    # (a checkpoint that does not record such a parameter trained under this value, not the default)
    BEFORE: dict[str, object] = {}

    def __init__(self, failed_stop_reward: float | None = None, spl_reward: bool | None = None,
                 revisit_reward: float | None = None, **kwargs):
        allowed = self.defaults()
        unknown = sorted(k for k, v in kwargs.items() if k not in allowed and v is not None)
        if unknown:
            raise ValueError(f"{', '.join(unknown)} does not apply to the {self.name} task"
                             + (f" (it takes {', '.join(allowed)})"))
        # added to the reward of a STOP away from the goal (SoundSpaces: none)
        self.failed_stop_reward = check_number("failed_stop_reward", self.given("failed_stop_reward", failed_stop_reward),
                                               high=0.0)
        # the success bonus times the episode's SPL (the metric itself) instead of the full bonus
        self.spl_reward = check_bool("spl_reward", self.given("spl_reward", spl_reward))
        # added to the reward of a step that ends in a pose (place and heading) the episode has
        # already been in: a blocked step, a full turn in place, a cycle (SoundSpaces: none)
        self.revisit_reward = check_number("revisit_reward", self.given("revisit_reward", revisit_reward), high=0.0)

    @classmethod
    def defaults(cls) -> dict[str, object]:
        """Every parameter the task takes, with its default: ``COMMON_PARAMETERS`` and its own
        ``PARAMETERS``."""
        return {**COMMON_PARAMETERS, **cls.PARAMETERS}

    @classmethod
    def unrecorded(cls) -> dict[str, object]:
        """The value of every parameter for a record that predates it: its default, or for a
        parameter whose default changed the task, the behaviour before it (``BEFORE``)."""
        return {**cls.defaults(), **cls.BEFORE}

    def given(self, name: str, value):
        """``value`` of the parameter ``name``, or its default (``defaults()``) when None: not
        given."""
        return self.defaults()[name] if value is None else value

    @property
    def num_distractors(self) -> int:
        return 0

    # ------------------------------------------------------------------ episodes
    def sample_goal(self, scene, graph, rng: np.random.Generator, distances: np.ndarray, lo: float, hi: float):
        candidates = np.flatnonzero((distances >= lo) & (distances < hi) & np.isfinite(distances))
        if len(candidates) == 0:
            return None
        return int(candidates[rng.integers(len(candidates))]), None

    def episode_extras(self, rng: np.random.Generator, sounds: list[str], sound: str, n_nodes: int) -> dict:
        return {}

    def check_episode(self, episode: Episode) -> None:
        pass

    # ------------------------------------------------------------------ running
    def observation_spaces(self) -> dict[str, spaces.Space]:
        if not self.uses_pointgoal:
            return {}
        # (distance m, angle rad in (-pi, pi]): distances are bounded by the scene, not here
        return {"pointgoal_with_gps_compass": spaces.Box(np.array([0.0, -np.pi], np.float32),
                                                         np.array([np.inf, np.pi], np.float32), (2,), np.float32)}

    def reset(self, sim: Simulator, episode: Episode, rng: np.random.Generator) -> None:
        if self.uses_audio:
            sim.add_source(episode.goal_node, episode.sound, episode.sound_seconds)

    def after_action(self, sim: Simulator, rng: np.random.Generator) -> None:
        pass

    def goal_nodes(self, sim: Simulator, episode: Episode) -> list[int]:
        return [episode.goal_node]

    def success(self, stopped: bool, distance: float, success_distance: float) -> bool:
        return bool(stopped and distance <= success_distance)

    def reward(self, previous_distance: float, distance: float, success: bool, stopped: bool = False,
               spl: float = 1.0, repeated: bool = False) -> float:
        """SoundSpaces: −0.01 per step, + the decrease of the geodesic distance, +10 on success;
        plus the task's ``failed_stop_reward`` (0 unless given) on a STOP away from the goal, and
        its ``revisit_reward`` (0 unless given) on a move or turn that ended in a pose the episode
        had already been in (``repeated``; a shortest path never repeats a pose). With
        ``spl_reward`` the success bonus is 10 × ``spl``, the episode's SPL (l / max(p, l)): a
        detour then costs reward in proportion to what it costs the metric."""
        bonus = SUCCESS_REWARD * (spl if self.spl_reward else 1.0)
        out = SLACK_REWARD + (previous_distance - distance) + (bonus if success else 0.0)
        if repeated and not stopped and self.revisit_reward:
            out += self.revisit_reward
        return out + (self.failed_stop_reward if stopped and not success else 0.0)

    def shortest_distance(self, episode: Episode, start_distance: float) -> float:
        return episode.geodesic_distance

    def observe(self, sim: Simulator, episode: Episode) -> dict:
        if not self.uses_pointgoal:
            return {}
        goal = sim.graph.positions[episode.goal_node]
        d = goal[:2] - sim.position[:2]
        angle = wrap_angle(np.arctan2(d[1], d[0]) - sim.heading)
        return {"pointgoal_with_gps_compass": np.array([np.linalg.norm(d), angle], np.float32)}

    def metrics(self, sim: Simulator, episode: Episode, success: bool) -> dict:
        return {}


__all__ = ["COMMON_PARAMETERS", "SLACK_REWARD", "SUCCESS_REWARD", "Task"]

"""The Task interface."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from ..episodes import Episode
from ..simulator import Simulator


class Task:
    """Hooks the environment calls, each with the simulator:

    - ``reset(sim, episode, rng)``: place the episode's sound sources;
    - ``after_action(sim, rng)``: the world's own motion after the agent acted (moving sources);
    - ``goal_nodes(sim, episode)``: nodes where STOP succeeds (within the success distance);
    - ``observe(sim, episode)``: the task's own observation keys;
    - ``metrics(sim, episode, success)``: extra end-of-episode metrics.
    """

    name = "task"
    uses_audio = True
    uses_pointgoal = False
    num_distractors = 0

    def observation_spaces(self) -> dict[str, spaces.Space]:
        return {"pointgoal_with_gps_compass": spaces.Box(-np.inf, np.inf, (2,), np.float32)} if self.uses_pointgoal else {}

    def reset(self, sim: Simulator, episode: Episode, rng: np.random.Generator) -> None:
        if self.uses_audio:
            sim.add_source(episode.goal_node, episode.sound, episode.sound_seconds)

    def after_action(self, sim: Simulator, rng: np.random.Generator) -> None:
        pass

    def goal_nodes(self, sim: Simulator, episode: Episode) -> list[int]:
        return [episode.goal_node]

    def observe(self, sim: Simulator, episode: Episode) -> dict:
        if not self.uses_pointgoal:
            return {}
        goal = sim.graph.positions[episode.goal_node]
        d = goal[:2] - sim.position[:2]
        angle = np.arctan2(d[1], d[0]) - sim.heading
        return {"pointgoal_with_gps_compass": np.array([np.linalg.norm(d), np.arctan2(np.sin(angle), np.cos(angle))], np.float32)}

    def metrics(self, sim: Simulator, episode: Episode, success: bool) -> dict:
        return {}

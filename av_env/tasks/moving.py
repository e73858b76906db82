from ...scenes.checks import check_int, check_number
from .. import metrics
from .base import Task


class MovingSourceTask(Task):
    """Dynamic AV-Nav style: after each action the goal source moves, with probability
    ``p_move`` (0.3), one node along a shortest path to a random destination (a new one on
    arrival); ``num_distractors`` (2) distractor sources play other sounds; success is stopping
    at the source's current position. Adds ``dspl``: SPL against the shortest path to the
    source's final node, in hindsight."""

    name = "moving_source"
    PARAMETERS = {"p_move": 0.3, "num_distractors": 2}

    def __init__(self, p_move: float | None = None, num_distractors: int | None = None, **common):
        super().__init__(**common)
        self.p_move = check_number("p_move", 0.3 if p_move is None else p_move, low=0.0, high=1.0)
        self._num_distractors = check_int("num_distractors", 2 if num_distractors is None else num_distractors, low=0, high=16)

    @property
    def num_distractors(self) -> int:
        return self._num_distractors

    def episode_extras(self, rng, sounds, sound, n_nodes):
        distractors = []
        pool = [s for s in sounds if s != sound] or sounds
        for _ in range(self.num_distractors):
            distractors.append([int(rng.integers(n_nodes)), pool[int(rng.integers(len(pool)))]])
        return {"distractors": distractors}

    def reset(self, sim, episode, rng):
        goal = sim.add_source(episode.goal_node, episode.sound)
        for node, sound in episode.distractors:
            sim.add_source(int(node), sound)
        goal.destination = int(rng.integers(len(sim.graph)))

    def after_action(self, sim, rng):
        src = sim.sources[0]
        if rng.random() >= self.p_move:
            return
        if src.destination is None or src.destination == src.node:
            src.destination = int(rng.integers(len(sim.graph)))
        path = sim.graph.shortest_path(src.node, src.destination)
        if len(path) > 1:
            src.node = int(path[1])

    def goal_nodes(self, sim, episode):
        return [sim.sources[0].node]

    def metrics(self, sim, episode, success):
        hindsight = float(sim.graph.distances_from(sim.sources[0].node)[episode.start_node])
        return {"dspl": metrics.spl(success, hindsight, sim.path_length)}

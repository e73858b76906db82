from .. import metrics
from .base import Task


class MovingSourceTask(Task):
    """Dynamic AV-Nav style: after each action the goal source moves, with probability
    ``p_move``, one node along a shortest path to a random destination (a new one on arrival);
    distractor sources play other sounds; success is stopping at the source's current position.
    Adds ``dspl``: SPL against the shortest path to the source's final node, in hindsight."""

    name = "moving_source"

    def __init__(self, p_move: float = 0.3, num_distractors: int = 2):
        if not 0.0 <= p_move <= 1.0:
            raise ValueError(f"p_move must be a probability in [0, 1], got {p_move}")
        self.p_move = float(p_move)
        self.num_distractors = int(num_distractors)

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

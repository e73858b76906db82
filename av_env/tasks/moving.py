from ...scenes.checks import check_choice, check_int, check_number
from .. import metrics
from .base import Task

DISTRACTOR_MODES = ("transient", "static")
P_DISTRACTOR = 0.5  # transient distractors: the probability that each sounds in a step (Dynamic AV-Nav)


class MovingSourceTask(Task):
    """Dynamic AV-Nav style: after each action the goal source moves, with probability
    ``p_move`` (0.3), one node along a shortest path to a random destination (a new one on
    arrival); ``num_distractors`` (2) distractor sources play other sounds; success is stopping
    at the source's current position. Adds ``dspl``: SPL against the shortest path to the
    source's final node, in hindsight.

    ``distractor_mode``: ``"transient"`` (the default, as Dynamic AV-Nav's code): in every step
    each distractor sounds with probability ``P_DISTRACTOR`` (1/2), from a node drawn anew (not
    the agent's or the goal's), so the goal is the one source that keeps sounding from where it
    was; the episode's distractor nodes are where they start. ``"static"``: each sounds all the
    time from its episode node. Then nothing tells the goal from a distractor but its walking
    (the agent is not told which sound is the goal's), and agents stop at distractors."""

    name = "moving_source"
    PARAMETERS = {"p_move": 0.3, "num_distractors": 2, "distractor_mode": "transient"}

    def __init__(self, p_move: float | None = None, num_distractors: int | None = None,
                 distractor_mode: str | None = None, **common):
        super().__init__(**common)
        self.p_move = check_number("p_move", self.given("p_move", p_move), low=0.0, high=1.0)
        self._num_distractors = check_int("num_distractors", self.given("num_distractors", num_distractors), low=0, high=16)
        self.distractor_mode = check_choice("distractor_mode", self.given("distractor_mode", distractor_mode), DISTRACTOR_MODES)

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
        if self.distractor_mode == "transient":
            for src in sim.sources[1:]:
                src.on = bool(rng.random() < P_DISTRACTOR)

    def after_action(self, sim, rng):
        self._walk(sim, rng)
        if self.distractor_mode == "transient":
            self._scatter(sim, rng)

    def _walk(self, sim, rng):
        src = sim.sources[0]
        if rng.random() >= self.p_move:
            return
        if src.destination is None or src.destination == src.node:
            src.destination = int(rng.integers(len(sim.graph)))
        path = sim.graph.shortest_path(src.node, src.destination)
        if len(path) > 1:
            src.node = int(path[1])

    @staticmethod
    def _scatter(sim, rng):
        """Each distractor sounds this step with probability ``P_DISTRACTOR``, from a new node."""
        n = len(sim.graph)
        taken = {sim.node, sim.sources[0].node}
        for src in sim.sources[1:]:
            src.on = bool(rng.random() < P_DISTRACTOR)
            node = int(rng.integers(n))
            while node in taken and n > len(taken):
                node = int(rng.integers(n))
            src.node = node

    def goal_nodes(self, sim, episode):
        return [sim.sources[0].node]

    def metrics(self, sim, episode, success):
        hindsight = float(sim.graph.distances_from(sim.sources[0].node)[episode.start_node])
        return {"dspl": metrics.spl(success, hindsight, sim.path_length)}

"""SoundSpaces navigation metrics, per episode (average them over episodes for SR, SPL, ...).

- success S: the agent called STOP within the success distance of the goal.
- SPL = S · l / max(p, l), l the geodesic start→goal distance, p the length of the path taken.
- SoftSPL = (1 − d_T / d_0) clipped to [0, 1], times l / max(p, l).
- SNA = S · a* / max(a, a*), a* the number of actions of the oracle, a the actions taken.
- DTG: geodesic distance to the goal at the end; NDTG = DTG / d_0.
- DSPL (moving source): SPL against the shortest path to the source's final position, computed
  in hindsight from the start.
"""

from __future__ import annotations


def spl(success: bool, shortest: float, taken: float) -> float:
    if shortest <= 0:
        return float(success)
    return float(success) * shortest / max(taken, shortest)


def softspl(final_distance: float, start_distance: float, shortest: float, taken: float) -> float:
    progress = 1.0 if start_distance <= 0 else min(max(1.0 - final_distance / start_distance, 0.0), 1.0)
    if shortest <= 0:
        return progress
    return progress * shortest / max(taken, shortest)


def sna(success: bool, oracle_actions: int, actions: int) -> float:
    if oracle_actions <= 0:
        return float(success)
    return float(success) * oracle_actions / max(actions, oracle_actions)


def normalized_distance_to_goal(final_distance: float, start_distance: float) -> float:
    return 0.0 if start_distance <= 0 else final_distance / start_distance

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


# ---------------------------------------------------------------------------------- depth
DEPTH_METRICS = ("rmse", "rel", "log10", "mae", "delta1", "delta2", "delta3")


class DepthMetrics:
    """Depth-estimation metrics over every valid pixel (ground truth > 0) of all the maps given to
    ``update``, pooled (each pixel counts once; VisualEchoes / Beyond Image to Depth report these):

    - rmse = sqrt(mean((p − g)²)), mae = mean(|p − g|), metres;
    - rel = mean(|p − g| / g); log10 = mean(|log10 p − log10 g|);
    - delta_k = share of pixels with max(p / g, g / p) < 1.25^k, k = 1, 2, 3.

    Predictions are clipped to [min_depth, max_depth] first (a log of 0 is undefined)."""

    def __init__(self, min_depth: float = 1e-3, max_depth: float = 10.0):
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)
        self._sums = dict.fromkeys(("sq", "abs", "rel", "log10", "d1", "d2", "d3"), 0.0)
        self.pixels = 0

    def update(self, pred, gt) -> None:
        import numpy as np

        p = np.asarray(pred, np.float64)
        g = np.asarray(gt, np.float64)
        if p.shape != g.shape:
            raise ValueError(f"prediction and ground truth must have the same shape, got {p.shape} and {g.shape}")
        if not np.isfinite(p).all():
            raise ValueError("the predicted depth holds NaN or inf")
        valid = np.isfinite(g) & (g > 0)
        p = np.clip(p[valid], self.min_depth, self.max_depth)
        g = g[valid]
        err = p - g
        ratio = np.maximum(p / g, g / p)
        s = self._sums
        s["sq"] += float(np.sum(err * err))
        s["abs"] += float(np.sum(np.abs(err)))
        s["rel"] += float(np.sum(np.abs(err) / g))
        s["log10"] += float(np.sum(np.abs(np.log10(p) - np.log10(g))))
        for k in (1, 2, 3):
            s[f"d{k}"] += float(np.sum(ratio < 1.25 ** k))
        self.pixels += int(valid.sum())

    def compute(self) -> dict[str, float]:
        if self.pixels == 0:
            raise ValueError("no valid ground-truth pixels (depth > 0) were given")
        n, s = self.pixels, self._sums
        return {"rmse": (s["sq"] / n) ** 0.5, "rel": s["rel"] / n, "log10": s["log10"] / n, "mae": s["abs"] / n,
                "delta1": s["d1"] / n, "delta2": s["d2"] / n, "delta3": s["d3"] / n, "pixels": n}


def depth_metrics(pred, gt, min_depth: float = 1e-3, max_depth: float = 10.0) -> dict[str, float]:
    """``DepthMetrics`` of one batch of maps (any shape, prediction and ground truth alike)."""
    m = DepthMetrics(min_depth, max_depth)
    m.update(pred, gt)
    return m.compute()

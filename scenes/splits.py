"""Disjoint seed ranges of procedural apartments for training, validation and held-out testing.

| split | seeds                    | apartments |
|-------|--------------------------|------------|
| train | 0 … 9,999                | 10,000     |
| val   | 1,000,000 … 1,000,099    | 100        |
| test  | 2,000,000 … 2,000,099    | 100        |

``test`` is the held-out set: no train or val seed ever produces one of its apartments.
"""

from __future__ import annotations

SPLITS: dict[str, range] = {
    "train": range(0, 10_000),
    "val": range(1_000_000, 1_000_100),
    "test": range(2_000_000, 2_000_100),
}


def split_seeds(split: str) -> range:
    """The procedural apartment seeds of ``split`` ("train", "val" or "test")."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return SPLITS[split]


def split_of(seed: int) -> str | None:
    """The split a procedural seed belongs to, or None if it lies outside all of them."""
    for name, seeds in SPLITS.items():
        if seed in seeds:
            return name
    return None

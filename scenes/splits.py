"""Disjoint seed ranges of procedural apartments for training, validation and held-out testing.

| split | seeds                    | apartments |
|-------|--------------------------|------------|
| train | 0 … 9,999                | 10,000     |
| val   | 1,000,000 … 1,000,099    | 100        |
| test  | 2,000,000 … 2,000,099    | 100        |
| extra | 3,000,000 … 3,099,999    | 100,000    |

``test`` is the held-out set: no train or val seed ever produces one of its apartments.
``extra`` is held out the same way and is never used to train or choose anything: more unseen
apartments than test's 100, to measure how an agent generalises beyond them (evaluate one
block of 100 at a time with ``scripts/evaluate.py --split extra --first-scene K``). Val and
test are each one draw of 100 apartments, and two such draws can differ by more than an
evaluation's confidence interval suggests (docs/agents.md, "Val against test").
"""

from __future__ import annotations

SEED_SALT = 0xEA5  # mixed into every seeded generator of earshot (apartments, tail noise)

SPLITS: dict[str, range] = {
    "train": range(0, 10_000),
    "val": range(1_000_000, 1_000_100),
    "test": range(2_000_000, 2_000_100),
    "extra": range(3_000_000, 3_100_000),
}


def split_seeds(split: str) -> range:
    """The procedural apartment seeds of ``split`` ("train", "val", "test" or "extra")."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return SPLITS[split]


def split_of(seed: int) -> str | None:
    """The split a procedural seed belongs to, or None if it lies outside all of them."""
    for name, seeds in SPLITS.items():
        if seed in seeds:
            return name
    return None


def load_split_file(path) -> dict[str, list[str]]:
    """User meshes assigned to splits by a JSON file ``{"train": [...], "val": [...], "test": [...]}``
    of mesh paths (relative paths are taken from the file's folder). The lists must not overlap.
    """
    import json
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"split file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"split file {str(path)!r} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or set(data) - set(SPLITS):
        raise ValueError(f"split file {str(path)!r} must map some of {list(SPLITS)} to lists of mesh paths")
    out = {}
    for name, files in data.items():
        out[name] = [str(p if Path(p).is_absolute() else (path.parent / p).resolve()) for p in files]
    seen: dict[str, str] = {}
    for name, files in out.items():
        for f in files:
            if f in seen and seen[f] != name:
                raise ValueError(f"split file {str(path)!r} puts {f!r} in both {seen[f]!r} and {name!r}")
            seen[f] = name
    return out

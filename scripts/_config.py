"""Tiny helper shared by the scripts: a dataclass of options, overridable from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path


def parse_config(cls, description: str, argv=None):
    """Build ``cls`` (a dataclass) from defaults overridden by ``--field value`` arguments."""
    parser = argparse.ArgumentParser(description=description)
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        kind = type(default)
        if kind is bool:
            parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=default,
                                action=argparse.BooleanOptionalAction, help=f"(default: {default})")
        else:
            parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=default,
                                type=kind if kind in (int, float, str) else str, help=f"(default: {default})")
    return cls(**vars(parser.parse_args(argv)))


def save_config(config, directory: Path) -> Path:
    """Write the resolved config as JSON next to a run's outputs."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
    return path

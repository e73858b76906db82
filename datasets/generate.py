"""Synthetic binaural datasets: the resumable generation job.

A dataset is fixed by its ``DatasetSpec`` (``datasets.spec``); shard ``i`` is made from a
generator seeded by (seed, i) alone (``datasets.samples``), so any process, in any order, on
any number of workers or Ray nodes (``earshot.jobs``), writes the same bytes for it. A run records
each finished shard (its SHA-256, size and sample count) in ``manifest.json``
(``datasets.manifest``); a rerun verifies the recorded shards, keeps those that match and makes
the rest again. Shards and the manifest are written to a temporary name and renamed
(``earshot.files``), so a run killed at any moment leaves only whole files behind.
"""

from __future__ import annotations

import fcntl
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..files import write_bytes_atomic
from ..jobs import progress_bar, run_tasks
from ..scenes.checks import check_choice, check_int
from . import shards as tarshards
from .manifest import (MANIFEST, check_shard, differences, manifest_path, new_manifest, read_manifest, verify,
                       write_manifest)
from .samples import _scene, build_shard, materials_summary  # noqa: F401 - _scene: the name tests used
from .spec import ECHO_FIELDS, FIELDS, POSE_FIELDS, DatasetSpec


class _Lock:
    """An exclusive lock on the dataset folder, so that two runs never write it at once."""

    def __init__(self, out: Path):
        self.path = out / ".lock"

    def __enter__(self):
        self.f = open(self.path, "a+")
        try:
            fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.f.close()
            raise RuntimeError(f"another run is writing {str(self.path.parent)!r}; wait for it to finish "
                               "or choose another --out") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


# ---------------------------------------------------------------------------------- the job
@dataclass
class Progress:
    """What a run did (kept by the caller, so it can be read after an interruption)."""

    shards_total: int = 0
    shards_done: int = 0  # recorded in the manifest, earlier runs included
    samples_done: int = 0
    samples_made: int = 0  # by this run
    kept: int = 0  # shards of earlier runs verified and kept
    redone: list = field(default_factory=list)  # shards of earlier runs that failed verification
    extended_from: int = 0  # the samples of the dataset this run extends (0: none)
    seconds: float = 0.0


def _entry(spec: DatasetSpec, index: int, info: dict, digest: str, size: int, offsets: list[int]) -> dict:
    """The manifest entry of a written shard."""
    return dict(info, index=index, name=spec.shard_name(index), sha256=digest, bytes=size, offsets=offsets,
                first_sample=spec.shard_range(index)[0])


def _local_task(spec_dict: dict, index: int, out: str, rir_cache: str | None) -> dict:
    spec = DatasetSpec.from_dict(spec_dict)
    info: dict = {}

    def build(writer):
        info.update(build_shard(spec, index, writer, rir_cache))

    digest, size, offsets = tarshards.write_atomic(Path(out) / spec.shard_name(index), build)
    return _entry(spec, index, info, digest, size, offsets)


def _ray_task(spec_dict: dict, index: int, rir_cache: str | None) -> tuple[bytes, dict]:
    spec = DatasetSpec.from_dict(spec_dict)
    buf = io.BytesIO()
    writer = tarshards.ShardWriter(buf)
    info = build_shard(spec, index, writer, rir_cache)
    digest = writer.close()
    data = buf.getvalue()
    return data, _entry(spec, index, info, digest, len(data), writer.offsets)


def _ray_result(out: Path, result: tuple[bytes, dict]) -> dict:
    """Write the shard bytes a Ray task sent back; its manifest entry."""
    data, entry = result
    write_bytes_atomic(out / entry["name"], data)
    return entry


def generate(spec: DatasetSpec, out, workers: int = 1, backend: str = "local", rir_cache: str | None = None,
             progress: Progress | None = None, bar: bool = True) -> Progress:
    """Write the dataset of ``spec`` into folder ``out``, or finish one a killed run left there.

    Shards the manifest records are verified (size and SHA-256) and kept; the others, and any
    that fail, are made (again). ``backend="ray"`` runs shards as Ray tasks (``ray.init()`` is
    called if Ray is not initialised: set RAY_ADDRESS to join a cluster); their bytes come back
    to this process, which writes them. ``bar`` shows a progress bar (samples/s); pass a
    ``Progress`` to read the counts after a Ctrl-C. Returns the run's ``Progress``."""
    check_choice("backend", backend, ("local", "ray"))
    check_int("workers", workers, low=1, high=1024)
    if not isinstance(spec, DatasetSpec):
        raise ValueError(f"spec must be a DatasetSpec, got {type(spec).__name__}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out {str(out)!r} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    state = progress if progress is not None else Progress()
    state.shards_total = spec.shards
    with _Lock(out):
        for stale in out.glob(".shard-*.tmp"):
            stale.unlink(missing_ok=True)  # a killed run's unfinished shard
        manifest = _resume(out, spec, state)
        done = {s["index"] for s in manifest["shards"]}
        write_manifest(out, manifest)
        todo = [i for i in range(spec.shards) if i not in done]
        state.shards_done = len(done)
        state.samples_done = sum(s["samples"] for s in manifest["shards"])
        shown = progress_bar(spec.samples, initial=state.samples_done, desc="samples", unit="sample", enabled=bar,
                             smoothing=0.1, dynamic_ncols=True)
        t0 = time.perf_counter()

        def finished(entry: dict) -> None:
            entry = {k: entry[k] for k in ("index", "name", "scene", "scene_hash", "first_sample", "samples", "bytes", "sha256",
                                           "offsets")}
            manifest["shards"].append(entry)
            write_manifest(out, manifest)
            state.shards_done += 1
            state.samples_done += entry["samples"]
            state.samples_made += entry["samples"]
            state.seconds = time.perf_counter() - t0
            shown.update(entry["samples"])

        spec_dict = spec.to_dict()
        try:
            if backend == "ray":  # the bytes come back here, and this process writes them
                run_tasks(_ray_task, [(spec_dict, i, rir_cache) for i in todo],
                          lambda result: finished(_ray_result(out, result)), backend="ray")
            else:
                run_tasks(_local_task, [(spec_dict, i, str(out), rir_cache) for i in todo], finished, workers=workers,
                          backend="process", one_thread=True)
        finally:
            state.seconds = time.perf_counter() - t0
            shown.close()
    return state


def _resume(out: Path, spec: DatasetSpec, state: Progress) -> dict:
    """A new manifest for ``spec`` holding the shards of an earlier run in ``out`` that verify
    (counted in ``state.kept``; the others listed in ``state.redone``). ValueError when that run
    had other options or audio settings.

    An earlier run with the same options but fewer ``samples`` is extended: shard ``i`` depends
    on (spec, i) alone, so its full shards are kept as they are (byte for byte) and only the
    rest is made, its last, partial shard included (``state.extended_from``). Fewer samples than
    before is refused (it would drop shards)."""
    manifest = new_manifest(spec)
    if not manifest_path(out).exists():
        return manifest
    old = read_manifest(out)
    old_config = old.get("config")
    extending = (isinstance(old_config, dict) and isinstance(old_config.get("samples"), int)
                 and old_config["samples"] != spec.samples and {**old_config, "samples": spec.samples} == manifest["config"])
    if extending:
        if spec.samples < old_config["samples"]:
            raise ValueError(f"{str(out)!r} holds a dataset of {old_config['samples']} samples; --samples {spec.samples} "
                             f"would drop some of them: pass --samples {old_config['samples']} or more (more extends "
                             "it), or choose a new --out")
        state.extended_from = old_config["samples"]
        old = {**old, "config": manifest["config"]}
    for part in ("config", "audio_config"):
        if old.get(part) != manifest[part]:
            diff = "; ".join(differences(old.get(part, {}), manifest[part]))
            what = "options" if part == "config" else "audio settings (an earshot upgrade changed AudioConfig)"
            raise ValueError(f"{str(out)!r} holds a dataset made with other {what} ({diff}): rerun with the "
                             "same options to resume it, or choose a new --out")
    for entry in old.get("shards", []):
        index = entry.get("index")
        if extending and not (isinstance(index, int) and 0 <= index < spec.shards and spec.shard_range(index)
                              == (entry.get("first_sample"), entry.get("samples"))):
            continue  # the earlier last shard, now holding more samples: made again
        problem = check_shard(out, entry, spec)
        if problem is None:
            manifest["shards"].append(entry)
            state.kept += 1
        else:
            state.redone.append(f"{entry.get('name')}: {problem}")
    return manifest


# names older code imports from here
_manifest_path, _check_shard = manifest_path, check_shard

__all__ = ["ECHO_FIELDS", "FIELDS", "MANIFEST", "POSE_FIELDS", "DatasetSpec", "Progress", "build_shard", "generate",
           "materials_summary", "read_manifest", "verify"]

"""A dataset folder's ``manifest.json``: the spec and audio settings that made it, its schema,
and per finished shard its scene, sample range, size, SHA-256 and sample offsets; reading it,
writing it (atomically) and verifying the shards against it.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..files import write_bytes_atomic
from . import shards as tarshards
from .spec import DatasetSpec

FORMAT = "earshot-binaural-dataset"
VERSION = 1
MANIFEST = "manifest.json"


def manifest_path(out: Path) -> Path:
    return Path(out) / MANIFEST


def read_manifest(out) -> dict:
    """The manifest of dataset folder ``out`` (ValueError naming the problem when unreadable)."""
    import os

    if not isinstance(out, (str, os.PathLike)) or not str(out):
        raise ValueError(f"a dataset must be given as its folder's path, got {out!r}")
    path = manifest_path(Path(out))
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist: {str(out)!r} is not an earshot dataset folder "
                                "(make one with scripts/generate_dataset.py)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is not readable JSON ({exc}); regenerate the dataset") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not an earshot dataset manifest")
    if manifest.get("version") != VERSION:
        raise ValueError(f"{str(path)!r} has dataset format version {manifest.get('version')!r}; this earshot reads "
                         f"version {VERSION}: regenerate it with this version")
    problem = manifest_problem(manifest)
    if problem is not None:
        raise ValueError(f"{str(path)!r} is malformed: {problem}; regenerate the dataset (or restore the manifest the "
                         "generation wrote)")
    return manifest


def _is_int(x, low: int = 0) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= low


def manifest_problem(manifest: dict) -> str | None:
    """What is wrong with the fields of a manifest that reading and resuming rely on (their
    types, ranges and consistency: shards within the sample count, in order, not overlapping,
    offsets rising within the shard's bytes), or None. Shard names are checked as paths by
    ``shard_path``."""
    import re

    for key in ("config", "audio_config", "schema"):
        if not isinstance(manifest.get(key), dict):
            return f"{key!r} must be an object, got {manifest.get(key)!r}"
    for suffix, entry in manifest["schema"].items():
        if not (isinstance(suffix, str) and suffix.endswith(".npy") and len(suffix) > 4 and isinstance(entry, dict)
                and isinstance(entry.get("dtype"), str) and isinstance(entry.get("shape"), list)
                and all(_is_int(n) for n in entry["shape"])):
            return f"'schema' must map '<field>.npy' to {{'dtype', 'shape'}}, got {suffix!r}: {entry!r}"
    if not _is_int(manifest.get("samples"), 1):
        return f"'samples' must be an integer >= 1, got {manifest.get('samples')!r}"
    if not _is_int(manifest.get("shard_count"), 1):
        return f"'shard_count' must be an integer >= 1, got {manifest.get('shard_count')!r}"
    if not isinstance(manifest.get("complete"), bool):
        return f"'complete' must be true or false, got {manifest.get('complete')!r}"
    shards = manifest.get("shards")
    if not isinstance(shards, list):
        return f"'shards' must be a list of shard entries, got {shards!r}"
    ranges = []
    for i, e in enumerate(shards):
        where = f"'shards'[{i}]"
        if not isinstance(e, dict):
            return f"{where} (a shard entry) must be an object, got {e!r}"
        if not _is_int(e.get("index")) or e["index"] >= manifest["shard_count"]:
            return f"{where}['index'] must be an integer in 0..{manifest['shard_count'] - 1}, got {e.get('index')!r}"
        for key, low in (("first_sample", 0), ("samples", 1), ("bytes", 0)):
            if not _is_int(e.get(key), low):
                return f"{where}[{key!r}] must be an integer >= {low}, got {e.get(key)!r}"
        if e["first_sample"] + e["samples"] > manifest["samples"]:
            return (f"{where}['first_sample'] {e['first_sample']} + its {e['samples']} samples go past the dataset's "
                    f"{manifest['samples']} samples")
        if not isinstance(e.get("sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", e["sha256"]):
            return f"{where}['sha256'] must be 64 hex digits, got {e.get('sha256')!r}"
        off = e.get("offsets")
        if not (isinstance(off, list) and len(off) == e["samples"] + 1 and all(_is_int(o) for o in off)
                and all(a < b for a, b in zip(off, off[1:])) and off[-1] <= e["bytes"]):
            return (f"{where}['offsets'] must be {e['samples'] + 1} rising integer byte offsets within its "
                    f"{e['bytes']} bytes, got {off!r}")
        ranges.append((e["first_sample"], e["first_sample"] + e["samples"], e["index"], i))
    indices = [r[2] for r in ranges]
    if len(set(indices)) != len(indices):
        return f"two shard entries have the same 'index' ({sorted(indices)})"
    ranges.sort()
    for (_, end, _, i), (start, _, _, j) in zip(ranges, ranges[1:]):
        if start < end:
            return f"'shards'[{j}]['first_sample'] {start} overlaps the samples of 'shards'[{i}] (up to {end - 1})"
    return None


def new_manifest(spec: DatasetSpec) -> dict:
    from .. import __version__

    return {"format": FORMAT, "version": VERSION, "earshot": __version__, "config": spec.to_dict(),
            "audio_config": spec.audio_config().to_dict(), "sounds": list(spec.sounds),
            "schema": spec.schema(), "samples": spec.samples, "shard_count": spec.shards,
            "complete": False, "shards": []}


def write_manifest(out: Path, manifest: dict) -> None:
    manifest["shards"].sort(key=lambda s: s["index"])
    done = sum(s["samples"] for s in manifest["shards"])
    manifest["complete"] = len(manifest["shards"]) == manifest["shard_count"] and done == manifest["samples"]
    write_bytes_atomic(manifest_path(out), (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())


def differences(a: dict, b: dict) -> list[str]:
    return [f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def shard_path(out, name) -> Path:
    """The file of shard ``name`` inside dataset folder ``out``. A manifest comes with a dataset
    that may have been downloaded, so a shard name must be a plain file name inside the folder:
    a string without path separators, not ``.``/``..``, not absolute, and not a link that
    resolves outside the folder; anything else is one ValueError naming it."""
    import os

    out = Path(out)
    if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name
            or "\x00" in name or os.path.isabs(name)):
        raise ValueError(f"dataset {str(out)!r}: the manifest names a shard {name!r}, which is not a plain file name "
                         "inside the dataset folder; the manifest is malformed or was tampered with: regenerate the dataset")
    path = out / name
    root = os.path.realpath(out)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise ValueError(f"dataset {str(out)!r}: shard {name!r} is a link to {os.path.realpath(path)!r}, outside the "
                         "dataset folder; a dataset's shards must be files inside it: regenerate the dataset")
    return path


def check_shard(out: Path, entry: dict, spec: DatasetSpec | None = None, deep: bool = False) -> str | None:
    """None if the shard ``entry`` of a manifest is whole, else what is wrong with it."""
    try:
        size, digest, samples = int(entry["bytes"]), str(entry["sha256"]), int(entry["samples"])
    except (KeyError, TypeError, ValueError):
        return "its manifest entry is malformed"
    try:
        path = shard_path(out, entry.get("name"))
    except ValueError as exc:
        return str(exc)
    if not path.is_file():
        return "missing"
    if path.stat().st_size != size:
        return f"size {path.stat().st_size} bytes, the manifest says {size}"
    if tarshards.sha256_file(path) != digest:
        return "checksum mismatch (the file is corrupted or was changed)"
    if deep:
        try:
            members = tarshards.index(path)
        except ValueError as exc:
            return str(exc)
        if len(members) != samples:
            return f"holds {len(members)} samples, the manifest says {samples}"
        starts = [min(off for off, _ in m.values()) - 512 for m in members.values()]
        if starts != list(entry.get("offsets", starts + [None]))[:-1]:
            return "its samples do not start where the manifest's offsets say"
        if spec is not None:
            expected = set(spec.schema()) | {"json"}
            for key, suffixes in members.items():
                if set(suffixes) != expected:
                    return f"sample {key} has members {sorted(suffixes)}, expected {sorted(expected)}"
    return None


def verify(out) -> list[str]:
    """Every problem of dataset folder ``out`` against its manifest (empty when it is whole):
    missing, resized, corrupted or unlisted shards, wrong sample counts, an incomplete run."""
    out = Path(out)
    try:
        manifest = read_manifest(out)
        spec = DatasetSpec.from_dict(manifest["config"])
    except (FileNotFoundError, ValueError, KeyError, TypeError) as exc:
        return [str(exc)]
    problems = []
    listed = set()
    for entry in manifest.get("shards", []):
        listed.add(entry.get("name"))
        problem = check_shard(out, entry, spec, deep=True)
        if problem is not None:
            problems.append(f"{entry.get('name')}: {problem}")
    for path in sorted(out.glob("shard-*.tar")):
        if path.name not in listed:
            problems.append(f"{path.name}: not in the manifest (left by an interrupted run; rerun the generation to finish)")
    recorded = sum(int(s.get("samples", 0)) for s in manifest.get("shards", []))
    if not manifest.get("complete") or recorded != manifest.get("samples"):
        problems.append(f"incomplete: {len(manifest.get('shards', []))} of {manifest.get('shard_count')} shards, "
                        f"{recorded} of {manifest.get('samples')} samples (rerun the same command to finish it)")
    return problems


__all__ = ["FORMAT", "MANIFEST", "VERSION", "check_shard", "manifest_problem", "shard_path", "differences", "manifest_path", "new_manifest", "read_manifest",
           "verify", "write_manifest"]

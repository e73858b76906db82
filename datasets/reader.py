"""Reading earshot datasets: a map-style ``BinauralDataset`` and a streaming ``BinauralShards``,
both usable with ``torch.utils.data.DataLoader`` (and without PyTorch, as plain Python
sequences/iterables of numpy arrays).

A sample is a dict of numpy arrays named as in the manifest's ``schema`` (``rir``, ``audio``,
``spectrogram``, ``receiver_position``, ...) plus ``"__key__"`` (its 9-digit index); ``"json"``
(the metadata as a JSON string, which collates into a list of strings) when asked for.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import shards as tarshards
from .manifest import check_shard, read_manifest, shard_path

try:  # PyTorch is optional: the classes subclass its datasets when it is there
    from torch.utils.data import Dataset as _Dataset
    from torch.utils.data import IterableDataset as _IterableDataset
except ImportError:  # pragma: no cover - exercised without torch
    _Dataset = _IterableDataset = object


def _open_manifest(root, allow_incomplete: bool) -> dict:
    manifest = read_manifest(root)
    if not manifest.get("complete") and not allow_incomplete:
        raise ValueError(f"dataset {str(root)!r} is incomplete ({len(manifest.get('shards', []))} of "
                         f"{manifest.get('shard_count')} shards): rerun its generation command to finish it, "
                         "or pass allow_incomplete=True to read the finished shards")
    for entry in manifest.get("shards", []):
        if not isinstance(entry, dict):
            raise ValueError(f"dataset {str(root)!r}: a manifest shard entry is {entry!r}, not an object (malformed "
                             "manifest); regenerate the dataset")
        shard_path(root, entry.get("name"))  # a plain file inside the folder, or one clear error
        offsets = entry.get("offsets") if isinstance(entry, dict) else None
        if not isinstance(offsets, list) or len(offsets) != int(entry.get("samples", -1)) + 1:
            raise ValueError(f"dataset {str(root)!r}: the manifest's entry for {entry.get('name') if isinstance(entry, dict) else entry!r} "
                             "lacks its sample offsets (malformed manifest); regenerate the dataset")
    return manifest


def _resolve_fields(manifest: dict, fields) -> list[str]:
    available = [s[: -len(".npy")] for s in manifest["schema"]]
    if fields is None:
        return available
    fields = [fields] if isinstance(fields, str) else list(fields)
    unknown = [f for f in fields if f not in available and f != "json"]
    if unknown:
        raise ValueError(f"fields {unknown} are not in this dataset; it has {', '.join(available)} (and json)")
    return fields


class _Shards:
    """Per-process access to a dataset's shard files: one open file per shard (reopened after a
    fork, so DataLoader workers never share a handle). A sample is found from the manifest's
    per-shard sample offsets and read in one pass over its members' headers."""

    def __init__(self, root: Path, manifest: dict, fields: list[str], verify: bool = True):
        self.root, self.manifest, self.fields, self.verify = root, manifest, fields, bool(verify)
        self.entries = sorted(manifest["shards"], key=lambda s: s["index"])
        self._wanted = {"json" if f == "json" else f"{f}.npy" for f in fields}
        self._files: dict[int, object] = {}
        self._pid = None

    def keys(self, s: int) -> list[str]:
        first = int(self.entries[s]["first_sample"])
        return [f"{first + j:09d}" for j in range(int(self.entries[s]["samples"]))]

    def _file(self, s: int):
        import os

        if self._pid != os.getpid():
            self._files, self._pid = {}, os.getpid()
        if s not in self._files:
            entry = self.entries[s]
            if self.verify:  # size and SHA-256 against the manifest, once per shard and process
                problem = check_shard(self.root, entry)
                if problem is not None:
                    raise ValueError(f"dataset {str(self.root)!r}: {entry.get('name')}: {problem}; rerun the command that "
                                     "made the dataset (it remakes shards that fail verification), or check it with "
                                     "scripts/generate_dataset.py --verify (verify=False reads it unchecked)")
            self._files[s] = open(shard_path(self.root, entry["name"]), "rb")
        return self._files[s]

    def members(self, s: int, key: str, wanted) -> dict[str, bytes]:
        entry = self.entries[s]
        j = int(key) - int(entry["first_sample"])
        offsets = entry["offsets"]
        if not 0 <= j < len(offsets) - 1:
            raise KeyError(f"sample {key} is not in {entry['name']}")
        try:
            return tarshards.read_sample(self._file(s), offsets[j], offsets[j + 1], wanted)
        except ValueError as exc:
            raise ValueError(f"{entry['name']}, sample {key}: {exc}; check the dataset with "
                             "scripts/generate_dataset.py --verify") from exc

    def read(self, s: int, key: str) -> dict:
        members = self.members(s, key, self._wanted)
        out: dict = {"__key__": key}
        for name in self.fields:
            suffix = "json" if name == "json" else f"{name}.npy"
            if suffix not in members:
                raise ValueError(f"{self.entries[s]['name']}: sample {key} has no {suffix}")
            out[name] = members[suffix].decode() if name == "json" else tarshards.load_npy(members[suffix])
        return out

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}

    def __getstate__(self):  # open files stay behind when a DataLoader sends this to its workers
        state = dict(self.__dict__)
        state["_files"], state["_pid"] = {}, None
        return state


class BinauralDataset(_Dataset):
    """Map-style dataset over every sample of an earshot dataset folder, in index order.

    Args:
        root: the folder holding ``manifest.json`` and the shards.
        fields: arrays to load (default: all in the manifest's schema); add ``"json"`` for the
            metadata string.
        verify: check each shard's size and SHA-256 against the manifest the first time this
            process opens it (default; one clear error naming a corrupted, truncated or swapped
            shard); False reads unchecked. ``datasets.verify(root)`` checks everything at once.
        allow_incomplete: read the finished shards of an unfinished run instead of refusing.
    """

    def __init__(self, root, fields=None, verify: bool = True, allow_incomplete: bool = False):
        self.root = Path(root)
        self.manifest = _open_manifest(self.root, allow_incomplete)
        self.fields = _resolve_fields(self.manifest, fields)
        self._shards = _Shards(self.root, self.manifest, self.fields, verify)
        counts = [int(e["samples"]) for e in self._shards.entries]
        self._starts = np.cumsum([0] + counts)
        self._first = [int(e["first_sample"]) for e in self._shards.entries]

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _locate(self, i: int) -> tuple[int, str]:
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"index must be an integer, got {type(i).__name__}")
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} samples")
        i = int(i) % n
        s = int(np.searchsorted(self._starts, i, side="right") - 1)
        return s, f"{self._first[s] + i - int(self._starts[s]):09d}"

    def __getitem__(self, i) -> dict:
        return self._shards.read(*self._locate(i))

    def meta(self, i) -> dict:
        """The metadata of sample ``i`` (scene, poses, sounds, materials), parsed."""
        s, key = self._locate(i)
        return json.loads(self._shards.members(s, key, {"json"})["json"])

    def close(self) -> None:
        self._shards.close()


class BinauralShards(_IterableDataset):
    """Streaming dataset: each DataLoader worker reads whole shards of its own (shard k goes to
    worker k mod workers), sequentially, optionally in a shuffled order (shards, and samples
    within a shard), reshuffled each epoch by ``set_epoch``. ``verify`` as ``BinauralDataset``'s:
    each shard's size and SHA-256 are checked when a process first opens it."""

    def __init__(self, root, fields=None, shuffle: bool = False, seed: int = 0, allow_incomplete: bool = False,
                 verify: bool = True):
        self.root = Path(root)
        self.manifest = _open_manifest(self.root, allow_incomplete)
        self.fields = _resolve_fields(self.manifest, fields)
        self.shuffle, self.seed, self.epoch = bool(shuffle), int(seed), 0
        self._shards = _Shards(self.root, self.manifest, self.fields, verify)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return sum(int(e["samples"]) for e in self._shards.entries)

    def __iter__(self):
        worker, workers = 0, 1
        try:
            from torch.utils.data import get_worker_info

            info = get_worker_info()
            if info is not None:
                worker, workers = info.id, info.num_workers
        except ImportError:
            pass
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self._shards.entries)) if self.shuffle else np.arange(len(self._shards.entries))
        for s in order[worker::workers]:
            keys = self._shards.keys(int(s))
            if self.shuffle:
                keys = [keys[k] for k in np.random.default_rng([self.seed, self.epoch, int(s)]).permutation(len(keys))]
            for key in keys:
                yield self._shards.read(int(s), key)

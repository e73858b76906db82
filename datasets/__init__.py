"""earshot.datasets — synthetic binaural datasets: generation (sharded, resumable, deterministic,
local processes or Ray) and reading (PyTorch ``Dataset``/``IterableDataset``).

``generate(DatasetSpec(...), out)`` writes WebDataset-layout tar shards and ``manifest.json``;
``verify(out)`` lists what is wrong with them; ``BinauralDataset(out)`` reads samples by index,
``BinauralShards(out)`` streams them. The command line is ``scripts/generate_dataset.py``; the
schema is described in ``docs/datasets.md``.
"""

from .generate import Progress, generate
from .manifest import read_manifest, verify
from .samples import build_shard
from .spec import FIELDS, POSE_FIELDS, DatasetSpec
from .reader import BinauralDataset, BinauralShards

__all__ = ["FIELDS", "POSE_FIELDS", "BinauralDataset", "BinauralShards", "DatasetSpec", "Progress", "build_shard",
           "generate", "read_manifest", "verify"]

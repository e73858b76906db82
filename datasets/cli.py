"""The command line of dataset generation (``scripts/generate_dataset.py``): its options and
what it prints. ``main(argv)`` returns the exit status."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..acoustics.config import SUPPORTED_SAMPLE_RATES
from ..cli import parser_for
from ..scenes.splits import SPLITS
from .generate import Progress, generate
from .manifest import read_manifest, verify
from .spec import ECHO_FIELDS, FIELDS, DatasetSpec


def _list(text: str) -> list[str]:
    return [t for t in text.replace(",", " ").split() if t]


def parser(description: str | None = None) -> argparse.ArgumentParser:
    """The options of ``scripts/generate_dataset.py``."""
    p = parser_for(description)
    p.add_argument("--verify", metavar="DIR", help="check every shard of DIR against its manifest and exit "
                   "(status 1 on any mismatch)")
    g = p.add_argument_group("what to generate")
    g.add_argument("--out", metavar="DIR", help="dataset folder (rerunning on an existing one resumes it)")
    g.add_argument("--kind", default="binaural", choices=("binaural", "echo"), help="binaural: sources heard by a "
                   "listener; echo: the echoes of a chirp the listener emits, with rgb and depth, for echo-based depth "
                   "estimation (default: binaural)")
    g.add_argument("--split", default="train", choices=tuple(SPLITS), help="scene split (default: train)")
    g.add_argument("--samples", type=int, default=1000, help="number of samples; >= 1. Rerunning on an existing dataset with a larger "
                   "number extends it: its full shards are kept byte for byte (default: 1000)")
    g.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: 0)")
    g.add_argument("--fields", nargs="+", default=None, metavar="FIELD",
                   help=f"arrays to store, from {', '.join(FIELDS)} (default: rir audio spectrogram, plus stems "
                   "with --sources > 1); poses, distances, directions of arrival and metadata are always stored. "
                   f"Echo samples: from {', '.join(ECHO_FIELDS)} (default: echo rgb depth)")
    g.add_argument("--scenes", type=int, default=0, help="use the first N procedural apartments of the split (default: all)")
    g.add_argument("--meshes", nargs="+", default=None, metavar="MESH", help="your mesh files (.glb/.obj/.ply) instead "
                   "of procedural apartments")
    g.add_argument("--split-file", default="", help="a JSON file of mesh paths per split, used with --split")
    g.add_argument("--up-axis", default="z", choices=("z", "y"), help="up axis of the meshes (y for glTF/Replica; default: z)")
    g.add_argument("--scale", type=float, default=1.0, help="metres per mesh unit (default: 1)")
    g.add_argument("--sources", type=int, default=1, help="sound sources per sample; > 1 makes mixtures with per-source "
                   "stems (default: 1)")
    g.add_argument("--receivers-per-source", type=int, default=50, help="receivers that hear one set of sources "
                   "(they share its acoustic computation; default: 50)")
    g.add_argument("--headings", default="grid", choices=("grid", "uniform"), help="listener headings: multiples of "
                   "45 degrees (fastest) or any angle (default: grid)")
    g.add_argument("--sounds", nargs="+", default=["heard"], metavar="SOUND", help="built-in sounds: heard, unheard, "
                   "all or names (default: heard)")
    g.add_argument("--shard-size", type=int, default=500, help="samples per shard; each shard is one scene (default: 500)")
    a = p.add_argument_group("audio and camera")
    a.add_argument("--sample-rate", type=int, default=None, choices=SUPPORTED_SAMPLE_RATES,
                   help="sample rate in Hz (default: 16000; echoes 44100)")
    a.add_argument("--rir-seconds", type=float, default=None, help="RIR length in seconds (default: 1.0; echoes 0.1)")
    a.add_argument("--audio-seconds", type=float, default=None, help="audio excerpt length in seconds (default: 1.0; echoes 0.06)")
    a.add_argument("--ism-order", type=int, default=3, help="image-source order (reflections per path), 0 to 10 (default: 3)")
    a.add_argument("--tail", default="traced", choices=("traced", "parametric", "raytraced"), help="late reverberation "
                   "model (default: traced)")
    a.add_argument("--head", default="kemar", help="the listener's head: kemar (default: MIT KEMAR's measured HRTFs), "
                   "sphere, or the path of a SOFA HRIR file")
    a.add_argument("--spacing", type=float, default=0.5, help="NavGraph spacing in metres (default: 0.5)")
    a.add_argument("--resolution", type=int, default=128, help="rgb/depth size in pixels (default: 128)")
    a.add_argument("--hfov", type=float, default=90.0, help="rgb/depth horizontal field of view, degrees (default: 90)")
    a.add_argument("--renderer", default="auto", choices=("auto", "raycast", "gl", "habitat"),
                   help="rgb/depth renderer (default: auto, GL when EGL works)")
    r = p.add_argument_group("how to run")
    r.add_argument("--workers", type=int, default=1, help="local worker processes, one core each (default: 1)")
    r.add_argument("--backend", default="local", choices=("local", "ray"), help="local processes or Ray tasks "
                   "(set RAY_ADDRESS to use a cluster; default: local)")
    r.add_argument("--rir-cache", default=None, metavar="DIR", help="an RIR cache folder to read and fill (a rerun "
                   "with other fields or headings then skips the acoustics)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _size(nbytes: int) -> str:
    return f"{nbytes / 1e9:.2f} GB" if nbytes >= 1e8 else f"{nbytes / 1e6:.1f} MB"


def main(argv=None, description: str | None = None) -> int:
    """``scripts/generate_dataset.py``: generate (or resume) a dataset, or ``--verify`` one;
    returns the exit status (0 done, 1 verification failed, 2 bad options, 130 interrupted)."""
    args = parser(description).parse_args(argv)

    if args.verify:
        problems = verify(args.verify)
        for problem in problems:
            print(f"FAIL {problem}", file=sys.stderr)
        if problems:
            print(f"{args.verify}: {len(problems)} problem(s)", file=sys.stderr)
            return 1
        m = read_manifest(args.verify)
        total = sum(s["bytes"] for s in m["shards"])
        print(f"{args.verify}: OK, {len(m['shards'])} shards and {m['samples']} samples match the manifest ({_size(total)})")
        return 0
    if not args.out:
        print("error: give --out DIR (or --verify DIR)", file=sys.stderr)
        return 2
    fields = tuple(_list(" ".join(args.fields))) if args.fields else None
    try:
        spec = DatasetSpec(kind=args.kind, split=args.split, scenes=args.scenes, meshes=tuple(args.meshes or ()), split_file=args.split_file,
                           samples=args.samples, seed=args.seed, shard_size=args.shard_size, fields=fields,
                           sources=args.sources, receivers_per_source=args.receivers_per_source, headings=args.headings,
                           sounds=tuple(_list(" ".join(args.sounds))), sample_rate=args.sample_rate,
                           rir_seconds=args.rir_seconds, audio_seconds=args.audio_seconds, ism_order=args.ism_order,
                           tail=args.tail, head=args.head, spacing=args.spacing, resolution=args.resolution, hfov_deg=args.hfov,
                           renderer=args.renderer, up_axis=args.up_axis, scale=args.scale)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    progress = Progress()
    try:
        generate(spec, args.out, workers=args.workers, backend=args.backend, rir_cache=args.rir_cache,
                 progress=progress, bar=not args.quiet)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {progress.shards_done} of {progress.shards_total} shards ({progress.samples_done} samples) "
              f"are complete and recorded in {os.path.join(args.out, 'manifest.json')}; rerun the same command to finish",
              file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, ImportError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    m = read_manifest(args.out)
    total = sum(s["bytes"] for s in m["shards"])
    rate = f", {progress.samples_made / progress.seconds:.0f} samples/s" if progress.samples_made and progress.seconds > 0 else ""
    earlier = f"; kept {progress.kept} shards of an earlier run" if progress.kept else ""
    if progress.extended_from:
        earlier += f" (extended from {progress.extended_from} samples)"
    redone = f"; remade {len(progress.redone)} that failed verification ({'; '.join(progress.redone[:3])})" if progress.redone else ""
    print(f"{m['samples']} samples in {len(m['shards'])} shards ({_size(total)}) at {Path(args.out).resolve()}: "
          f"made {progress.samples_made} in {progress.seconds:.1f} s{rate}{earlier}{redone}")
    return 0


__all__ = ["main", "parser"]

"""Validation of earshot's RIRs against pyroomacoustics' hybrid ray tracer on the same geometry
(``scripts/validate_acoustics.py``, ``docs/acoustics-validation.md``).

For every room of ``apartments`` held-out test apartments (one source, two receivers per room:
coupled rooms behind doors included) and for the single reference rooms (tiled bathroom,
carpeted room, absorption 0.6, an L-shaped room loaded from a bare mesh file), ``validate``
measures T30 and EDT at 500 Hz and 1 kHz on earshot's RIRs (the default ray-traced tail, and the
older statistical tail for comparison) and on pyroomacoustics' hybrid RIRs (image sources +
rays), averaged over the room's receivers. It writes ``results.json``, ``table.md``, and two
figures (matplotlib): ``t30_edt.png`` (earshot against the reference per room) and
``echograms.png`` (receivers that cannot see the source: energy envelopes of both, with the
shortest path through the doors marked). ~2 minutes per apartment on one core (the reference
is the slow part).
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cli import option
from ..scenes import NavGraph, generate_apartment, split_seeds

from .config import AudioConfig
from .decay import band_decay_times
from .raytrace import cell_of
from .reference import pra_hybrid_rirs, reference_rooms
from .rir import compute_rirs


@dataclass
class ValidateConfig:
    """Options of ``scripts/validate_acoustics.py`` (``validate``)."""

    out: str = option("outputs/acoustics_validation", "folder for results.json, table.md and the figures", nonempty=True)
    apartments: int = option(4, "held-out test apartments", low=0, high=50)
    rays: int = option(20_000, "rays of the pyroomacoustics reference", low=100)
    pra_order: int = option(1, "image-source order of the reference in apartments (its polyhedral model is slow)", low=0, high=3)
    seconds: float = option(2.0, "RIR length in apartments, s", low=0.5, high=5.0)


def _band_times(h, fs):
    return band_decay_times(h, fs)


def _room_rows(name, kinds, room_of, ours, old, ref, fs, rir_samples):
    rows = []
    for room in sorted(set(room_of)):
        idx = [m for m in range(len(room_of)) if room_of[m] == room]
        entry = {"scene": name, "room": int(room), "kind": kinds[room], "receivers": len(idx)}
        for label, rirs in (("ours", ours), ("statistical", old), ("reference", ref)):
            t = [_band_times(rirs[m][:rir_samples], fs) for m in idx]
            entry[label] = {k: np.nanmean([x[k] for x in t], axis=0).tolist() for k in ("t30", "edt")}
        rows.append(entry)
    return rows


def _through_opening(door, floor, a, b, n=200) -> float:
    """Shortest a → door opening → b path (m), by brute force over a grid of the opening."""
    ax, o = door.normal_axis, 1 - door.normal_axis
    u, z = np.meshgrid(np.linspace(door.center[o] - door.width / 2, door.center[o] + door.width / 2, n),
                       np.linspace(floor, floor + door.height, n // 2))
    pts = np.zeros((u.size, 3))
    pts[:, ax], pts[:, o], pts[:, 2] = door.center[ax], u.ravel(), z.ravel()
    return float(np.min(np.linalg.norm(pts - a, axis=1) + np.linalg.norm(pts - b, axis=1)))


def validate(cfg: ValidateConfig) -> dict:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, echo = [], []
    fs = 16_000
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, (scene, src, recs, seconds) in reference_rooms(tmp).items():
            audio = AudioConfig(rir_seconds=seconds)
            ours = [r.omni() for r in compute_rirs(scene, src, recs, audio)]
            old = [r.omni() for r in compute_rirs(scene, src, recs, audio.replace(tail="parametric"))]
            ref = pra_hybrid_rirs(scene, src, recs, fs, audio.ism_order, cfg.rays)
            rows += _room_rows(name, [name], [0] * len(recs), ours, old, ref, fs, audio.rir_samples)
            print(f"{name}: done ({time.perf_counter() - t_start:.0f} s)", flush=True)
    audio = AudioConfig(rir_seconds=cfg.seconds)
    for seed in list(split_seeds("test"))[: cfg.apartments]:
        scene = generate_apartment(seed, n_rooms=4)
        graph = NavGraph.build(scene)
        ears = graph.positions + [0, 0, audio.ear_height]
        rooms = cell_of(scene, ears)
        src = ears[len(ears) // 2]
        picks = []
        for room in range(len(scene.rooms)):
            idx = np.flatnonzero(rooms == room)
            if len(idx):
                picks += [int(idx[len(idx) // 3]), int(idx[2 * len(idx) // 3])]
        recs = ears[picks]
        rirs = compute_rirs(scene, src, recs, audio)
        ours = [r.omni() for r in rirs]
        old = [r.omni() for r in compute_rirs(scene, src, recs, audio.replace(tail="parametric"))]
        ref = pra_hybrid_rirs(scene, src, recs, fs, cfg.pra_order, cfg.rays)
        kinds = [r.kind for r in scene.rooms]
        rows += _room_rows(f"test apartment {seed}", kinds, list(rooms[picks]), ours, old, ref, fs, audio.rir_samples)
        s_room = int(cell_of(scene, src[None])[0])
        for m, p in enumerate(picks):
            # receivers that cannot see the source, one door away from it
            straight = float(np.linalg.norm(recs[m] - src))
            doors = [d for d in scene.doors if set(d.rooms) == {s_room, int(rooms[p])}]
            if len(echo) < 4 and doors and rirs[m].direct_delay * audio.speed_of_sound > straight + 0.3:
                shortest = min(_through_opening(d, scene.floor_height, src, recs[m]) for d in doors)
                echo.append(dict(scene=f"apartment {seed}", room=kinds[rooms[p]], ours=ours[m], ref=ref[m],
                                 door_path=shortest, straight=straight, first=rirs[m].direct_delay))
        print(f"apartment {seed}: done ({time.perf_counter() - t_start:.0f} s)", flush=True)

    ratios = {k: np.array([[r["ours"][k][b] / r["reference"][k][b] for b in range(2)] for r in rows]) for k in ("t30", "edt")}
    old_ratios = {k: np.array([[r["statistical"][k][b] / r["reference"][k][b] for b in range(2)] for r in rows]) for k in ("t30", "edt")}
    summary = {k: dict(mean=float(np.nanmean(v)), within_20=float(np.nanmean(np.abs(v - 1) <= 0.2)),
                       statistical_mean=float(np.nanmean(old_ratios[k])),
                       statistical_within_20=float(np.nanmean(np.abs(old_ratios[k] - 1) <= 0.2)))
               for k, v in ratios.items()}
    result = dict(config=cfg.__dict__, rows=rows, summary=summary, seconds=time.perf_counter() - t_start)
    (out / "results.json").write_text(json.dumps(result, indent=1))
    lines = ["| scene | room | T30 500 / 1k (earshot) | T30 (reference) | EDT 500 / 1k (earshot) | EDT (reference) | T30, EDT ratio | statistical tail: T30, EDT ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for r, t, e, ot, oe in zip(rows, ratios["t30"], ratios["edt"], old_ratios["t30"], old_ratios["edt"]):
        f = lambda v: " / ".join(f"{x:.2f}" for x in v)  # noqa: E731
        lines.append(f"| {r['scene']} | {r['kind']} | {f(r['ours']['t30'])} | {f(r['reference']['t30'])} | {f(r['ours']['edt'])} | "
                     f"{f(r['reference']['edt'])} | {t.mean():.2f}, {e.mean():.2f} | {ot.mean():.2f}, {oe.mean():.2f} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    _figures(out, rows, echo, fs)
    print("\n".join(lines))
    print(json.dumps(summary, indent=1))
    return result


def _figures(out: Path, rows, echo, fs) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    for ax, key, title in zip(axes, ("t30", "edt"), ("T30", "EDT")):
        ref = np.array([r["reference"][key] for r in rows]).ravel()
        ours = np.array([r["ours"][key] for r in rows]).ravel()
        old = np.array([r["statistical"][key] for r in rows]).ravel()
        top = float(np.nanmax(np.r_[ref, ours, old])) * 1.1
        x = np.linspace(0, top, 10)
        ax.fill_between(x, 0.8 * x, 1.2 * x, color="0.9", label="±20%")
        ax.plot(x, x, color="0.5", lw=0.8)
        ax.scatter(ref, old, s=16, marker="x", color="0.55", label="statistical tail (before)")
        ax.scatter(ref, ours, s=20, color="C0", label="earshot (ray-traced tail)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 5) if t <= top]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel(f"{title} pyroomacoustics hybrid (s)")
        ax.set_ylabel(f"{title} earshot (s)")
        ax.set_title(f"{title}, 500 Hz and 1 kHz, per room ({len(rows)} rooms)")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "t30_edt.png", dpi=120)
    plt.close(fig)

    if echo:
        fig, axes = plt.subplots(len(echo), 1, figsize=(9, 2.4 * len(echo)), squeeze=False)
        for ax, e in zip(axes[:, 0], echo):
            win = int(0.001 * fs)
            for h, label, color, offset in ((e["ref"], "pyroomacoustics hybrid", "0.5", 40), (e["ours"], "earshot", "C0", 0)):
                h = np.asarray(h[offset: offset + int(0.15 * fs)], np.float64)  # the reference starts 40 samples late
                env = np.convolve(h * h, np.ones(win) / win, mode="same")
                t = np.arange(len(env)) / fs * 1e3
                ax.plot(t, 10 * np.log10(env + 1e-12), color=color, lw=1, label=label)
            ax.axvline(e["straight"] / 343.0 * 1e3, color="C3", ls=":", label="straight line / c")
            ax.axvline(e["door_path"] / 343.0 * 1e3, color="C2", ls="--", label="shortest path through the door / c")
            ax.set_ylim(-90, -20)
            ax.set_xlim(0, 100)
            ax.set_ylabel("dB")
            ax.set_title(f"{e['scene']}, receiver in the {e['room'].replace('_', ' ')} (no line of sight)", fontsize=9)
        axes[-1, 0].set_xlabel("ms after emission")
        axes[0, 0].legend(fontsize=7, loc="upper right")
        fig.tight_layout()
        fig.savefig(out / "echograms.png", dpi=110)
        plt.close(fig)


__all__ = ["ValidateConfig", "validate"]

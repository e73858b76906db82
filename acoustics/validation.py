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


# The ray budget (``AudioConfig.rays``) is the smallest count whose own noise, measured against a
# 32,000-ray trace of the same rooms by ``ray_budget_errors``, stays within these bounds at 500 Hz
# and 1 kHz (ISO 3382-1's mid frequencies), over every cell the tail reaches (source rooms and the
# rooms behind doors). They leave the model room for its bias against pyroomacoustics inside the
# fidelity tests' 20% (the carpeted room's EDT sits ~10% short at any ray count).
RAY_BUDGET_TOLERANCE = {"t30_mid_mean": 0.10, "edt_mid_mean": 0.05, "edt_mid_p95": 0.10, "db_mean": 1.0}


def ray_budget_errors(counts=(500, 1000, 1500, 2000, 4000), scenes: int = 4, repeats: int = 3,
                      reference_rays: int = 32_000, config: AudioConfig | None = None, split: str = "train") -> dict:
    """The traced tail's error against a ``reference_rays`` trace of the same room, per ray count.

    For every room of the first ``scenes`` apartments of ``split``: the room's trace (from its
    trace origin, as the environments trace it) with ``reference_rays``, and ``repeats`` traces
    with other seeds per count in ``counts``; each cell's rendered envelope (what an RIR of that
    cell plays) gives T30 and EDT per band and its level (dB rms over the first 0.5 s).

    Returns {count: {"ms": mean trace time, "t30_mid_mean", "t30_mid_p95", "edt_mid_mean",
    "edt_mid_p95" (|relative error| at 500 Hz and 1 kHz), "t30_all_p95", "edt_all_p95" (all six
    bands), "db_mean", "db_p95", "cells"}}; ``choose_ray_budget`` picks from it."""
    from .assemble import TRACE_SECONDS, _cell_tail
    from .binaural import tail_envelope
    from .decay import edt, t30
    from .raytrace import energy_field, trace_origin
    from .scene_acoustics import SceneAcoustics
    from ..scenes.refs import build_scene_and_graph, procedural_ref

    cfg = config or AudioConfig()
    dt = 1e-3
    t = np.arange(int(1.0 / dt)) * dt
    kw = dict(seconds=min(cfg.rir_seconds, TRACE_SECONDS), ism_order=cfg.ism_order, speed_of_sound=cfg.speed_of_sound)

    def decay(field, cell):
        times, levels, rt60 = _cell_tail(field, cell, cfg.speed_of_sound, cfg.sample_rate)
        env = tail_envelope(times, levels, rt60, t) * (t >= field.start[cell])[None]
        return np.array([t30(e, dt) for e in env]), np.array([edt(e, dt) for e in env]), env

    rows = {int(n): {"t30": [], "edt": [], "db": [], "sec": []} for n in counts}
    for seed in list(split_seeds(split))[:scenes]:
        scene, _ = build_scene_and_graph(procedural_ref(seed))
        acoustics = SceneAcoustics(scene)  # no tail store: every field traced here
        for room in scene.rooms:
            x0, y0, x1, y1 = room.bounds
            origin = trace_origin(acoustics, np.array([(x0 + x1) / 2, (y0 + y1) / 2, cfg.source_height]))
            ref = energy_field(acoustics, origin, rays=reference_rays, seed_text="reference", **kw)
            cells = [k for k in range(len(scene.rooms)) if not np.isnan(ref.levels[k]).all()]
            want = {k: decay(ref, k) for k in cells}
            for n in rows:
                for r in range(repeats):
                    start = time.perf_counter()
                    field = energy_field(acoustics, origin, rays=n, seed_text=f"repeat {r}", **kw)
                    rows[n]["sec"].append(time.perf_counter() - start)
                    for k in cells:
                        a30, aedt, aenv = decay(field, k)
                        b30, bedt, benv = want[k]
                        rows[n]["t30"].append(a30 / b30 - 1)
                        rows[n]["edt"].append(aedt / bedt - 1)
                        m = (t < 0.5) & (benv.sum(0) > 0) & (aenv.sum(0) > 0)
                        rows[n]["db"].append(np.sqrt(np.mean((10 * np.log10(aenv[:, m] / benv[:, m])) ** 2, axis=1)))
            acoustics.energy_fields.clear()
    out = {}
    for n, r in rows.items():
        t30e, edte, db = (np.abs(np.array(r[k], dtype=np.float64)) for k in ("t30", "edt", "db"))
        mid = slice(2, 4)  # 500 Hz and 1 kHz
        out[n] = {"ms": 1e3 * float(np.mean(r["sec"])),
                  "t30_mid_mean": float(np.nanmean(t30e[:, mid])), "t30_mid_p95": float(np.nanpercentile(t30e[:, mid], 95)),
                  "edt_mid_mean": float(np.nanmean(edte[:, mid])), "edt_mid_p95": float(np.nanpercentile(edte[:, mid], 95)),
                  "t30_all_p95": float(np.nanpercentile(t30e, 95)), "edt_all_p95": float(np.nanpercentile(edte, 95)),
                  "db_mean": float(np.nanmean(db)), "db_p95": float(np.nanpercentile(db, 95)), "cells": len(r["t30"])}
    return out


def choose_ray_budget(errors: dict, tolerance: dict | None = None) -> int | None:
    """The smallest ray count of ``errors`` (``ray_budget_errors``) within ``tolerance``
    (``RAY_BUDGET_TOLERANCE``), or None when none is."""
    tol = RAY_BUDGET_TOLERANCE if tolerance is None else tolerance
    ok = [n for n, e in errors.items() if all(e[k] <= v for k, v in tol.items())]
    return min(ok) if ok else None


__all__ = ["RAY_BUDGET_TOLERANCE", "ValidateConfig", "choose_ray_budget", "ray_budget_errors", "validate"]

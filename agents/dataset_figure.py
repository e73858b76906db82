"""A figure of a few samples of an earshot dataset: per sample its RGB view and depth (when
stored), the first 60 ms of the binaural RIR (left and right ear, with the direct path's
expected arrival d/c marked) and the spectrogram of each ear. ``scripts/plot_dataset.py`` is
its CLI."""

from __future__ import annotations

from pathlib import Path

from ..files import atomic_path


def _pick(ds, samples: int, c: float) -> tuple[list[int], dict[int, bool]]:
    """(indices of up to ``samples`` samples spread over ``ds``, whether each is in sight of its
    source): half in sight (first arrival = d / c), half behind a wall, where there are both."""
    import numpy as np

    scan = np.unique(np.linspace(0, len(ds) - 1, min(len(ds), 400)).round().astype(int))
    sight = {}
    for i in scan:
        src = ds.meta(int(i))["sources"][0]
        first = src["first_arrival_s"]
        sight[int(i)] = first is not None and first - src["euclidean_m"] / c < 1e-4
    seen = [i for i in scan if sight[int(i)]]
    hidden = [i for i in scan if not sight[int(i)]]
    k = min(len(seen), samples // 2) if hidden else min(len(seen), samples)
    chosen = [seen[int(j)] for j in np.linspace(0, len(seen) - 1, k).round()] if k else []
    rest = min(len(hidden), samples - k)
    chosen += [hidden[int(j)] for j in np.linspace(0, len(hidden) - 1, rest).round()] if rest else []
    return sorted(set(int(i) for i in chosen)), sight


def dataset_figure(folder: str | Path, out: str | Path | None = None, samples: int = 4) -> tuple[Path, list[int]]:
    """Draw ``samples`` samples of the dataset in ``folder`` (read with
    ``earshot.datasets.BinauralDataset``, an incomplete one too) into the PNG ``out`` (default
    ``folder/samples.png``); (the PNG, the sample indices drawn). One clear error for a missing
    matplotlib (ImportError), a folder without a dataset (FileNotFoundError or ValueError), too
    few samples or a dataset without anything to draw (ValueError)."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'earshot[agents]' (or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..datasets import BinauralDataset

    ds = BinauralDataset(folder, allow_incomplete=True)
    if samples < 1:
        raise ValueError("--samples must be at least 1")
    cfg = ds.manifest["audio_config"]
    fs, c = cfg["sample_rate"], cfg["speed_of_sound"]
    views = [f for f in ("rgb", "depth") if f in ds.fields]
    audio = [f for f in ("rir", "spectrogram") if f in ds.fields]
    cols = len(views) + (1 if "rir" in audio else 0) + (2 if "spectrogram" in audio else 0)
    if cols == 0:
        raise ValueError("the dataset stores none of rgb, depth, rir, spectrogram")
    picks, sight = _pick(ds, samples, c)
    fig, axes = plt.subplots(len(picks), cols, figsize=(3.2 * cols, 2.6 * len(picks)), squeeze=False)
    for row, i in enumerate(picks):
        s, meta = ds[int(i)], ds.meta(int(i))
        src = meta["sources"][0]
        title = (f"#{i} {src['sound']}, {'in sight' if sight[i] else 'behind a wall'}: {src['euclidean_m']:.1f} m "
                 f"(geodesic {src['geodesic_m']:.1f} m), azimuth {np.degrees(src['azimuth']):+.0f}°")
        col = 0
        if "rgb" in views:
            axes[row, col].imshow(s["rgb"])
            axes[row, col].set_title(f"rgb, {meta['receiver']['room'] or 'mesh'}", fontsize=8)
            col += 1
        if "depth" in views:
            im = axes[row, col].imshow(s["depth"], cmap="viridis")
            fig.colorbar(im, ax=axes[row, col], fraction=0.046, label="m")
            axes[row, col].set_title("depth (m)", fontsize=8)
            col += 1
        for ax in axes[row, :col]:
            ax.set_xticks([])
            ax.set_yticks([])
        if "rir" in audio:
            ax = axes[row, col]
            rir = s["rir"][0]
            n = int(0.06 * fs)
            t = np.arange(n) / fs * 1e3
            ax.plot(t, rir[0, :n], lw=0.7, label="left")
            ax.plot(t, rir[1, :n], lw=0.7, alpha=0.8, label="right")
            ax.axvline(src["euclidean_m"] / c * 1e3, color="k", ls=":", lw=0.8, label="d / c")
            ax.set_xlabel("ms", fontsize=8)
            ax.set_title("binaural RIR", fontsize=8)
            ax.legend(fontsize=6, loc="upper right")
            col += 1
        if "spectrogram" in audio:
            for ear, name in enumerate(("left", "right")):
                ax = axes[row, col]
                ax.imshow(s["spectrogram"][:, :, ear], origin="lower", aspect="auto", cmap="magma")
                ax.set_title(f"spectrogram, {name} ear", fontsize=8)
                ax.set_xlabel("frame", fontsize=8)
                col += 1
        axes[row, 0].set_ylabel(title, fontsize=7, rotation=0, ha="left", va="bottom", labelpad=0)
        axes[row, 0].yaxis.set_label_coords(0.0, 1.12)
    fig.tight_layout()
    out = Path(out) if out else Path(folder) / "samples.png"
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out, picks


__all__ = ["dataset_figure"]

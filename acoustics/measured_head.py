"""A measured head: HRIRs of a real head (or manikin) over the sphere, interpolated to any direction.

``MeasuredHead.kemar()`` is the MIT KEMAR set shipped with earshot (``acoustics/data/kemar.npz``:
Gardner & Martin 1994, normal pinna, 710 directions, 512 taps at 44.1 kHz; converted once by
``scripts/convert_kemar.py``, citation and terms in ``acoustics/data/KEMAR_LICENSE.md``), loaded
with ``np.load(allow_pickle=False)``. ``MeasuredHead.from_sofa(path)`` reads any SOFA file of the
``SimpleFreeFieldHRIR`` convention (SADIE II, SONICOM, CIPIC, ...) with h5py.

Frames and signs are those of ``acoustics.hrtf.SphericalHead``: directions are unit vectors in
the head frame, x forward, y left, z up; ear 0 is the left ear, ear 1 the right; source positions
follow SOFA (azimuth counter-clockwise from the front, 90° = left; elevation up); ITD is
t_right − t_left (positive: the left ear leads) and ILD is L − R in dB (positive: left louder).

Onsets. Each ear's time of arrival in a measured HRIR is found by onset detection: the HRIR is
low-passed with a Gaussian filter (−3 dB at ``ONSET_CUTOFF_HZ`` = 1.5 kHz: the band where the
ITD is a cue, and one that any simulation rate keeps, so that resampling does not move it),
upsampled to ≥ 352.8 kHz, and the onset is the first crossing of ``ONSET_THRESHOLD`` (−20 dB) of
its peak magnitude (linear between fine samples). For KEMAR this gives ITD = 0.66 ms at 90°.

Interpolation. The measurement directions are triangulated on the sphere (their convex hull,
``scipy.spatial.ConvexHull``: a spherical Delaunay triangulation); a direction gets barycentric
weights over the three corners of the triangle its ray crosses. Interpolation is delay-aligned:
the three HRIRs are shifted (fractionally, in the frequency domain) to a common onset, mixed
with the weights, and the mix is shifted to the weighted mean of their onsets. So the onsets
(hence ITD) interpolate linearly, the spectra do not comb-filter between neighbours whose
onsets differ by a few samples, the result equals the measured HRIR at a measured direction,
and it changes continuously as the head turns (the weights are continuous across triangle edges).

Coverage. Directions outside the measured elevation range are clamped to it at the same azimuth
(KEMAR: below −40° a source gets the −40° answer of its azimuth; straight down (0, 0, −1) is
taken at azimuth 0, i.e. front, −40°). The diffuse-field average gives the unmeasured cap to the
lowest ring accordingly (solid angles are the measured directions' spherical Voronoi cells).

Sample rate. ``at_rate(fs)`` resamples the HRIRs with ``scipy.signal.resample_poly`` (polyphase,
Kaiser-windowed anti-aliasing FIR, delay-compensated: onsets stay in place), scales them by
fs_old / fs_new so that the transfer functions keep their gain, and re-detects the onsets.
``from_sofa(path, sample_rate=fs)`` and ``kemar(sample_rate=fs)`` do the same on load.
``responses`` may be asked for any frequencies up to the set's Nyquist frequency (zero above it);
on the FFT grid of the set's own rate it uses an FFT, otherwise a direct DTFT (slower): resample
the head to the simulation's rate first.

Delay reference. A measured set carries an arbitrary bulk delay (KEMAR: the 1.4 m flight plus the
recording chain, minus the 200 samples cut by the authors: onsets near sample 30).
``bulk_delay`` is the mean onset of the two ears for a source straight ahead, where a head's ears
hear it when its centre would; ``ear_delays`` and ``responses(..., centred=True)`` (the default)
are referenced to it, like ``SphericalHead``'s; ``hrirs`` and ``delays`` are as measured. (The
low-passed onset precedes the broadband one by ~0.1 ms: the 1.5 kHz Gaussian's spread.)

Equalisation. A raw set also holds what does not depend on direction: the measuring loudspeaker
and the ear canal and microphone (KEMAR's raw frontal response is −11 dB at 500 Hz and +9 dB at
2.5 kHz). ``responses`` divides each ear by the set's diffuse-field response by default (zero
phase), which keeps every directional cue (ITD, ILD, notches, front/back) and makes a diffuse
field flat; ``equalized=False`` gives the raw responses, and ``hrirs`` are always raw.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from pathlib import Path

import numpy as np
import scipy.fft
from scipy.signal import resample_poly
from scipy.spatial import ConvexHull, SphericalVoronoi

from ..scenes.lru import BUDGETS, LRU
from .head_kernels import _barycentric, _dtft, _mix_grid, _phase_ramps
from .sofa import SOFA_CONVENTION, SofaError, _read_sofa

DATA_DIR = Path(__file__).resolve().parent / "data"
KEMAR_PATH = DATA_DIR / "kemar.npz"
ONSET_CUTOFF_HZ = 1500.0
ONSET_THRESHOLD = 0.1  # of the low-passed HRIR's peak magnitude (−20 dB)
_ONSET_FINE_RATE = 352_800.0
_MAX_GRID = 3072  # FFT grids up to this size get a table of responses (``grid_responses``); larger ones
# (a far source's very long early part: rare) take the FFT path
_EQ_FLOOR_DB = 40.0  # the diffuse-field equaliser divides by at least this far below the peak


def onset_times(hrirs: np.ndarray, sample_rate: float, cutoff: float = ONSET_CUTOFF_HZ,
                threshold: float = ONSET_THRESHOLD) -> np.ndarray:
    """(...,) seconds from the first tap to the onset of each HRIR in ``hrirs`` (..., N).

    The HRIR is low-passed by a zero-phase Gaussian (−3 dB at ``cutoff``), upsampled to at least
    352.8 kHz, and the onset is where its magnitude first reaches ``threshold`` × its peak
    (linear between the fine samples). Zeros are put in front first so that the filter's
    symmetric spread has room before an early onset."""
    x = np.asarray(hrirs, dtype=np.float64)
    shape, n = x.shape[:-1], x.shape[-1]
    x = x.reshape(-1, n)
    fs = float(sample_rate)
    pad = int(np.ceil(2e-3 * fs))  # 2 ms: > 5 σ of the Gaussian's time spread at 1.5 kHz
    size = scipy.fft.next_fast_len(n + 2 * pad)
    up = int(np.ceil(_ONSET_FINE_RATE / fs))
    f = np.fft.rfftfreq(size, 1 / fs)
    sigma = cutoff / np.sqrt(2 * np.log(2))
    gauss = np.exp(-0.5 * (f / sigma) ** 2)
    out = np.empty(len(x))
    for lo in range(0, len(x), 64):
        spec = scipy.fft.rfft(x[lo:lo + 64], n=size, axis=1) * gauss
        # shift right by ``pad`` samples (exact: an integer shift) and upsample by zero-padding the spectrum
        spec *= np.exp(-2j * np.pi * np.arange(len(f)) * pad / size)
        y = np.abs(scipy.fft.irfft(spec, n=size * up, axis=1))
        peak = y.max(axis=1)
        level = threshold * peak
        i = np.argmax(y >= level[:, None], axis=1)
        rows = np.arange(len(y))
        a0 = y[rows, np.maximum(i - 1, 0)]
        a1 = y[rows, i]
        frac = np.where((i > 0) & (a1 > a0), (level - a0) / np.maximum(a1 - a0, 1e-300), 1.0)
        out[lo:lo + 64] = np.where(peak > 0, (i - 1 + frac) / (fs * up) - pad / fs, 0.0)
    return out.reshape(shape)


def _unit(az_deg: np.ndarray, el_deg: np.ndarray) -> np.ndarray:
    az, el = np.radians(az_deg), np.radians(el_deg)
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


class MeasuredHead:
    """HRIRs measured over the sphere, interpolated (delay-aligned, barycentric) to any direction.

    Args:
        hrirs: (M, 2, N) impulse responses, ear 0 left, ear 1 right.
        sample_rate: of ``hrirs``, Hz.
        azimuth_deg, elevation_deg: (M,) source directions (SOFA: azimuth counter-clockwise from
            the front, 90 = left; elevation up).
        distance_m: (M,) source distances (kept as metadata; no near-field correction).
        name, metadata: provenance (strings).

    Attributes: ``ir`` (M, 2, N) float64, ``sample_rate``, ``azimuth_deg``, ``elevation_deg``,
    ``distance_m``, ``directions`` (M, 3) unit vectors in the head frame, ``onsets`` (M, 2)
    seconds (see ``onset_times``), ``bulk_delay`` seconds, ``n_taps``.
    """

    def __init__(self, hrirs: np.ndarray, sample_rate: float, azimuth_deg: np.ndarray, elevation_deg: np.ndarray,
                 distance_m: np.ndarray | None = None, name: str = "", metadata: dict | None = None):
        ir = np.asarray(hrirs, dtype=np.float64)
        az = np.asarray(azimuth_deg, dtype=np.float64).reshape(-1)
        el = np.asarray(elevation_deg, dtype=np.float64).reshape(-1)
        dist = np.ones_like(az) if distance_m is None else np.asarray(distance_m, dtype=np.float64).reshape(-1)
        if ir.ndim != 3 or ir.shape[1] != 2 or ir.shape[2] < 2:
            raise ValueError(f"HRIRs must be (directions, 2 ears, taps), got {ir.shape}")
        if not (len(az) == len(el) == len(dist) == len(ir)):
            raise ValueError(f"{len(ir)} HRIRs but {len(az)} azimuths, {len(el)} elevations, {len(dist)} distances")
        if not (np.isfinite(ir).all() and np.isfinite(az).all() and np.isfinite(el).all()):
            raise ValueError("HRIRs and source positions must be finite (no NaN or inf)")
        if not (np.isfinite(sample_rate) and sample_rate > 0):
            raise ValueError(f"sample rate must be positive, got {sample_rate!r}")
        if np.abs(el).max() > 90 + 1e-6:
            raise ValueError(f"elevations must lie in [-90, 90] degrees, got {el.min()} .. {el.max()}")
        if np.abs(ir).max(axis=2).min() == 0:
            raise ValueError("an HRIR is all zeros")
        dirs = _unit(az, el)
        # one measurement per direction: sets with several distances keep the farthest (far field)
        key = np.round(dirs * 1e6).astype(np.int64)
        order = np.lexsort((-dist,) + tuple(key.T[::-1]))
        _, first = np.unique(key[order], axis=0, return_index=True)
        keep = np.sort(order[first])
        self.ir, self.azimuth_deg, self.elevation_deg, self.distance_m = ir[keep], az[keep], el[keep], dist[keep]
        self.directions = dirs[keep]
        self.sample_rate = float(sample_rate)
        self.name = str(name)
        self.metadata = dict(metadata or {})
        self.n_taps = self.ir.shape[2]
        self._el_range = (float(self.elevation_deg.min()), float(self.elevation_deg.max()))
        self._triangulate()
        self.onsets = onset_times(self.ir, self.sample_rate)  # (M, 2) s
        self._align()
        self.bulk_delay = float(self.delays(np.array([[1.0, 0.0, 0.0]]))[0].mean())
        self._solid_angles: np.ndarray | None = None
        self._acf: np.ndarray | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def kemar(cls, sample_rate: float | None = None) -> "MeasuredHead":
        """The MIT KEMAR set shipped with earshot (normal pinna, 710 directions, 44.1 kHz), at
        ``sample_rate`` (resampled, see ``at_rate``) or its own rate. Cached per rate."""
        return _kemar(None if sample_rate is None else float(sample_rate))

    @classmethod
    def from_npz(cls, path: str | Path, sample_rate: float | None = None) -> "MeasuredHead":
        """A set saved like ``kemar.npz`` (hrir, sample_rate, azimuth_deg, elevation_deg[, distance_m]),
        read with ``allow_pickle=False``."""
        with np.load(path, allow_pickle=False) as z:
            meta = {k: str(z[k]) for k in z.files if z[k].dtype.kind == "U" and z[k].ndim == 0}
            head = cls(z["hrir"], float(z["sample_rate"]), z["azimuth_deg"], z["elevation_deg"],
                       z["distance_m"] if "distance_m" in z.files else None, name=meta.pop("name", Path(path).stem),
                       metadata=meta)
        return head if sample_rate is None else head.at_rate(sample_rate)

    @classmethod
    def from_sofa(cls, path: str | Path, sample_rate: float | None = None) -> "MeasuredHead":
        """A ``SimpleFreeFieldHRIR`` SOFA file, read with h5py, at ``sample_rate`` (resampled with
        ``resample_poly``) or its own rate.

        Raises FileNotFoundError for a missing file and ``SofaError`` (a ValueError) naming the
        problem for anything else: not netCDF-4/HDF5, another SOFA convention (the message names
        the one found and the one expected), a missing Data.IR / Data.SamplingRate /
        SourcePosition, wrong shapes, NaNs, a sample rate that differs between measurements.
        SourcePosition may be spherical (degrees, or radians if its Units say so) or cartesian
        (its ``Type`` attribute). Data.Delay, when present and non-zero, is applied in whole
        samples. Ears are ordered by ReceiverPosition when it is given (left = larger y).
        ListenerView is assumed to be +x (the convention's default)."""
        try:
            import h5py
        except ImportError as exc:  # pragma: no cover - h5py is in the sofa extra
            raise ImportError("reading SOFA files needs h5py: pip install h5py") from exc
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"SOFA file {str(path)!r} does not exist")
        try:
            f = h5py.File(path, "r")
        except OSError as exc:
            raise SofaError(f"{str(path)!r} is not a SOFA file (not netCDF-4/HDF5: {exc})") from exc
        with f:
            ir, fs, az, el, dist, meta = _read_sofa(f, str(path))
        try:
            head = cls(ir, fs, az, el, dist, name=meta.get("Title", path.stem), metadata=meta)
        except SofaError:
            raise
        except ValueError as exc:  # e.g. directions in one plane: name the file
            raise SofaError(f"{str(path)!r}: {exc}") from exc
        return head if sample_rate is None else head.at_rate(sample_rate)

    def at_rate(self, sample_rate: float) -> "MeasuredHead":
        """This set resampled to ``sample_rate`` with ``scipy.signal.resample_poly`` (up/down by
        the exact rational ratio of the rates; Kaiser-windowed FIR, delay-compensated), scaled by
        the ratio of the rates (same transfer function below both Nyquist frequencies), onsets
        re-detected. Returns self when the rate is already right."""
        fs = float(sample_rate)
        if not (np.isfinite(fs) and fs > 0):
            raise ValueError(f"sample rate must be positive, got {sample_rate!r}")
        if fs == self.sample_rate:
            return self
        ratio = Fraction(fs).limit_denominator(1_000_000) / Fraction(self.sample_rate).limit_denominator(1_000_000)
        # resample_poly keeps the waveform; an impulse response must keep its transfer function,
        # Σ h[n] e^{-iωn/fs}, whose gain scales with the number of taps per second: × fs_old / fs_new
        ir = resample_poly(self.ir, ratio.numerator, ratio.denominator, axis=-1) * (self.sample_rate / fs)
        return MeasuredHead(ir, fs, self.azimuth_deg, self.elevation_deg, self.distance_m, self.name,
                            dict(self.metadata, resampled_from=f"{self.sample_rate:g} Hz"))

    def _triangulate(self) -> None:
        if len(self.directions) < 4:
            raise ValueError(f"{len(self.directions)} directions cannot be triangulated over the sphere")
        try:
            hull = ConvexHull(self.directions)
        except Exception as exc:  # scipy raises QhullError (flat sets, e.g. horizontal plane only)
            raise ValueError(f"the measured directions do not span the sphere (all in one plane?): {exc}") from exc
        if hull.equations[:, 3].max() > -1e-3:
            raise ValueError("the measured directions must surround the head (the origin lies on or outside "
                             "their convex hull, e.g. a hemisphere-only set)")
        self._simplices = hull.simplices  # (T, 3)
        self._inverse = np.linalg.inv(self.directions[self._simplices])  # (T, 3, 3): w = d @ inv(V)
        # the facets around each measured direction (padded with -1), to search only the facets
        # of a direction's nearest measured ones (``weights``)
        owners = np.repeat(np.arange(len(self._simplices)), 3)
        corners = self._simplices.reshape(-1)
        order = np.argsort(corners, kind="stable")
        counts = np.bincount(corners, minlength=len(self.directions))
        # (at most 8 each: a direction with more, e.g. a pole, falls back to the full search)
        self._around = np.full((len(self.directions), min(max(int(counts.max()), 1), 8)), -1, np.int64)
        rank = np.arange(len(order)) - np.repeat(np.cumsum(counts) - counts, counts)
        fits = rank < self._around.shape[1]
        self._around[corners[order][fits], rank[fits]] = owners[order][fits]

    def _align(self) -> None:
        """Spectra of the HRIRs shifted so that every ear's onset sits at ``self._anchor`` seconds."""
        fs = self.sample_rate
        lead = self.onsets.max() - self.onsets.min()
        guard = int(np.ceil(1e-3 * fs)) + 8
        self._size = scipy.fft.next_fast_len(self.n_taps + int(np.ceil(lead * fs)) + 2 * guard)
        self._anchor = float(self.onsets.max())
        self._bins = np.fft.rfftfreq(self._size, 1 / fs)
        shift = self._anchor - self.onsets  # (M, 2) seconds later
        self._aligned = scipy.fft.rfft(self.ir, n=self._size, axis=2) * np.exp(
            -2j * np.pi * shift[..., None] * self._bins)

    # ------------------------------------------------------------------ interpolation
    def clamp(self, directions: np.ndarray) -> np.ndarray:
        """(G, 3) unit ``directions`` with elevations clamped to the measured range, same azimuth."""
        d = np.atleast_2d(np.asarray(directions, dtype=np.float64))
        if d.ndim != 2 or d.shape[1] != 3:
            raise ValueError(f"directions must be (G, 3) vectors, got {d.shape}")
        norm = np.sqrt(np.einsum("gi,gi->g", d, d))[:, None]
        if not (np.isfinite(norm).all() and norm.min(initial=1.0) > 0):  # NaN or inf in d makes its norm so
            raise ValueError("directions must be finite, non-zero vectors")
        d = d / norm
        lo, hi = self._el_range
        # elevation out of the measured range, tested on its sine (monotonic): the arcsin only where clamped
        out = (d[:, 2] < np.sin(np.radians(lo - 1e-9))) | (d[:, 2] > np.sin(np.radians(hi + 1e-9)))
        if out.any():
            el = np.degrees(np.arcsin(np.clip(d[out, 2], -1, 1)))
            az = np.degrees(np.arctan2(d[out, 1], d[out, 0]))
            d[out] = _unit(az, np.clip(el, lo, hi))
        return d

    def weights(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index (G, 3), weight (G, 3)): the measured directions at the corners of the triangle
        each (clamped) direction's ray crosses, and its barycentric weights (≥ 0, sum 1)."""
        d = self.clamp(directions)
        # the facets' cones from the centre partition the sphere, and the one holding d is where
        # all three (unnormalised) barycentric weights are >= 0: take the facet whose smallest
        # weight is largest (on an edge or a vertex any facet holding it gives the same answer;
        # this also resolves coplanar facets, such as the flat bottom of KEMAR's -40° ring).
        # Candidates: the facets around the nearest measured direction (a Delaunay facet holds
        # the point in all but rare obtuse cases: 3 in 200,000 random directions for KEMAR);
        # every facet where none of them holds it. Compiled (``_barycentric``).
        facet, w = _barycentric(d, self.directions, self._around, self._inverse)
        return self._simplices[facet], w

    def delays(self, directions: np.ndarray) -> np.ndarray:
        """(G, 2) onset of each ear, seconds from the HRIRs' first tap (interpolated onsets)."""
        idx, w = self.weights(directions)
        return np.einsum("gk,gke->ge", w, self.onsets[idx])

    def ear_delays(self, directions: np.ndarray) -> np.ndarray:
        """(G, 2) seconds of arrival at (left, right) relative to the head centre (``bulk_delay``),
        as ``SphericalHead.ear_delays``."""
        return self.delays(directions) - self.bulk_delay

    def itd(self, directions: np.ndarray) -> np.ndarray:
        """(G,) interaural time difference t_right − t_left, seconds (positive: the left ear leads)."""
        t = self.delays(directions)
        return t[:, 1] - t[:, 0]

    def hrirs(self, directions: np.ndarray) -> np.ndarray:
        """(G, 2, N) HRIRs for unit ``directions`` (G, 3) in the head frame, delay-aligned
        barycentric interpolation of the measured ones (equal to them at measured directions)."""
        idx, w = self.weights(directions)
        tau = np.einsum("gk,gke->ge", w, self.onsets[idx])
        spec = np.einsum("gk,gkef->gef", w, self._aligned[idx])
        # back to the mixed onset: exp(2πi (anchor − τ) f) on the set's uniform grid
        spec *= _phase_ramps(2 * np.pi * self._bins[1] * (self._anchor - tau), spec.shape[-1])
        return scipy.fft.irfft(spec, n=self._size, axis=2)[:, :, : self.n_taps]

    def responses(self, directions: np.ndarray, freqs: np.ndarray, centred: bool = True,
                  equalized: bool = True) -> np.ndarray:
        """(G, 2, F) complex transfer functions (left, right) for unit ``directions`` (G, 3) at
        ``freqs`` Hz: the DTFT of ``hrirs(directions)``; zero above the set's Nyquist frequency.

        ``centred``: referenced to the head centre (the set's ``bulk_delay`` removed), as
        ``SphericalHead.responses``; else as measured.
        ``equalized``: divided, per ear, by the diffuse-field response (zero phase; floored at
        ``_EQ_FLOOR_DB`` below its peak): what is common to all directions (the measuring
        loudspeaker, the ear canal and microphone: KEMAR's raw set is 11 dB down at 500 Hz and
        +9 dB at 2.5 kHz in front) goes, what depends on direction (ITD, ILD, pinna notches,
        front/back) stays, and a diffuse field sounds flat. Else the raw measured responses."""
        freqs = np.asarray(freqs, dtype=np.float64).reshape(-1)
        h = self.hrirs(directions)
        out = _dtft(h, self.sample_rate, freqs)
        if centred or equalized:
            out *= self._correction(freqs, centred, equalized)[None]
        return out

    def grid_responses(self, directions: np.ndarray, size: int) -> np.ndarray:
        """(G, 2, size // 2 + 1) complex64: ``responses(directions, rfftfreq(size, 1 / fs))``
        (centred, equalised) on an FFT grid of ``size`` >= the set's own grid, the renderers'
        fast path. The measured responses, delay-aligned, are kept on that grid (one table per
        size, the last few sizes), so a direction costs its three corners' rows, a weighted sum
        and the rotation back to its interpolated onset (one compiled pass, ``_mix_grid``): no
        FFT per direction. The same
        interpolation as ``hrirs``; the fractional onset shift acts on this grid instead of the
        set's own, whose circular shift wraps the shifted responses' band-limited tails and
        ``hrirs`` then cuts them at the set's length (KEMAR at 16 kHz, 200 random directions:
        impulse responses differ by 0.6% of the peak at the median, 6% at most)."""
        size = int(size)
        if not self._tabled(size):
            return self._grid_fallback(directions, size)
        idx, w = self.weights(directions)
        out = np.zeros((len(idx), 2, size // 2 + 1), np.complex64)
        _mix_grid(self._grid_table(size), idx, w, self._grid_phase(idx, w, size), np.zeros((0, 1), np.complex128), out)
        return out

    def mix_grid_responses(self, directions: np.ndarray, size: int, spectra: np.ndarray) -> np.ndarray:
        """(2, size // 2 + 1) complex128: Σ_g ``spectra``[g] · ``grid_responses(directions, size)``[g]
        for (G, size // 2 + 1) ``spectra`` (what a renderer needs: each arrival group's spectrum
        through the head's response for its direction, summed), in one compiled pass without
        the (G, 2, F) responses. Grids outside the tables' range go through ``responses``."""
        size = int(size)
        spectra = np.ascontiguousarray(spectra, dtype=np.complex128)
        if not self._tabled(size):
            return np.einsum("gf,gef->ef", spectra, self._grid_fallback(directions, size))
        idx, w = self.weights(directions)
        out = np.zeros((1, 2, size // 2 + 1), np.complex128)
        _mix_grid(self._grid_table(size), idx, w, self._grid_phase(idx, w, size), spectra, out)
        return out[0]

    def _tabled(self, size: int) -> bool:
        """Whether the FFT grid of ``size`` gets a table (``_grid_table``): from the set's own
        grid up to ``_MAX_GRID``; other grids go through ``responses``."""
        return self._size <= size <= _MAX_GRID

    def _grid_fallback(self, directions: np.ndarray, size: int) -> np.ndarray:
        """``responses`` on the FFT grid of ``size`` (no table): the path for grids outside the tables'."""
        return self.responses(directions, np.fft.rfftfreq(size, 1 / self.sample_rate))

    def _grid_phase(self, idx: np.ndarray, w: np.ndarray, size: int) -> np.ndarray:
        """(G, 2) radians per bin of the rotation from the table's common onset back to each
        direction's interpolated onset τ (the weighted mean of its corners'): 2π fs / size · (anchor − τ)."""
        tau = np.einsum("gk,gke->ge", w, self.onsets[idx])
        return (2 * np.pi * self.sample_rate / size) * (self._anchor - tau)

    def _grid_table(self, size: int) -> np.ndarray:
        """(M, 2, size // 2 + 1) complex64: the delay-aligned HRIRs' spectra on the FFT grid of
        ``size``, centred and equalised (``_correction``), kept for the last
        ``BUDGETS.head_grids`` sizes (~6 MB at 1,024 points for KEMAR)."""
        tables = self.__dict__.get("_grid_tables")
        if tables is None:
            tables = self.__dict__["_grid_tables"] = LRU(BUDGETS.head_grids)
        table = tables.get(size)
        if table is None:
            # aligned on this grid (the measured HRIRs delayed by anchor − onset): at a measured
            # direction the rotation back restores its HRIR exactly
            freqs = np.fft.rfftfreq(size, 1 / self.sample_rate)
            spectra = scipy.fft.rfft(self.ir, n=size, axis=2)
            spectra *= _phase_ramps(-(2 * np.pi * self.sample_rate / size) * (self._anchor - self.onsets), len(freqs))
            spectra *= self._correction(freqs, True, True)[None]
            table = tables[size] = spectra.astype(np.complex64)
        return table

    def _correction(self, freqs: np.ndarray, centred: bool, equalized: bool) -> np.ndarray:
        """(2, F) complex factor of ``responses``: the centring phase and the diffuse-field
        equaliser, kept for the last few frequency grids (renderers ask for the same FFT sizes)."""
        key = (len(freqs), float(freqs[0]) if len(freqs) else 0.0, float(freqs[-1]) if len(freqs) else 0.0,
               centred, equalized)
        cache = self.__dict__.setdefault("_corrections", {})
        hit = cache.get(key)
        if hit is not None and np.array_equal(hit[0], freqs):
            return hit[1]
        factor = np.ones((2, len(freqs)), np.complex128)
        if centred:
            factor *= np.exp(2j * np.pi * freqs * self.bulk_delay)[None]
        if equalized:
            df = self.diffuse_field_response(freqs)
            floor = 10 ** (-_EQ_FLOOR_DB / 20) * max(float(df.max()), 1e-300)
            factor /= np.maximum(df, floor)
        if len(cache) >= 64:  # renderers' early windows take a few dozen FFT sizes
            cache.pop(next(iter(cache)))
        cache[key] = (freqs.copy(), factor)
        return factor

    @property
    def max_lead(self) -> float:
        """Seconds: the most an ear hears a sound ahead of the head's centre, over the measured
        directions (max of −``ear_delays``; KEMAR ~0.4 ms). Renderers put nothing earlier."""
        return float(max(0.0, (self.bulk_delay - self.onsets).max()))

    def diffuse_coherence(self, freqs: np.ndarray) -> np.ndarray:
        """(F,) the interaural coherence of a diffuse field at ``freqs`` (Hz):
        γ(f) = Re Σ Ω_i H_L,i H*_R,i / sqrt(Σ Ω_i |H_L,i|² · Σ Ω_i |H_R,i|²), each measured
        direction weighted by its solid angle (1 at low frequencies, where the ears hear the
        same pressure; towards 0 above ~1.5 kHz); zero above the set's Nyquist frequency.
        Computed on the set's own FFT grid and interpolated linearly in frequency."""
        if getattr(self, "_coherence", None) is None:
            size = scipy.fft.next_fast_len(2 * self.n_taps)
            omega = self.solid_angles
            cross = np.zeros(size // 2 + 1, np.complex128)
            power = np.zeros((2, size // 2 + 1))
            for lo in range(0, len(self.ir), 64):
                spec = scipy.fft.rfft(self.ir[lo:lo + 64], n=size, axis=2)
                cross += np.einsum("m,mf->f", omega[lo:lo + 64], spec[:, 0] * np.conj(spec[:, 1]))
                power += np.einsum("m,mef->ef", omega[lo:lo + 64], np.abs(spec) ** 2)
            gamma = cross.real / np.sqrt(np.maximum(power[0] * power[1], 1e-300))
            self._coherence = (np.fft.rfftfreq(size, 1 / self.sample_rate), np.clip(gamma, -1.0, 1.0))
        grid, gamma = self._coherence
        freqs = np.asarray(freqs, dtype=np.float64).reshape(-1)
        return np.where(np.abs(freqs) <= self.sample_rate / 2, np.interp(np.abs(freqs), grid, gamma), 0.0)

    def ild(self, directions: np.ndarray, band: tuple[float, float] = (4000.0, 8000.0)) -> np.ndarray:
        """(G,) interaural level difference L − R in dB (positive: left louder): the ratio of the
        two ears' energies over ``band`` (Hz), from the interpolated HRIRs' (raw) spectra."""
        lo, hi = float(band[0]), min(float(band[1]), self.sample_rate / 2)
        if not 0 <= lo < hi:
            raise ValueError(f"band must be (low, high) Hz with low < high <= Nyquist, got {band!r}")
        step = self.sample_rate / (4 * self.n_taps)
        freqs = np.linspace(lo, hi, max(16, int(np.ceil((hi - lo) / step)) + 1))
        power = (np.abs(self.responses(directions, freqs, centred=False, equalized=False)) ** 2).mean(axis=2)
        return 10 * np.log10(np.maximum(power[:, 0], 1e-300) / np.maximum(power[:, 1], 1e-300))

    @property
    def solid_angles(self) -> np.ndarray:
        """(M,) steradians each measured direction stands for: its spherical Voronoi cell (sum 4π;
        unmeasured regions go to the nearest measured direction, as the elevation clamp does)."""
        if self._solid_angles is None:
            sv = SphericalVoronoi(self.directions, radius=1.0, center=np.zeros(3))
            self._solid_angles = sv.calculate_areas()
        return self._solid_angles

    def diffuse_field_response(self, freqs: np.ndarray) -> np.ndarray:
        """(2, F) real: per ear, the rms magnitude of the measured (raw) responses over all
        directions, sqrt(Σ Ω_i |H_i(f)|² / Σ Ω_i), each measured direction weighted by its solid
        angle Ω_i: what a diffuse (late) field sounds like at each ear; zero above the set's
        Nyquist frequency. (The ``equalized`` responses have a diffuse-field response of 1.)

        Computed exactly from the weighted sum of the HRIRs' autocorrelations R (2N − 1 lags):
        Σ Ω_i |H_i(f)|² = Σ_l R[l] e^{−2πi f l / fs}, an rfft of R on an FFT grid of ≥ 2N − 1
        points at the set's rate, else a direct cosine sum."""
        freqs = np.asarray(freqs, dtype=np.float64).reshape(-1)
        r = self._autocorrelation()  # (2, N): lags 0..N-1 (R is even)
        n = r.shape[1]
        fs = self.sample_rate
        if len(freqs) > 2 and freqs[0] == 0.0 and freqs[1] > 0:
            size = fs / freqs[1]
            grid = round(size)
            if (abs(size - grid) < 1e-9 * size and grid >= 2 * n - 1 and len(freqs) == grid // 2 + 1
                    and np.abs(freqs - np.arange(len(freqs)) * freqs[1]).max() <= 1e-9 * freqs[-1]):
                buf = np.zeros((2, grid))
                buf[:, :n] = r
                buf[:, grid - n + 1:] = r[:, :0:-1]
                power = scipy.fft.rfft(buf, axis=1).real
                return np.sqrt(np.maximum(power, 0.0))
        power = np.zeros((2, len(freqs)))
        inside = np.flatnonzero(np.abs(freqs) <= fs / 2 * (1 + 1e-12))
        lags = np.arange(1, n)
        for lo in range(0, len(inside), 2048):
            sel = inside[lo:lo + 2048]
            power[:, sel] = r[:, :1] + 2 * r[:, 1:] @ np.cos(2 * np.pi * np.outer(lags, freqs[sel]) / fs)
        return np.sqrt(np.maximum(power, 0.0))

    def _autocorrelation(self) -> np.ndarray:
        """(2, N) Σ_i Ω_i (h_i ⋆ h_i)[l] / Σ Ω_i for lags l = 0..N−1, per ear."""
        if self._acf is None:
            n = self.n_taps
            size = scipy.fft.next_fast_len(2 * n - 1)
            omega = self.solid_angles
            acc = np.zeros((2, size // 2 + 1))
            for lo in range(0, len(self.ir), 64):
                spec = scipy.fft.rfft(self.ir[lo:lo + 64], n=size, axis=2)
                acc += np.einsum("m,mef->ef", omega[lo:lo + 64], np.abs(spec) ** 2)
            self._acf = scipy.fft.irfft(acc / omega.sum(), n=size, axis=1)[:, :n]
        return self._acf

    def __repr__(self) -> str:
        return (f"MeasuredHead({self.name!r}, {len(self.ir)} directions, {self.n_taps} taps at "
                f"{self.sample_rate:g} Hz, elevation {self._el_range[0]:g}..{self._el_range[1]:g} deg)")


@functools.lru_cache(maxsize=8)
def _kemar(sample_rate: float | None) -> MeasuredHead:
    return MeasuredHead.from_npz(KEMAR_PATH, sample_rate)


def SofaHRTF(path: str | Path, sample_rate: float | None = None) -> MeasuredHead:  # noqa: N802 (the old class name)
    """The measured head of a SOFA file: ``MeasuredHead.from_sofa`` (earshot < 0.9 had a
    nearest-direction ``SofaHRTF`` class; the name stays for code written against it)."""
    return MeasuredHead.from_sofa(path, sample_rate)


__all__ = ["MeasuredHead", "SofaError", "SofaHRTF", "onset_times", "KEMAR_PATH", "SOFA_CONVENTION"]

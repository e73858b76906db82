"""Binaural rendering of one source–receiver RIR: ``DirectionalRIR`` keeps the arrivals (delay,
band gains, direction) and the diffuse tail's envelope, and renders them for any head heading.

Arrivals sit on the nearest sample (≤ half a sample of timing error, and the direct path keeps
its exact amplitude), band gains are interpolated over frequency with zero phase, and nothing
precedes the first arrival. Binaural rendering groups arrivals by direction (the first arrival
alone) and applies the head model per group; the tail is rendered as 8 horizontal plane-wave
directions of independent noise through the same head, which decorrelates the ears the way a
diffuse field does and turns with the head.

The process-wide tables below (noise banks, head-shadow bases and banks, heading banks, roots of
unity) are keyed only by sizes, sample rate and head, and bounded (``BUDGETS.noise_banks``,
``BUDGETS.heading_banks``); the band-envelope memo ``_decays`` is keyed by a tail's own
parameters (no scene identity), bounded by ``BUDGETS.tail_decays``. None of them is per-scene
state (that lives in ``acoustics.scene_acoustics.SceneAcoustics``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.fft

from ..scenes.lru import BUDGETS, LRU
from ..scenes.materials import OCTAVE_BANDS_HZ
from ..scenes.splits import SEED_SALT

from .config import HEAD_RADIUS, SPEED_OF_SOUND
from .decay import DECAY_60DB, t30
from .geometry import N_BANDS
from .hrtf import SphericalHead, shadow_alpha, shadow_magnitude

_PRE = 128  # samples of room in front of the early window for zero-phase pre-ringing
_TAIL_DIRECTIONS = 8


def band_weights(freqs: np.ndarray) -> np.ndarray:
    """(6, F) weights that split frequency into the octave bands and sum to 1 everywhere:
    linear in log2(f) between neighbouring centres, flat below 125 Hz and above 4 kHz."""
    f = np.maximum(np.asarray(freqs, dtype=np.float64), 1e-3)
    x = np.clip(np.log2(f / OCTAVE_BANDS_HZ[0]), 0, N_BANDS - 1)
    w = np.zeros((N_BANDS, len(f)))
    lo = np.minimum(np.floor(x).astype(int), N_BANDS - 2)
    frac = x - lo
    w[lo, np.arange(len(f))] = 1 - frac
    w[lo + 1, np.arange(len(f))] += frac
    return w


@dataclass
class DirectionalRIR:
    """One source–receiver impulse response, kept as arrivals + a parametric diffuse tail so that
    it can be rendered for any head orientation without recomputing geometry.

    Attributes:
        sample_rate, n_samples: of rendered RIRs.
        delays: (K,) float64 arrival times, seconds after emission.
        gains: (K, 6) float64 amplitude per octave band.
        directions: (K, 3) float64 unit vectors from the receiver towards each arrival, world frame.
        tail_times: (J,) float64 seconds, increasing: the knots of the tail's envelope.
        tail_level: (J, 6) float64 energy per sample of the diffuse tail at each knot, per band;
            interpolated linearly in dB between knots, held before the first.
        tail_rt60: (6,) float64 seconds, the decay that continues the envelope past the last knot.
        tail_onset, tail_full: seconds; the tail fades in between them (it is zero before the
            first real arrival).
        seed: of the tail's noise (deterministic per scene, config, source and receiver).
        head_radius, speed_of_sound: of the spherical head.
        hrtf: the head ``binaural`` renders with when it is given none: ``AudioConfig.head``'s
            (``compute_rirs`` and ``RIRCache`` set it); None (an RIR read from arrays): the
            sphere of ``head_radius``. Not part of the RIR's data (RIRs are head-independent).
    """

    sample_rate: int
    n_samples: int
    delays: np.ndarray
    gains: np.ndarray
    directions: np.ndarray
    tail_times: np.ndarray
    tail_level: np.ndarray
    tail_rt60: np.ndarray
    tail_onset: float
    tail_full: float
    seed: int
    head_radius: float = HEAD_RADIUS
    speed_of_sound: float = SPEED_OF_SOUND
    hrtf: object = field(default=None, repr=False, compare=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ serialisation
    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "sample_rate": np.int64(self.sample_rate), "n_samples": np.int64(self.n_samples),
            "delays": self.delays, "gains": self.gains, "directions": self.directions,
            "tail_knots": self.tail_times, "tail_level": self.tail_level, "tail_rt60": self.tail_rt60,
            "tail_times": np.array([self.tail_onset, self.tail_full]), "seed": np.uint64(self.seed),
            "head": np.array([self.head_radius, self.speed_of_sound]),
        }

    @classmethod
    def from_arrays(cls, a: dict) -> "DirectionalRIR":
        return cls(int(a["sample_rate"]), int(a["n_samples"]), np.asarray(a["delays"], np.float64),
                   np.asarray(a["gains"], np.float64).reshape(-1, N_BANDS), np.asarray(a["directions"], np.float64).reshape(-1, 3),
                   np.asarray(a["tail_knots"], np.float64).reshape(-1),
                   np.asarray(a["tail_level"], np.float64).reshape(-1, N_BANDS),
                   np.asarray(a["tail_rt60"], np.float64).reshape(N_BANDS),
                   float(a["tail_times"][0]), float(a["tail_times"][1]), int(a["seed"]),
                   float(a["head"][0]), float(a["head"][1]))

    def drop_render_cache(self) -> None:
        """Free the rendering caches (early spectra, tail signals: ~1.3 MB at 16 kHz); the next
        render rebuilds them. The arrivals and tail parameters stay."""
        self._cache.clear()

    def tail_envelope(self, t: np.ndarray) -> np.ndarray:
        """(6, T) energy per sample of the diffuse tail at times ``t`` (seconds), before the
        fade-in at the first arrival."""
        return tail_envelope(self.tail_times, self.tail_level, self.tail_rt60, np.asarray(t, dtype=np.float64))

    def tail_t30(self, seconds: float = 5.0) -> np.ndarray:
        """(6,) T30 of the tail's energy envelope per band."""
        t = np.arange(int(seconds * 1000)) / 1000.0
        env = self.tail_envelope(t)
        return np.array([t30(env[b], 1e-3) for b in range(N_BANDS)])

    @property
    def direct_delay(self) -> float | None:
        """Seconds to the first arrival (None when the receiver hears only the tail)."""
        return float(self.delays.min()) if len(self.delays) else None

    # ------------------------------------------------------------------ rendering
    def _early_setup(self):
        if "early" not in self._cache:
            fs = self.sample_rate
            m = np.round(self.delays * fs).astype(np.int64)
            keep = m < self.n_samples
            m, gains, dirs = m[keep], self.gains[keep], self.directions[keep]
            length = int(min(self.n_samples, (m.max() + 1 if len(m) else 1) + 64))
            size = _grid_size(length + 2 * _PRE)
            freqs, bw = _grid_tables(size, fs)
            # group arrivals by direction so the HRTF is evaluated per group: the first arrival
            # alone (its exact direction sets the ITD), reflections in ~25° cells
            keys = np.round(dirs * 2.5).astype(np.int64)
            if len(keys):
                # one int64 per (cell, is-first) so the grouping sorts scalars, not rows
                # (same groups, same order as np.unique(..., axis=0))
                code = ((keys[:, 0] + 8) * 32 + (keys[:, 1] + 8)) * 32 + (keys[:, 2] + 8)
                code = code * 2
                code[np.argmin(m)] += 1
                _, group = np.unique(code, return_inverse=True)
            else:
                group = np.zeros(0, np.int64)
            group = group.reshape(-1)
            n_groups = int(group.max()) + 1 if len(group) else 0
            # each arrival's zero-phase band gains delayed by m + PRE samples, summed per group
            # and in all (compiled: no (K, F) arrays)
            total = np.zeros(len(freqs), np.complex128)
            group_spec = np.zeros((n_groups, len(freqs)), np.complex128)
            _arrival_spectra(np.ascontiguousarray(gains, np.float64), bw, m + _PRE, _roots_of_unity(size), group,
                             group_spec, total)
            weighted = dirs * np.abs(gains).sum(axis=1, keepdims=True)
            group_dir = np.zeros((n_groups, 3))
            np.add.at(group_dir, group, weighted)
            norm = np.linalg.norm(group_dir, axis=1, keepdims=True)
            group_dir /= np.maximum(norm, 1e-12)
            # a source at the listener's own position has no direction: heard from above (the
            # median plane, no interaural difference)
            group_dir[norm[:, 0] < 1e-12] = (0.0, 0.0, 1.0)
            self._cache["early"] = (length, size, freqs, total, group_spec, group_dir)
            # nothing is heard before the first sound arrives: the zero-phase band filters of
            # later arrivals ring slightly ahead of them, and that must not precede it
            self._cache["first_sample"] = int(m.min()) if len(m) else self.n_samples
        return self._cache["early"]

    def _tail_envelope(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """The tail's amplitude envelope per band and direction: (decay (6, n − start) from
        ``start``, the first sample of the tail (zero before it; a view of the decay shared by the
        receivers of a cell), ramped (6, k): its first k samples times the onset ramp, which
        replace the decay's there), ``start``, and the noise bank offset of this RIR."""
        if "envelope" in self._cache:
            return self._cache["envelope"]
        fs, n = self.sample_rate, self.n_samples
        # the onset ramp, evaluated where it is neither 0 nor 1 (a few ms of the n samples): 0
        # before lo, the smoothstep over [lo, hi), 1 from hi on
        lo = min(n, max(0, int(np.floor(self.tail_onset * fs)) - 1))
        hi = min(n, max(lo, int(np.ceil(self.tail_full * fs)) + 2))
        part = np.clip((np.arange(lo, hi) / fs - self.tail_onset) / max(self.tail_full - self.tail_onset, 1e-6), 0, 1)
        part = part * part * (3 - 2 * part)  # smoothstep
        # the decay (without the onset ramp) is shared by every receiver of a cell: cached
        key = (self.tail_times.tobytes(), self.tail_level.tobytes(), self.tail_rt60.tobytes(), n, fs)
        decay = _decays.get(key)
        if decay is None:
            env = self.tail_envelope(np.arange(n) / fs)
            decay = _decays[key] = np.sqrt(np.maximum(env, 0.0) / _TAIL_DIRECTIONS).astype(np.float32)  # directions add energies
            decay.flags.writeable = False
        positive = np.flatnonzero(part > 0)
        start = lo + int(positive[0]) if len(positive) else (hi if hi < n else n)
        ends = max(hi, start) - start  # samples of the ramp after start
        ramped = decay[:, start:start + ends] * np.sqrt(part[start - lo:start - lo + ends]).astype(np.float32)[None]
        self._cache["envelope"] = (decay[:, start:], ramped, start, int(self.seed % n))
        return self._cache["envelope"]

    def _enveloped(self, bank: np.ndarray) -> np.ndarray:
        """(K, n) float32: the rows of ``bank`` (K, 6, 2n) read at this RIR's offset, shaped by
        its band envelopes and summed over the bands (zero before the tail starts)."""
        n = self.n_samples
        decay, ramped, start, offset = self._tail_envelope()
        out = np.zeros((len(bank), n), np.float32)
        out[:, start:] = np.einsum("kbt,bt->kt", bank[:, :, offset + start:offset + n], decay)
        k = ramped.shape[1]
        if k:  # the onset ramp's samples
            out[:, start:start + k] = np.einsum("kbt,bt->kt", bank[:, :, offset + start:offset + start + k], ramped)
        return out

    def _tail_setup(self):
        """The tail's noise per direction: a process-wide bank of band-filtered noise, read at an
        offset set by this RIR's seed (white noise at different offsets is uncorrelated, so
        different RIRs get independent tails) and shaped by the band envelopes."""
        if "tail" not in self._cache:
            n = self.n_samples
            size, freqs, bank = _noise_bank(n, self.sample_rate)
            signals = self._enveloped(bank)
            azimuths = 2 * np.pi * (np.arange(_TAIL_DIRECTIONS) + 0.5) / _TAIL_DIRECTIONS
            self._cache["tail"] = (size, freqs, signals, azimuths)
        return self._cache["tail"]

    def _tail_shadow_parts(self, head: SphericalHead):
        """Per tail direction, P_k and Q_k with the head shadow |H(α, f)| ≈ w0(f) + α w1(f):
        then an ear hears Σ_k shift(P_k + α_k Q_k, delay_k), with no FFT per heading. The
        shadow filters are applied to the bank before the (slowly varying) envelopes."""
        key = ("shadow", head.radius, head.c)
        if key not in self._cache:
            pq = self._enveloped(_shadow_bank(self.n_samples, self.sample_rate, head))  # P rows, then Q rows
            self._cache[key] = (pq[:_TAIL_DIRECTIONS], pq[_TAIL_DIRECTIONS:])
        return self._cache[key]

    def omni(self) -> np.ndarray:
        """(n_samples,) float32 mono (omnidirectional) RIR."""
        length, size, _, total, _, _ = self._early_setup()
        out = np.zeros(self.n_samples)
        early = scipy.fft.irfft(total, n=size)[_PRE:_PRE + length]
        early[: self._cache["first_sample"]] = 0.0
        out[:length] += early
        out += self._tail_setup()[2].sum(axis=0)
        return out.astype(np.float32)

    def binaural(self, heading: float, hrtf=None) -> np.ndarray:
        """(2, n_samples) float32 RIR at the (left, right) ears of a head facing ``heading``
        (radians counter-clockwise from +x). ``hrtf``: a ``SphericalHead`` or ``MeasuredHead``;
        default ``self.hrtf`` (the config's head), else the sphere of ``head_radius``.

        Every arrival group (the first arrival alone) is filtered by the head's response for its
        direction relative to the head: the sphere's closed form, or a measured head's HRIR
        interpolated between measured directions (delay-aligned barycentric weights: continuous
        as the head turns) and diffuse-field equalised. The tail: see ``_tail_binaural``."""
        if not np.isfinite(heading):
            raise ValueError(f"heading must be a finite angle in radians, got {heading!r}")
        head = hrtf or self.hrtf or self._head()
        c, s = np.cos(heading), np.sin(heading)
        to_head = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
        out = np.zeros((2, self.n_samples))
        length, size, freqs, _, group_spec, group_dir = self._early_setup()
        if len(group_spec):
            if hasattr(head, "mix_grid_responses"):  # a measured head: its responses kept on this grid
                spec = head.mix_grid_responses(group_dir @ to_head.T, size, group_spec)
            else:
                spec = np.einsum("gf,gef->ef", group_spec, head.responses(group_dir @ to_head.T, freqs))
            out[:, :length] = scipy.fft.irfft(spec, n=size, axis=1)[:, _PRE:_PRE + length]
            # the nearer ear may hear the first sound up to a head radius ahead of the centre
            out[:, : max(self._cache["first_sample"] - _lead_samples(head, self.sample_rate), 0)] = 0.0
        out += self._tail_binaural(heading, head)
        return out.astype(np.float32)

    def _tail_binaural(self, heading: float, head) -> np.ndarray:
        """The diffuse tail at the two ears. A measured head: two noise signals per octave band
        mixed so that the ears' coherence is the head's diffuse-field coherence at every
        frequency (``MeasuredHead.diffuse_coherence``) and their spectrum its (equalised, hence
        flat) diffuse-field response; a diffuse field is isotropic, so this does not depend on
        the heading (``_diffuse_bank``). The sphere: 8 horizontal plane waves of independent
        noise through the head, which turn with it."""
        n = self.n_samples
        bank = None
        measured = hasattr(head, "diffuse_coherence")
        if measured:  # a measured head: the same tail at every heading
            kept = self._cache.get("diffuse_tail")
            if kept is not None and kept[0] is head:
                return kept[1]
            bank = _diffuse_bank(n, self.sample_rate, head)
        elif isinstance(head, SphericalHead) and _on_heading_grid(heading):
            # headings on the 45° grid (every grid-motion env): the ear signals of the whole
            # noise bank for this heading are built once per process (see _heading_bank)
            bank = _heading_bank(n, self.sample_rate, head, heading)
        if bank is not None:
            # one RIR's tail: a band-weighted sum of 2 x 6 rows of the process-wide bank
            out = self._enveloped(bank)
            if measured:
                out.flags.writeable = False  # shared by every heading's render of this RIR
                self._cache["diffuse_tail"] = (head, out)
            return out
        if isinstance(head, SphericalHead):
            # the tail is diffuse: whole-sample ear delays and a two-term shadow are exact enough
            p, q = self._tail_shadow_parts(head)
            alpha, delays = _tail_ear_weights(head, heading, self.sample_rate)
            pad = int(np.abs(delays).max()) + 1
            out = np.zeros((2, n + 2 * pad), np.float32)
            for ear in range(2):
                for k in range(_TAIL_DIRECTIONS):
                    start = pad + delays[k, ear]
                    out[ear, start:start + n] += p[k] + np.float32(alpha[ear, k]) * q[k]
            return out[:, pad:pad + n]
        dirs = _tail_directions(heading)
        size, freqs, signals, _ = self._tail_setup()
        spec = scipy.fft.rfft(signals, n=size, axis=1)
        h = head.responses(dirs, freqs)
        return scipy.fft.irfft(np.einsum("df,def->ef", spec, h), n=size, axis=1)[:, :n]

    def _head(self) -> SphericalHead:
        if "head" not in self._cache:
            self._cache["head"] = SphericalHead(self.head_radius, self.speed_of_sound)
        return self._cache["head"]


def tail_envelope(times: np.ndarray, levels: np.ndarray, rt60: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(6, T) the knot envelope (``DirectionalRIR.tail_times`` etc.) evaluated at times ``t``:
    linear in dB between knots, held before the first, decaying with ``rt60`` after the last."""
    log_level = np.log(np.maximum(levels, 1e-300))  # (J, 6)
    out = np.empty((N_BANDS, len(t)))
    for b in range(N_BANDS):
        out[b] = np.interp(t, times, log_level[:, b])
    after = t > times[-1]
    if after.any():
        out[:, after] = log_level[-1][:, None] - DECAY_60DB * (t[after] - times[-1])[None] / np.maximum(rt60, 1e-3)[:, None]
    env = np.exp(out)
    env[:, :] = np.where(np.isfinite(env), env, 0.0)
    return env


# (6, n) float32 band envelopes keyed by the tail's own knots, levels and T60 (no scene identity:
# receivers of one cell share an envelope, and an entry is valid for whatever scene made it)
_decays: LRU = LRU(BUDGETS.tail_decays)
# one entry per (RIR length, sample rate, head): a handful per process, bounded all the same
_noise_banks: LRU = LRU(BUDGETS.noise_banks)
_shadow_banks: LRU = LRU(BUDGETS.noise_banks)


def _noise_bank(n: int, sample_rate: int):
    """(size, freqs, bank (D, 6, 2n) float32): fixed band-filtered white noise per tail
    direction and octave band, stored twice over so any offset < n reads n samples."""
    key = (n, sample_rate)
    if key not in _noise_banks:
        size = scipy.fft.next_fast_len(n)
        freqs = np.fft.rfftfreq(size, 1 / sample_rate)
        spec = scipy.fft.rfft(np.random.default_rng(SEED_SALT).standard_normal((_TAIL_DIRECTIONS, size)), axis=1)
        bw = band_weights(freqs)
        bank = np.stack([scipy.fft.irfft(spec * bw[b][None], n=size, axis=1) for b in range(N_BANDS)], axis=1)
        _noise_banks[key] = (size, freqs, np.concatenate([bank, bank], axis=2)[:, :, : 2 * n].astype(np.float32))
    return _noise_banks[key]


def _shadow_bank(n: int, sample_rate: int, head: SphericalHead) -> np.ndarray:
    """(2D, 6, 2n) float32: the noise bank filtered by the two head-shadow basis responses w0
    (first D rows) and w1 (last D rows)."""
    key = (n, sample_rate, head.radius, head.c)
    if key not in _shadow_banks:
        size, _, bank = _noise_bank(n, sample_rate)
        w0, w1 = _shadow_basis(size, sample_rate, head)
        spec = scipy.fft.rfft(bank[:, :, :size], n=size, axis=2)
        parts = []
        for w in (w0, w1):
            x = scipy.fft.irfft(spec * w, n=size, axis=2)
            parts.append(np.concatenate([x, x], axis=2)[:, :, : 2 * n].astype(np.float32))
        _shadow_banks[key] = np.concatenate(parts, axis=0)
    return _shadow_banks[key]


_diffuse_banks: LRU = LRU(BUDGETS.noise_banks)


def _diffuse_bank(n: int, sample_rate: int, head) -> np.ndarray:
    """(2, 6, 2n) float32: the (left, right) ears' diffuse-field noise per octave band for a
    measured ``head``: with two independent rows N1, N2 of the noise bank,
    L = C N1 + S N2 and R = C N1 − S N2 per frequency, C = cos θ, S = sin θ, cos 2θ = γ(f) the
    head's diffuse-field interaural coherence. Each ear keeps the rows' power (C² + S² = 1) and
    the ears' normalised cross-spectrum is C² − S² = γ. Scaled by √D so that it carries the
    energy of the D directions ``_tail_envelope`` divides the envelope among. Built once per
    (length, rate, head) and process."""
    key = (n, sample_rate, id(head))
    hit = _diffuse_banks.get(key)
    if hit is not None and hit[0] is head:
        return hit[1]
    size, freqs, bank = _noise_bank(n, sample_rate)
    gamma = np.clip(head.diffuse_coherence(freqs), -1.0, 1.0)
    theta = 0.5 * np.arccos(gamma)
    cos, sin = np.cos(theta), np.sin(theta)
    n1 = scipy.fft.rfft(bank[0, :, :size], n=size, axis=-1)
    n2 = scipy.fft.rfft(bank[1, :, :size], n=size, axis=-1)
    ears = []
    for sign in (1.0, -1.0):
        x = scipy.fft.irfft(cos * n1 + sign * sin * n2, n=size, axis=-1) * np.sqrt(_TAIL_DIRECTIONS)
        ears.append(np.concatenate([x, x], axis=-1)[:, : 2 * n])
    out = np.stack(ears).astype(np.float32)
    _diffuse_banks[key] = (head, out)  # the head is kept with its bank, so its id is not reused
    return out


def _lead_samples(head, sample_rate: int) -> int:
    """Whole samples by which an ear may hear a sound before the head's centre would: the
    sphere's a/c, a measured head's largest lead of an ear over its centre (KEMAR: ~0.4 ms), + 1."""
    if isinstance(head, SphericalHead):
        lead = head.radius / head.c
    else:
        lead = getattr(head, "max_lead", HEAD_RADIUS / SPEED_OF_SOUND)
    return int(np.ceil(lead * sample_rate)) + 1


_grids: LRU = LRU(16)


def _grid_tables(size: int, fs: int) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies (F,), octave band weights (6, F)) of the rfft grid of ``size`` at ``fs``,
    kept for the few grids renders use (a few hundred kB)."""
    key = (int(size), int(fs))
    hit = _grids.get(key)
    if hit is None:
        freqs = np.fft.rfftfreq(size, 1 / fs)
        hit = (freqs, band_weights(freqs))
        for array in hit:
            array.flags.writeable = False  # shared by every render on this grid
        _grids[key] = hit
    return hit


@numba.njit(cache=True, nogil=True)
def _arrival_spectra(gains, bw, shift, roots, group, group_spec, total):  # pragma: no cover (compiled)
    """Adds each arrival's spectrum on the rfft grid of ``len(roots)`` points, its zero-phase
    band gains ``gains`` (K, 6) through the band weights ``bw`` (6, F) delayed by ``shift`` (K,)
    whole samples (exp(−2πi shift·j / size) read from ``roots``, the size-th roots of unity:
    exact, the exponent taken modulo size), to its group's row of ``group_spec`` (G, F) (rows
    ``group`` (K,)) and to ``total`` (F,)."""
    size = roots.shape[0]
    n_bins = bw.shape[1]
    for a in range(gains.shape[0]):
        step = shift[a] % size
        at = 0
        row = group[a]
        for j in range(n_bins):
            amp = 0.0
            for b in range(bw.shape[0]):
                amp += gains[a, b] * bw[b, j]
            value = amp * roots[at]
            group_spec[row, j] += value
            total[j] += value
            at += step
            if at >= size:
                at -= size


def _grid_size(n: int) -> int:
    """The early part's FFT size for ``n`` samples: the smallest 2^k or 3·2^k >= n (>= 64), so
    that renders share a few grids (a measured head keeps its responses per grid)."""
    n = max(int(n), 64)
    k = int(np.ceil(np.log2(n)))
    return 3 << (k - 2) if (3 << (k - 2)) >= n else 1 << k


_roots: LRU = LRU(BUDGETS.noise_banks)


def _roots_of_unity(size: int) -> np.ndarray:
    """(size,) complex128 exp(-2πi k / size), cached per FFT size."""
    if size not in _roots:
        _roots[size] = np.exp(-2j * np.pi * np.arange(size) / size)
    return _roots[size]


_heading_banks: LRU = LRU(BUDGETS.heading_banks)
_GRID = np.pi / 4


def _on_heading_grid(heading: float) -> bool:
    """Whether ``heading`` is a multiple of 45° (to 1e-6 rad): at most 8 heading banks exist."""
    q = heading / _GRID
    return abs(q - round(q)) < 1e-6 / _GRID


def _heading_bank(n: int, sample_rate: int, head: SphericalHead, heading: float) -> np.ndarray:
    """(2, 6, 2n) float32: what the (left, right) ears of a head facing ``heading`` hear of the
    noise bank's 8 diffuse directions, per octave band: Σ_k shift(B0_k + α_k B1_k, delay_k) with
    the head-shadow parts B0, B1 of ``_shadow_bank`` and whole-sample Woodworth delays.

    An RIR's binaural tail is then Σ_b amp_b(t) · bank[ear, b, offset + t]: the band envelopes
    are applied after the ear delays (at most a head radius, ~0.3 ms, over which they change
    by < 0.2 dB) instead of before, which lets the 16 per-direction rows be summed once per
    heading instead of once per RIR."""
    turns = int(round(heading / _GRID)) % 8
    key = (n, sample_rate, head.radius, head.c, turns)
    if key not in _heading_banks:
        bank = _shadow_bank(n, sample_rate, head)
        alpha, delays = _tail_ear_weights(head, turns * _GRID, sample_rate)
        out = np.zeros((2,) + bank.shape[1:], np.float32)
        for ear in range(2):
            for k in range(_TAIL_DIRECTIONS):
                row = bank[k] + np.float32(alpha[ear, k]) * bank[_TAIL_DIRECTIONS + k]
                out[ear] += np.roll(row, delays[k, ear], axis=-1)  # the bank repeats with period next_fast_len(n), = n for usual rates
        _heading_banks[key] = out
    return _heading_banks[key]


def _tail_directions(heading: float) -> np.ndarray:
    """(D, 3) unit directions of the tail's diffuse sources in the frame of a head facing ``heading``."""
    rel = 2 * np.pi * (np.arange(_TAIL_DIRECTIONS) + 0.5) / _TAIL_DIRECTIONS - heading
    return np.c_[np.cos(rel), np.sin(rel), np.zeros(len(rel))]


def _tail_ear_weights(head: SphericalHead, heading: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(alpha (2, D), delays (D, 2)): per ear and tail direction, the Brown–Duda shadow α and the
    whole-sample Woodworth delay."""
    dirs = _tail_directions(heading)
    delays = np.round(head.ear_delays(dirs) * sample_rate).astype(np.int64)
    alpha = np.stack([shadow_alpha(np.arccos(np.clip(dirs[:, 1] * ear_y, -1, 1))) for ear_y in (1.0, -1.0)])
    return alpha, delays


_shadow_bases: LRU = LRU(BUDGETS.noise_banks)


def _shadow_basis(size: int, sample_rate: int, head: SphericalHead) -> tuple[np.ndarray, np.ndarray]:
    """(w0, w1), each (F,): the least-squares fit |H(α, f)| ≈ w0(f) + α w1(f) over α in [0.1, 2]
    (exact at low and high frequencies; 0.5 dB rms, at most 2.9 dB for the far ear), cached per FFT size."""
    key = (size, sample_rate, head.radius, head.c)
    if key not in _shadow_bases:
        alphas = np.linspace(0.1, 2.0, 64)
        x = 2 * np.pi * np.fft.rfftfreq(size, 1 / sample_rate) / (2 * head.c / head.radius)
        mags = shadow_magnitude(alphas, x)  # (A, F)
        design = np.c_[np.ones_like(alphas), alphas]
        coef, *_ = np.linalg.lstsq(design, mags, rcond=None)
        _shadow_bases[key] = (coef[0], coef[1])
    return _shadow_bases[key]


__all__ = ["DirectionalRIR", "band_weights", "tail_envelope"]

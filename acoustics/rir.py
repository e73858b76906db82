"""Room impulse responses from scene geometry: early arrivals (image sources, paths through
doors) plus a ray-traced late tail, rendered binaurally for any heading.

Amplitudes: a free-field arrival at distance d has amplitude 1/d (1 at 1 m), saturating at
1/source_radius within a source's radius (``AudioConfig.source_radius``); every reflection
multiplies band b by sqrt((1 − α_b)(1 − s)) of the surface it hits (the specular share; the
scattered share s is in the ray-traced tail, as in pyroomacoustics' hybrid model). Sample 0 of
every RIR is the moment of emission; arrivals sit on the nearest sample (≤ half a sample of timing
error, and the direct path keeps its exact amplitude), band gains are interpolated over frequency
with zero phase, and nothing precedes the first arrival.

Early part:
- rooms of annotated scenes (procedural apartments): image sources of the source's room, each
  path validated against the whole scene (``acoustics.paths``);
- receivers in other rooms: paths through the doors, bent at the doors' edges (knife-edge
  diffraction) and reflected in the receiver's room (``acoustics.diffraction``): they hear the
  door's direction, and the level grows towards it;
- meshes without rooms (scans, user meshes): image sources of the mesh's own largest planes,
  each path confirmed with Embree (``paths.mesh_early_arrivals``), so concave rooms reflect off
  the walls they have.

Late tail (default ``tail="traced"``): earshot's stochastic ray tracer over the mesh
(``acoustics.raytrace``): one source's rays give the energy density over time per octave band in
every room (cells of 2 m for meshes without rooms), which sets the receiver's diffuse tail; it
fades in from the receiver's first real arrival (never before it) to the room's energy peak and
is kept as an envelope with knots (linear in dB between them). ``tail="parametric"`` is the older
statistical model (rooms coupled through doors, Fitzroy's T60; ray statistics without rooms),
and ``"raytraced"`` pyroomacoustics' ray tracer (slow, a reference).

Binaural rendering groups arrivals by direction (the first arrival alone) and applies the head
model per group; the tail is rendered as 8 horizontal plane-wave directions of independent noise
through the same head, which decorrelates the ears the way a diffuse field does and turns with
the head.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import scipy.fft

from ..scenes import Scene
from ..scenes.checks import check_points
from ..scenes.lru import BUDGETS, LRU
from ..scenes.splits import SEED_SALT
from ..scenes.materials import OCTAVE_BANDS_HZ

from .config import HEAD_RADIUS, SPEED_OF_SOUND, AudioConfig
from .decay import DECAY_60DB, t30
from .geometry import N_BANDS, _models, build_pra_room, coupled_decay, ray_stats, room_stats
from .hrtf import SphericalHead, shadow_alpha, shadow_magnitude
from .diffraction import door_arrivals
from .paths import early_arrivals, mesh_early_arrivals, mesh_image_order
from .raytrace import cell_of, energy_field, knot_times, trace_origin

TRACE_SECONDS = 0.8  # s of ray tracing at most; the envelope goes on past it with the late decay

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
            size = scipy.fft.next_fast_len(length + 2 * _PRE)
            freqs = np.fft.rfftfreq(size, 1 / fs)
            bw = band_weights(freqs)
            spectra = gains @ bw  # (K, F) zero-phase band gains
            # exp(-2πi (m + PRE) f / size) read from a table of the size-th roots of unity
            # (the exponent is an integer modulo size: exact, and no complex exp per element)
            phase = _roots_of_unity(size)[np.outer(m + _PRE, np.arange(len(freqs))) % size]
            arrivals = spectra * phase
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
            # sums per group as segment sums over the arrivals sorted by group
            order = np.argsort(group, kind="stable")
            starts = np.flatnonzero(np.r_[True, np.diff(group[order]) > 0]) if len(group) else np.zeros(0, np.int64)
            group_spec = np.add.reduceat(arrivals[order], starts, axis=0) if len(group) else \
                np.zeros((0, len(freqs)), np.complex128)
            weighted = dirs * np.abs(gains).sum(axis=1, keepdims=True)
            group_dir = np.add.reduceat(weighted[order], starts, axis=0) if len(group) else np.zeros((0, 3))
            group_dir /= np.maximum(np.linalg.norm(group_dir, axis=1, keepdims=True), 1e-12)
            self._cache["early"] = (length, size, freqs, arrivals.sum(axis=0), group_spec, group_dir)
            # nothing is heard before the first sound arrives: the zero-phase band filters of
            # later arrivals ring slightly ahead of them, and that must not precede it
            self._cache["first_sample"] = int(m.min()) if len(m) else self.n_samples
        return self._cache["early"]

    def _tail_envelope(self) -> tuple[np.ndarray, int, int]:
        """(6, n - start) amplitude envelope per band and direction from ``start``, the first
        sample of the tail (zero before it), and the noise bank offset of this RIR."""
        if "envelope" in self._cache:
            return self._cache["envelope"]
        fs, n = self.sample_rate, self.n_samples
        # the onset ramp, evaluated where it is neither 0 nor 1 (a few ms of the n samples)
        lo = min(n, max(0, int(np.floor(self.tail_onset * fs)) - 1))
        hi = min(n, max(lo, int(np.ceil(self.tail_full * fs)) + 2))
        ramp = np.zeros(n)
        ramp[hi:] = 1.0
        part = np.clip((np.arange(lo, hi) / fs - self.tail_onset) / max(self.tail_full - self.tail_onset, 1e-6), 0, 1)
        ramp[lo:hi] = part * part * (3 - 2 * part)  # smoothstep
        # the decay (without the onset ramp) is shared by every receiver of a cell: cached
        key = (self.tail_times.tobytes(), self.tail_level.tobytes(), self.tail_rt60.tobytes(), n, fs)
        decay = _decays.get(key)
        if decay is None:
            env = self.tail_envelope(np.arange(n) / fs)
            decay = _decays[key] = np.sqrt(np.maximum(env, 0.0) / _TAIL_DIRECTIONS).astype(np.float32)  # directions add energies
        start = int(np.argmax(ramp > 0)) if ramp[-1] > 0 else n
        amp = decay[:, start:].copy()
        ends = max(hi, start) - start  # samples of the ramp after start
        amp[:, :ends] *= np.sqrt(ramp[start:start + ends]).astype(np.float32)[None]
        self._cache["envelope"] = (amp, start, int(self.seed % n))
        return self._cache["envelope"]

    def _shaped(self, bank: np.ndarray) -> np.ndarray:
        """(K, n) float32: the rows of ``bank`` (K, 6, 2n) read at this RIR's offset and shaped
        by its band envelopes (zero before the tail starts)."""
        n = self.n_samples
        amp, start, offset = self._tail_envelope()
        out = np.zeros((len(bank), n), np.float32)
        out[:, start:] = np.einsum("kbt,bt->kt", bank[:, :, offset + start:offset + n], amp)
        return out

    def _tail_setup(self):
        """The tail's noise per direction: a process-wide bank of band-filtered noise, read at an
        offset set by this RIR's seed (white noise at different offsets is uncorrelated, so
        different RIRs get independent tails) and shaped by the band envelopes."""
        if "tail" not in self._cache:
            n = self.n_samples
            size, freqs, bank = _noise_bank(n, self.sample_rate)
            signals = self._shaped(bank)
            azimuths = 2 * np.pi * (np.arange(_TAIL_DIRECTIONS) + 0.5) / _TAIL_DIRECTIONS
            self._cache["tail"] = (size, freqs, signals, azimuths)
        return self._cache["tail"]

    def _tail_shadow_parts(self, head: SphericalHead):
        """Per tail direction, P_k and Q_k with the head shadow |H(α, f)| ≈ w0(f) + α w1(f):
        then an ear hears Σ_k shift(P_k + α_k Q_k, delay_k), with no FFT per heading. The
        shadow filters are applied to the bank before the (slowly varying) envelopes."""
        key = ("shadow", head.radius, head.c)
        if key not in self._cache:
            pq = self._shaped(_shadow_bank(self.n_samples, self.sample_rate, head))  # P rows, then Q rows
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
        (radians counter-clockwise from +x). ``hrtf`` defaults to the spherical head."""
        if not np.isfinite(heading):
            raise ValueError(f"heading must be a finite angle in radians, got {heading!r}")
        head = hrtf or self._head()
        c, s = np.cos(heading), np.sin(heading)
        to_head = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
        out = np.zeros((2, self.n_samples))
        length, size, freqs, _, group_spec, group_dir = self._early_setup()
        if len(group_spec):
            h = head.responses(group_dir @ to_head.T, freqs)  # (G, 2, F)
            spec = np.einsum("gf,gef->ef", group_spec, h)
            out[:, :length] = scipy.fft.irfft(spec, n=size, axis=1)[:, _PRE:_PRE + length]
            # the nearer ear may hear the first sound up to a head radius ahead of the centre
            lead = int(np.ceil(self.head_radius / self.speed_of_sound * self.sample_rate)) + 1
            out[:, : max(self._cache["first_sample"] - lead, 0)] = 0.0
        out += self._tail_binaural(heading, head)
        return out.astype(np.float32)

    def _tail_binaural(self, heading: float, head) -> np.ndarray:
        n = self.n_samples
        if isinstance(head, SphericalHead) and _on_heading_grid(heading):
            # headings on the 45° grid (every grid-motion env): the ear signals of the whole
            # noise bank for this heading are built once per process, then one RIR costs a
            # band-weighted sum of 2 x 6 rows (see _heading_bank)
            amp, start, offset = self._tail_envelope()
            bank = _heading_bank(n, self.sample_rate, head, heading)
            out = np.zeros((2, n), np.float32)
            out[:, start:] = np.einsum("ebt,bt->et", bank[:, :, offset + start:offset + n], amp)
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


_decays: LRU = LRU(BUDGETS.tail_decays)  # (6, n) float32 band envelopes per (levels, rt60)
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


# ---------------------------------------------------------------------------------------------


def compute_rir(scene: Scene, source, receiver, config: AudioConfig | None = None) -> DirectionalRIR:
    """The RIR from ``source`` to ``receiver`` ((3,) points in metres, as given)."""
    return compute_rirs(scene, source, np.asarray(receiver, dtype=np.float64).reshape(1, 3), config)[0]


def compute_rirs(scene: Scene, source, receivers, config: AudioConfig | None = None, *,
                 check_free_space: bool = True, direct: bool = True) -> list[DirectionalRIR]:
    """RIRs from one ``source`` (3,) to many ``receivers`` (M, 3), sharing one image-source pass.

    Points must lie in the scene's free space (one clear error otherwise); callers that pass
    points known to be free, such as NavGraph nodes at ear height, may skip that check.
    ``direct=False`` leaves out the straight source-to-receiver path (echoes: an emitter on the
    listener's own head; the diffuse tail then starts at the first reflection)."""
    config = config or AudioConfig()
    if not isinstance(config, AudioConfig):
        raise ValueError(f"config must be an AudioConfig, got {type(config).__name__}")
    src = check_points("source", source, 3, single=True)
    rec = check_points("receivers", receivers, 3)
    if check_free_space:
        check_in_free_space(scene, src[None], "source")
        check_in_free_space(scene, rec, "receiver")
    c, fs = config.speed_of_sound, config.sample_rate

    if scene.rooms:
        arrivals = early_arrivals(scene, src, rec, config.ism_order, fs)
        traced_order = config.ism_order
    else:  # a mesh without room annotations reflects off its own planes
        arrivals = mesh_early_arrivals(scene, src, rec, config.ism_order)
        traced_order = mesh_image_order(scene, src, config.ism_order)
    if scene.rooms and scene.doors:
        arrivals = _with_door_paths(scene, src, rec, arrivals, config)
    field = cells = None
    if config.tail == "traced":
        field = energy_field(scene, trace_origin(scene, src), rays=config.rays, seconds=min(config.rir_seconds, TRACE_SECONDS),
                             ism_order=traced_order, speed_of_sound=c, seed_text=config.config_hash)
        cells = cell_of(scene, rec)
    raytraced_rt60 = None
    if config.tail == "raytraced":
        room = build_pra_room(scene, fs, 0, config.include_furniture, ray_tracing=True, rays=config.rays)
        room.add_source(src)
        room.add_microphone_array(rec.T.copy())
        raytraced_rt60 = _raytraced_rt60(room, len(rec), c)

    results = []
    for m, r in enumerate(rec):
        dist, amplitude, directions = arrivals[m]
        if not direct:
            keep = np.abs(dist - np.linalg.norm(r - src)) > 1e-6
            dist, amplitude, directions = dist[keep], amplitude[keep], directions[keep]
        spreading = np.maximum(dist, config.source_radius)  # near field: see AudioConfig.source_radius
        if field is not None:
            tail = _traced_tail(field, int(cells[m]), dist, scene, src, r, config)
        else:
            tail = _tail_parameters(scene, src, r, config, raytraced_rt60[m] if raytraced_rt60 is not None else None)
        results.append(DirectionalRIR(
            fs, config.rir_samples, dist / c, amplitude / spreading[:, None], directions, *tail,
            seed=_seed(scene, config, src, r), head_radius=config.head_radius, speed_of_sound=c))
    return results


def check_in_free_space(scene: Scene, points: np.ndarray, what: str) -> None:
    """Raise one ValueError naming the first of ``points`` (M, 3) that is not in the scene's free
    space (below the floor, above the ceiling, outside the mesh, inside a wall or slab): sound
    sources and listeners must be in the air inside the scene."""
    if not isinstance(scene, Scene):
        raise ValueError(f"scene must be a earshot.scenes.Scene, got {type(scene).__name__}")
    for k, problem in enumerate(scene.free_space_problems(points)):
        if problem is not None:
            p = points[k]
            label = what if len(points) == 1 else f"{what} {k}"
            raise ValueError(f"{label} at ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m is {problem}; sources and "
                             f"receivers must lie in free space inside scene {scene.name!r}")


def _seed(scene: Scene, config: AudioConfig, src, rec) -> int:
    key = f"{scene.content_hash}|{config.config_hash}|{np.round(src, 4).tolist()}|{np.round(rec, 4).tolist()}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def _tail_parameters(scene: Scene, src, rec, config: AudioConfig, rt60_override=None):
    """(levels (J, 6), rt60 (J, 6), onset s, full s) of the late tail at ``rec``: energy per
    sample (c / fs) · w(t) with w the diffuse energy density of ``geometry.coupled_decay`` (rooms
    coupled through doors) or, without rooms, of one space measured by rays around ``rec``."""
    c, fs = config.speed_of_sound, config.sample_rate
    if scene.rooms:
        stats = room_stats(scene, c)
        r_room, s_room = _room_of(scene, rec), _room_of(scene, src)
        cache = _models.setdefault(scene, {})
        key = ("coupled_decay", s_room, r_room, c)
        if key not in cache:  # one eigenproblem per room pair and scene, not per receiver
            cache[key] = coupled_decay(scene, stats, s_room, r_room, c)
        weights, rt60 = cache[key]
        path_length = _door_path_length(scene, s_room, r_room, src, rec)
        space = stats[r_room]
    else:
        space = ray_stats(scene, rec, c)
        path_length = float(np.linalg.norm(rec - src))
        weights, rt60 = (4 * np.pi / space.volume) * np.ones((1, N_BANDS)), space.rt60[None]
    levels = c / fs * weights
    if rt60_override is not None:
        # pyroomacoustics' decay: one slope from the coupled rooms' peak level (in another room
        # the energy starts at zero and peaks once it has flowed through the doors)
        t = np.arange(0, 1.0, 1e-3)
        env = np.einsum("jb,jbt->bt", levels, np.exp(-DECAY_60DB * t[None, None] / np.asarray(rt60)[..., None]))
        levels, rt60 = env.max(axis=1)[None], np.asarray(rt60_override, dtype=np.float64)[None]
    onset = path_length / c
    full = onset + max(config.ism_order * space.mean_free_path / c, 0.005)
    rt60 = np.asarray(rt60, dtype=np.float64)
    times = knot_times(config.rir_seconds)
    knots = np.einsum("jb,jbt->tb", levels, np.exp(-DECAY_60DB * times[None, None] / rt60[..., None]))
    # past the last knot the slowest decay with any weight goes on
    final = np.where(levels > 0, rt60, 0.0).max(axis=0)
    return times, knots, np.maximum(final, 1e-3), onset, full


def _with_door_paths(scene: Scene, src: np.ndarray, rec: np.ndarray, arrivals: list, config: AudioConfig) -> list:
    """Receivers outside the source's room: the paths through the doors (``acoustics.diffraction``)
    join the image-source paths, and replace their plain direct path (a lit path through an
    opening is the same arrival, with the edge's loss where it passes close to one)."""
    rooms = cell_of(scene, rec)
    s_room = int(cell_of(scene, src[None])[0])
    doors = door_arrivals(scene, src, rec, s_room, rooms, config.ism_order, config.speed_of_sound)
    out = []
    for m, (dist, gains, dirs) in enumerate(arrivals):
        if doors[m] is None:
            out.append((dist, gains, dirs))
            continue
        keep = np.abs(dist - np.linalg.norm(rec[m] - src)) > 1e-6  # drop the direct path
        d2, g2, v2 = doors[m]
        out.append((np.r_[dist[keep], d2], np.r_[gains[keep], g2], np.r_[dirs[keep], v2]))
    return out


def _traced_tail(field, cell: int, path_lengths: np.ndarray, scene: Scene, src, rec, config: AudioConfig):
    """(levels (J, 6), rt60 (J, 6), onset s, full s) of the ray-traced tail of the receiver's
    cell: it starts at the receiver's first real arrival (the shortest early path, else the
    shortest walk through the doors) and reaches the cell's traced level at the histogram's peak."""
    c, fs = config.speed_of_sound, config.sample_rate
    if len(path_lengths):
        first = float(path_lengths.min())
    elif scene.rooms:
        first = _door_path_length(scene, _room_of(scene, src), _room_of(scene, rec), src, rec)
    else:
        first = float(np.linalg.norm(np.asarray(rec) - np.asarray(src)))
    onset = first / c
    full = max(float(field.start[cell]), onset + 0.002)
    key = ("tail", cell, c, fs)
    if key not in field.tails:  # shared by every receiver of the cell
        field.tails[key] = _cell_tail(field, cell, c, fs)
    return (*field.tails[key], onset, full)


def _cell_tail(field, cell: int, c: float, fs: int):
    """(knot times (J,), energy per sample (J, 6), late T60 (6,)) of one cell of a traced field."""
    times, levels, rt60 = field.times, field.levels[cell], field.rt60[cell]
    use = ~np.isnan(levels).all(axis=1)
    if not use.any():  # no energy reached this cell
        return times[:1], np.zeros((1, N_BANDS)), np.full(N_BANDS, 0.1)
    times, levels = times[use], c / fs * levels[use]
    # a band's knots past its reliable part continue with its late decay
    for b in range(N_BANDS):
        bad = np.isnan(levels[:, b])
        if bad.any():
            good = np.flatnonzero(~bad)
            last = good[-1] if len(good) else 0
            base = levels[last, b] if len(good) else 0.0
            after = np.arange(len(times)) > last
            levels[after, b] = base * np.exp(-DECAY_60DB * (times[after] - times[last]) / max(rt60[b], 1e-3))
            levels[np.isnan(levels[:, b]), b] = base
    return times, levels, np.where(np.isfinite(rt60), rt60, 0.1)


def _room_of(scene: Scene, point) -> int:
    i = scene.room_at(point)
    if i >= 0:
        return i
    centres = np.array([r.center for r in scene.rooms])
    return int(np.argmin(np.linalg.norm(centres - np.asarray(point)[:2], axis=1)))


def _door_path_length(scene: Scene, s_room: int, r_room: int, src, rec) -> float:
    """Length (m) of the shortest walk from ``src`` to ``rec`` through door centres, straight
    within each room (Dijkstra over the doors; the straight line when no doors join the rooms)."""
    src, rec = np.asarray(src, dtype=np.float64), np.asarray(rec, dtype=np.float64)
    if s_room == r_room:
        return float(np.linalg.norm(rec - src))
    import heapq

    centres = [np.asarray(d.center[:2], dtype=np.float64) for d in scene.doors]
    arrived = -1  # the "room" of a heap item that has reached the receiver
    # heap items are (distance, door index, room entered): all comparable scalars
    heap = [(float(np.linalg.norm(centres[k] - src[:2])), k, d.rooms[1] if d.rooms[0] == s_room else d.rooms[0])
            for k, d in enumerate(scene.doors) if s_room in d.rooms]
    heapq.heapify(heap)
    settled: set[tuple[int, int]] = set()
    while heap:
        dist, k, room = heapq.heappop(heap)
        if room == arrived:
            return dist
        if (k, room) in settled:
            continue
        settled.add((k, room))
        if room == r_room:  # the last leg, straight to the receiver, competes with longer door paths
            heapq.heappush(heap, (dist + float(np.linalg.norm(rec[:2] - centres[k])), k, arrived))
            continue
        for j, door in enumerate(scene.doors):
            if room in door.rooms and j != k:
                nxt = door.rooms[1] if door.rooms[0] == room else door.rooms[0]
                heapq.heappush(heap, (dist + float(np.linalg.norm(centres[j] - centres[k])), j, nxt))
    return float(np.linalg.norm(rec - src))  # rooms not joined by doors


def _raytraced_rt60(room, n_receivers: int, c: float) -> list[np.ndarray]:
    """Per receiver (6,) T60 fitted (T30) to pyroomacoustics' ray-traced energy histograms."""
    room.ray_tracing()
    bin_s = room.rt_args["hist_bin_size"]
    out = []
    for m in range(n_receivers):
        hist = np.asarray(room.rt_histograms[m][0][0], dtype=np.float64)[:N_BANDS]  # (bands, bins)
        out.append(np.array([t30(hist[b], bin_s) for b in range(N_BANDS)]))
    return out


def tail_vs_raytraced(scene: Scene, source, receivers, config: AudioConfig | None = None, rays: int = 5000) -> np.ndarray:
    """(M, 6) ratios of the fast tail's T30 (``config.tail``, ray-traced by default) to the T60 fitted to pyroomacoustics' ray tracer
    (furniture included) for the same source and receivers: the fast tail's validation."""
    config = config or AudioConfig()
    fast = compute_rirs(scene, source, receivers, config)
    traced = compute_rirs(scene, source, receivers, config.replace(tail="raytraced", rays=rays, include_furniture=True))
    return np.array([a.tail_t30() / b.tail_rt60 for a, b in zip(fast, traced)])

"""Built-in sound sources, synthesised procedurally (no data files), and loading of user audio.

Every built-in sound is deterministic (its noise is seeded by its name), loops seamlessly over
its period, and belongs to a category. Like SoundSpaces' heard/unheard protocol, the sounds are
split into ``"heard"`` (for training) and ``"unheard"`` (held out for testing) sets that share
no sound.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

_TWO_PI = 2 * np.pi


@dataclass(frozen=True)
class SoundSpec:
    name: str
    category: str
    split: str  # "heard" or "unheard"
    period: float  # seconds; the synthesised clip loops with this period
    make: Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _tone(t, f):
    return np.sin(_TWO_PI * f * t)


def _gate(t, on, period):
    return ((t % period) < on).astype(np.float64)


def _envelope(t, attack, decay, period):
    u = t % period
    return np.where(u < attack, u / attack, np.exp(-(u - attack) / decay))


def _band_noise(rng, n, fs, lo, hi):
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / fs)
    spec[(f < lo) | (f > hi)] = 0
    x = np.fft.irfft(spec, n)
    return x / (np.abs(x).max() + 1e-12)


def _telephone(t, rng):  # 440 + 480 Hz dual tone, 2 s on / 4 s off (US ring cadence)
    return (_tone(t, 440) + _tone(t, 480)) * 0.5 * _gate(t, 2.0, 6.0)


def _alarm(t, rng):  # 3 kHz beeps, 0.25 s on / 0.25 s off
    return _tone(t, 3000) * _gate(t, 0.25, 0.5)


def _beeping(t, rng):  # microwave-like 1 kHz beep every second
    return _tone(t, 1000) * _gate(t, 0.15, 1.0)


def _music(t, rng):  # a C-major arpeggio with harmonics, 4 notes per second
    notes = np.array([261.63, 329.63, 392.0, 523.25])
    f = notes[(np.floor(t * 4) % 4).astype(int)]
    phase = _TWO_PI * np.cumsum(f) * (t[1] - t[0])
    env = _envelope(t, 0.01, 0.12, 0.25)
    return (np.sin(phase) + 0.4 * np.sin(2 * phase) + 0.2 * np.sin(3 * phase)) * env / 1.6


def _babble(t, rng):  # speech-like: pitch-modulated glottal pulses through moving formants
    fs = 1 / (t[1] - t[0])
    n = len(t)
    f0 = 120 + 30 * np.sin(_TWO_PI * 3.1 * t) + 15 * np.sin(_TWO_PI * 0.7 * t)
    pulses = np.sign(np.sin(_TWO_PI * np.cumsum(f0) / fs)) * 0.5
    syllables = (0.5 + 0.5 * np.sin(_TWO_PI * 4.0 * t)) ** 2
    noise = _band_noise(rng, n, fs, 300, 3000)
    return (0.7 * pulses + 0.3 * noise) * syllables


def _footsteps(t, rng):  # thuds at 2 steps per second: low band noise bursts
    fs = 1 / (t[1] - t[0])
    return _band_noise(rng, len(t), fs, 40, 400) * _envelope(t, 0.005, 0.04, 0.5)


def _water(t, rng):  # running water: band noise with fast random amplitude flutter
    fs = 1 / (t[1] - t[0])
    flutter = 0.6 + 0.4 * _band_noise(rng, len(t), fs, 5, 40)
    return _band_noise(rng, len(t), fs, 500, 6000) * flutter


def _fan(t, rng):  # fan hum: 50 Hz harmonics + broadband whoosh
    fs = 1 / (t[1] - t[0])
    hum = sum(_tone(t, 50 * k) / k for k in range(1, 6))
    return 0.5 * hum / 2.3 + 0.3 * _band_noise(rng, len(t), fs, 100, 2000)


def _dog(t, rng):  # dog-bark-like: harsh 500 Hz bursts with noise, twice per 1.5 s
    fs = 1 / (t[1] - t[0])
    bark = (np.sign(_tone(t, 480)) * 0.6 + _band_noise(rng, len(t), fs, 300, 2500)) * _envelope(t, 0.01, 0.08, 0.75)
    return bark * _gate(t, 0.3, 0.75)


def _knocking(t, rng):  # three knocks, then a pause
    fs = 1 / (t[1] - t[0])
    u = t % 2.0
    hits = sum(np.where((u >= k * 0.2) & (u < k * 0.2 + 0.1), np.exp(-(u - k * 0.2) / 0.015), 0.0) for k in range(3))
    return _band_noise(rng, len(t), fs, 100, 1500) * hits


def _siren(t, rng):  # two-tone sweep between 600 and 1200 Hz
    fs = 1 / (t[1] - t[0])
    f = 900 + 300 * np.sin(_TWO_PI * 0.5 * t)
    return np.sin(_TWO_PI * np.cumsum(f) / fs)


def _clock(t, rng):  # ticking: short 4 kHz clicks each second
    fs = 1 / (t[1] - t[0])
    return _band_noise(rng, len(t), fs, 2000, 7000) * _envelope(t, 0.001, 0.005, 1.0)


def _doorbell(t, rng):  # ding-dong: 660 Hz then 520 Hz decaying tones
    u = t % 3.0
    ding = _tone(t, 660) * np.where(u < 0.6, np.exp(-u / 0.3), 0)
    dong = _tone(t, 520) * np.where(u >= 0.6, np.exp(-(u - 0.6) / 0.5), 0)
    return ding + dong


def _vacuum(t, rng):  # vacuum cleaner: whine at 1.5 kHz + broadband roar
    fs = 1 / (t[1] - t[0])
    return 0.3 * _tone(t, 1500) + 0.7 * _band_noise(rng, len(t), fs, 200, 5000)


def _birds(t, rng):  # chirps: fast upward sweeps 2–4 kHz
    fs = 1 / (t[1] - t[0])
    u = t % 0.4
    f = 2000 + 5000 * u
    return np.sin(_TWO_PI * np.cumsum(f) / fs) * np.where(u < 0.08, np.sin(np.pi * u / 0.08), 0)


def _piano(t, rng):  # a slow melody of decaying partials
    notes = np.array([392.0, 440.0, 349.23, 293.66])
    f = notes[(np.floor(t / 0.5) % 4).astype(int)]
    fs = 1 / (t[1] - t[0])
    phase = _TWO_PI * np.cumsum(f) / fs
    env = _envelope(t, 0.005, 0.3, 0.5)
    return (np.sin(phase) + 0.5 * np.sin(2 * phase) + 0.25 * np.sin(3 * phase)) * env / 1.75


SOUNDS: dict[str, SoundSpec] = {s.name: s for s in [
    SoundSpec("telephone", "telephone_ring", "heard", 6.0, _telephone),
    SoundSpec("alarm", "alarm", "heard", 0.5, _alarm),
    SoundSpec("beeping", "beeping", "heard", 1.0, _beeping),
    SoundSpec("music", "music", "heard", 1.0, _music),
    SoundSpec("babble", "speech", "heard", 4.0, _babble),
    SoundSpec("footsteps", "footsteps", "heard", 4.0, _footsteps),
    SoundSpec("water", "running_water", "heard", 4.0, _water),
    SoundSpec("fan", "fan_hum", "heard", 4.0, _fan),
    SoundSpec("dog", "dog_bark", "heard", 1.5, _dog),
    SoundSpec("knocking", "knocking", "heard", 2.0, _knocking),
    SoundSpec("siren", "siren", "unheard", 2.0, _siren),
    SoundSpec("clock", "clock_tick", "unheard", 1.0, _clock),
    SoundSpec("doorbell", "doorbell", "unheard", 3.0, _doorbell),
    SoundSpec("vacuum", "vacuum_cleaner", "unheard", 4.0, _vacuum),
    SoundSpec("birds", "bird_chirp", "unheard", 0.4, _birds),
    SoundSpec("piano", "music", "unheard", 2.0, _piano),
]}


def sound_names(split: str | None = None) -> list[str]:
    """Built-in sound names, all or of one split ("heard" or "unheard")."""
    if split not in (None, "heard", "unheard"):
        raise ValueError(f"split must be 'heard', 'unheard' or None, got {split!r}")
    return [n for n, s in SOUNDS.items() if split is None or s.split == split]


# Variants of a built-in sound, "<name>~<k>" (k = 0, 1, ...): training on many variants of the
# heard sounds teaches an agent to hear where a sound comes from and how near it is whatever its
# spectrum, rhythm and loudness, rather than for ten fixed clips. Variant k of a sound is
# deterministic (its draws are seeded by its full name) and differs from the sound in
#   pitch:    every frequency (and the tempo) scaled by 2^u, u ~ U(-1, 1) (an octave either way),
#   colour:   a spectral tilt of s dB per octave around 1 kHz, s ~ U(-6, 6),
#   rhythm:   with probability 1/2, gated on/off m times per period (m in 1..4, duty U(0.3, 0.8)),
#   level:    a peak of 0.5 x 10^(g/20), g ~ U(-9, 0) dB.
# A variant is of its sound's split: the unheard sounds are never varied into the heard set's.
_VARIANT_SEP = "~"
VARIANT_PITCH_OCTAVES = 1.0
VARIANT_TILT_DB_PER_OCTAVE = 6.0
VARIANT_LEVEL_DB = (-9.0, 0.0)


def split_sound_name(name: str) -> tuple[str, int | None]:
    """("telephone", 3) for "telephone~3", ("telephone", None) for "telephone"; ValueError for a
    name that is neither a built-in sound nor a variant of one."""
    base, sep, k = name.partition(_VARIANT_SEP) if isinstance(name, str) else (None, "", "")
    if base not in SOUNDS or (sep and not (k.isdigit() and str(int(k)) == k)):
        raise ValueError(f"unknown sound {name!r}; built-in sounds are: {', '.join(SOUNDS)}, or a variant "
                         f"'<sound>{_VARIANT_SEP}<k>' of one (k = 0, 1, ...)")
    return base, (int(k) if sep else None)


def is_sound_name(name) -> bool:
    """Whether ``name`` is a built-in sound or a variant of one (``make_sound`` can make it)."""
    try:
        split_sound_name(name)
    except ValueError:
        return False
    return True


def sound_variants(names: list[str], count: int) -> list[str]:
    """``count`` variants of each sound in ``names`` ("telephone~0", ..., "telephone~<count-1>")."""
    return [f"{split_sound_name(n)[0]}{_VARIANT_SEP}{k}" for n in names for k in range(count)]


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def _vary(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """One period of a looping sound varied in pitch, colour and rhythm (module comment), still
    looping seamlessly (every change is periodic in the period), and its level in dB."""
    from scipy.signal import resample

    u = rng.uniform(-VARIANT_PITCH_OCTAVES, VARIANT_PITCH_OCTAVES)
    n = max(int(round(len(x) / 2.0 ** u)), 16)
    y = resample(x, n)  # Fourier resampling: periodic, and band-limited when it raises the pitch
    spec = np.fft.rfft(y)
    f = np.fft.rfftfreq(n, 1 / sample_rate)
    tilt = rng.uniform(-VARIANT_TILT_DB_PER_OCTAVE, VARIANT_TILT_DB_PER_OCTAVE)
    octaves = np.log2(np.maximum(f, 20.0) / 1000.0)
    y = np.fft.irfft(spec * 10.0 ** (tilt * octaves / 20.0), n)
    if rng.random() < 0.5:
        m, duty = int(rng.integers(1, 5)), rng.uniform(0.3, 0.8)
        phase = (np.arange(n) / n * m + rng.random()) % 1.0
        ramp = max(int(0.005 * sample_rate), 1) / (n / m)  # 5 ms fades: no clicks at the gate's edges
        y = y * np.clip(np.minimum(phase, duty - phase) / ramp, 0.0, 1.0)
    return y, rng.uniform(*VARIANT_LEVEL_DB)


def make_sound(name: str, sample_rate: int, seconds: float | None = None) -> np.ndarray:
    """(n,) float32 samples of a built-in sound, peak-normalised to 0.5, deterministic.

    ``name`` may be a variant "<sound>~<k>" (see ``sound_variants``): the sound changed in pitch,
    colour, rhythm and level, with a peak of 0.5 or less. ``seconds`` defaults to one period of
    the sound; longer requests loop it seamlessly.
    """
    from ..scenes.checks import check_int, check_number

    base, variant = split_sound_name(name)
    check_int("sample_rate", sample_rate, low=1_000, high=384_000)
    if seconds is not None:
        check_number("seconds", seconds, low=0.0, high=3600.0, low_open=True, unit="s")
    spec = SOUNDS[base]
    period_n = int(round(spec.period * sample_rate))
    t = np.arange(period_n) / sample_rate
    x = spec.make(t, np.random.default_rng(_seed(base)))
    level_db = 0.0
    if variant is not None:
        x, level_db = _vary(x, sample_rate, np.random.default_rng(_seed(name)))
    x = x - x.mean()
    x = 0.5 * 10.0 ** (level_db / 20.0) * x / (np.abs(x).max() + 1e-12)
    n = len(x) if seconds is None else int(round(seconds * sample_rate))
    return np.resize(x, n).astype(np.float32)


def active_starts(sound: np.ndarray, window: int) -> np.ndarray:
    """The positions in one period of a looping ``sound`` where a ``window``-sample excerpt holds
    at least half the energy of its loudest excerpt (a ring's silence is never all one hears):
    where a listener hears the source sounding."""
    x = np.asarray(sound, np.float64)
    looped = np.resize(x, len(x) + window)
    energy = np.concatenate([[0.0], np.cumsum(looped * looped)])
    excerpt = energy[window: window + len(x)] - energy[: len(x)]
    return np.flatnonzero(excerpt >= 0.5 * excerpt.max())


def load_sound(path: str | Path, sample_rate: int) -> np.ndarray:
    """Mono float32 samples of an audio file (wav, flac, ogg, ...) resampled to ``sample_rate``.

    Raises ValueError for an unreadable file, zero-length audio or a silent source.
    """
    import soundfile
    from scipy.signal import resample_poly

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"sound file {str(path)!r} does not exist")
    try:
        data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except Exception as exc:
        raise ValueError(f"could not read sound file {str(path)!r}: {exc}") from exc
    if data.shape[0] == 0:
        raise ValueError(f"sound file {str(path)!r} has no samples (zero-length audio)")
    x = data.mean(axis=1)
    if not np.any(np.abs(x) > 1e-6):
        raise ValueError(f"sound file {str(path)!r} is silent: a sound source must make some sound")
    if rate != sample_rate:
        g = np.gcd(int(rate), int(sample_rate))
        x = resample_poly(x, int(sample_rate) // g, int(rate) // g)
    return x.astype(np.float32)

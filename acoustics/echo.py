"""Echoes: an agent emits a short chirp and hears the room answer (VisualEchoes, Beyond Image to
Depth). The emitter sits at the centre of the agent's head, between its ears.

A real device does not record its own emission as part of the room's answer: the speaker's
direct leakage into its microphones is a fixed, known signal that is measured once and
subtracted (or gated out before the first possible reflection). earshot models that device:
the echo RIR holds every reflection and the diffuse tail, and not the straight emitter-to-ear
path, which would otherwise be ~5 times louder than any echo and hide them. So the first thing
an agent hears is the nearest surface's reflection, at 2·d/c after the emission.

The emitter is a speaker facing where the agent faces (``AudioConfig.emitter``, "cardioid" by
default): a reflection leaving it at θ from the front carries (1 + cos θ) / 2 of the amplitude
(the direction of the last leg stands for the first: exact for single reflections, which come
back the way they went), and the diffuse tail a third of the energy (the cardioid's mean power
over the sphere). Without it, a spherical head cannot tell echoes from in front and behind.

``ECHO_CONFIG`` holds the defaults: 44.1 kHz, the chirp of ``AudioConfig`` (3 ms linear sweep,
20 Hz to 20 kHz), 60 ms of echo (``step_seconds``) and the spectrogram of Beyond Image to Depth
(n_fft 512, window 64, hop 16: 257 frequency bins x 166 frames per ear, no pooling).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..scenes import Scene
from ..scenes.checks import check_points
from .config import AudioConfig
from .features import spectrogram
from .rir import DirectionalRIR, compute_rirs
from .scene_acoustics import SceneAcoustics
from .heads import load_head

ECHO_CONFIG = AudioConfig(sample_rate=44_100, rir_seconds=0.1, step_seconds=0.06, n_fft=512, hop_length=16,
                          win_length=64, pool=1)
ECHO_FULL_SCALE = 4.0  # the microphones clip at ±4, like the navigation envs' (the chirp peaks at 1)


def chirp(config: AudioConfig = ECHO_CONFIG) -> np.ndarray:
    """(n,) float32: the emitted linear sweep from ``chirp_low_hz`` to ``chirp_high_hz`` over
    ``chirp_seconds``, amplitude 1, starting at phase 0."""
    _check(config)
    fs = config.sample_rate
    if config.chirp_high_hz >= fs / 2:
        raise ValueError(f"the chirp's top frequency chirp_high_hz={config.chirp_high_hz:g} Hz must be below half the "
                         f"sample rate ({fs / 2:g} Hz): use sample_rate=44100 (earshot.acoustics.echo.ECHO_CONFIG) "
                         "or a lower chirp_high_hz")
    n = max(2, int(round(config.chirp_seconds * fs)))
    t = np.arange(n) / fs
    f0, f1, dur = config.chirp_low_hz, config.chirp_high_hz, n / fs
    phase = 2 * np.pi * (f0 * t + (f1 - f0) / (2 * dur) * t * t)
    return np.sin(phase).astype(np.float32)


def echo_rirs(scene: Scene, points, config: AudioConfig = ECHO_CONFIG, check_free_space: bool = True, *,
              acoustics: SceneAcoustics | None = None) -> list[DirectionalRIR]:
    """The echo RIR at each of ``points`` (M, 3): emitter and ears both there (the head's centre),
    every reflection and the diffuse tail, no direct path (see the module's docstring).
    ``acoustics``: the scene's SceneAcoustics (default: the scene's own)."""
    _check(config)
    pts = check_points("points", points, 3)
    return [compute_rirs(scene, p, p[None], config, check_free_space=check_free_space, direct=False,
                         acoustics=acoustics)[0] for p in pts]


def echo_audio(rir: DirectionalRIR, heading: float, config: AudioConfig = ECHO_CONFIG) -> np.ndarray:
    """(2, step_samples) float32: what the (left, right) ears of a head facing ``heading`` hear
    from the emission on (sample 0), clipped at the microphones' full scale."""
    _check(config)
    if rir.sample_rate != config.sample_rate:
        raise ValueError(f"the RIR is at {rir.sample_rate} Hz but config is at {config.sample_rate} Hz: "
                         "compute it with the same AudioConfig")
    n = config.step_samples
    h = _directed(rir, heading, config).binaural(heading, hrtf=load_head(config))
    x = chirp(config)
    size = 1 << int(np.ceil(np.log2(len(x) + h.shape[1] - 1)))
    out = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size, axis=1), size, axis=1)[:, :n]
    # the recording is causal: nothing before each ear's RIR starts (not even FFT rounding noise)
    for ear in range(2):
        out[ear, : int(np.argmax(h[ear] != 0)) if h[ear].any() else n] = 0.0
    if out.shape[1] < n:
        out = np.pad(out, ((0, 0), (0, n - out.shape[1])))
    return np.clip(out, -ECHO_FULL_SCALE, ECHO_FULL_SCALE).astype(np.float32)


def echo_spectrogram(audio, config: AudioConfig = ECHO_CONFIG, backend: str = "numpy", normalize: bool = True):
    """(F, T, 2) spectrogram of echo ``audio`` (log1p |STFT| with ``config``'s STFT sizes), divided by
    its upper bound log1p(full scale x win_length / 2) when ``normalize`` (then in [0, 1])."""
    spec = spectrogram(audio, config, backend=backend)
    if normalize:
        spec = spec / float(np.log1p(ECHO_FULL_SCALE * config.win_length / 2))
    return spec


def _directed(rir: DirectionalRIR, heading: float, config: AudioConfig) -> DirectionalRIR:
    """``rir`` as emitted by the config's emitter facing ``heading``."""
    if config.emitter == "omni":
        return rir
    front = np.array([np.cos(heading), np.sin(heading), 0.0])
    amplitude = 0.5 * (1.0 + rir.directions @ front)
    return dataclasses.replace(rir, gains=rir.gains * amplitude[:, None], tail_level=rir.tail_level / 3.0, _cache={})


def _check(config) -> None:
    if not isinstance(config, AudioConfig):
        raise ValueError(f"config must be an earshot.acoustics.AudioConfig, got {type(config).__name__}")


__all__ = ["ECHO_CONFIG", "ECHO_FULL_SCALE", "chirp", "echo_audio", "echo_rirs", "echo_spectrogram"]

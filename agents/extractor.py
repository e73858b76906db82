"""AV-Nav's observation encoder for stable-baselines3: one CNN per visual key, a CNN shaped for
the binaural spectrogram, a 1-D CNN for raw waveforms and an MLP for vector keys, fused by
concatenation (Chen et al., SoundSpaces, ECCV 2020: per-modality encoders, then a recurrent
state and actor/critic heads, which SB3's policies add).

Layouts: SB3 transposes uint8 images (``rgb``) to channels-first before the policy; earshot's
float maps (``depth`` (H, W, 1), ``spectrogram`` (F, T, 2)) arrive channels-last and are
permuted here. Values are already in [0, 1] (SB3 divides uint8 images by 255; earshot's depth
and spectrogram are normalised by the env).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from stable_baselines3.common.torch_layers import BaseFeaturesExtractor


def _channels_first(shape: tuple[int, ...]) -> bool:
    """(C, H, W) when the first axis looks like channels and the last does not."""
    return shape[0] in (1, 2, 3, 4) and shape[-1] not in (1, 2, 3, 4)


def _conv_out(net: nn.Module, shape: tuple[int, ...]) -> int:
    with torch.no_grad():
        return int(net(torch.zeros(1, *shape)).shape[1])


# The env's spectrogram is SoundSpaces' log1p |STFT| scaled to [0, 1]. log1p is linear below a
# magnitude of 1, where nearly every bin of a source more than a few metres away lies: there the
# ears' level difference (ILD, the direction cue) is a difference of two numbers ~0.005, about
# 0.002 (measured over random AudioGoal steps). A second log makes it a ratio again: a 2.4 dB ILD
# becomes ~0.025 at every distance, and the overall level (how near the source is) a shift.
AUDIO_FEATURE_KEYS = ("binaural_cues", "gcc_phat", "onset_cues")  # audio maps other than the spectrogram
_SPEC_FLOOR = 1e-5  # ~ -130 dB re full scale, below which the env's values are float32 noise
_SPEC_RANGE = float(-np.log(_SPEC_FLOOR))
ILD_GAIN = 10.0  # the binaural encoder's third channel: ILD_GAIN x (left - right), log-compressed


def log_compress(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] spectrogram -> [0, 1] log-compressed: (log(x + floor) - log floor) / -log floor."""
    return (torch.log(x + _SPEC_FLOOR) + _SPEC_RANGE) / _SPEC_RANGE


class _MapEncoder(nn.Module):
    """CNN over a (C, H, W) map, flattened to ``hidden`` features with a ReLU (spectrograms are
    log-compressed first, see ``log_compress``)."""

    def __init__(self, shape_chw: tuple[int, int, int], hidden: int, spectrogram: bool, audio: bool = False):
        super().__init__()
        c, h, w = shape_chw
        self.ild = spectrogram and c == 2
        c += self.ild  # binaural: the ears' difference as a third channel
        if spectrogram or audio:  # 65 x 26 at 16 kHz: smaller kernels than an image CNN, no stride in time first
            layers = [nn.Conv2d(c, 16, (5, 3), (2, 1)), nn.ReLU(), nn.Conv2d(16, 32, 3, 2), nn.ReLU(),
                      nn.Conv2d(32, 32, 3, 1), nn.ReLU()]
        else:  # the SimpleCNN of AV-Nav (8/4, 4/2, 3/1), narrower for CPU training
            layers = [nn.Conv2d(c, 16, 8, 4), nn.ReLU(), nn.Conv2d(16, 32, 4, 2), nn.ReLU(),
                      nn.Conv2d(32, 32, 3, 1), nn.ReLU()]
        cnn = nn.Sequential(*layers, nn.Flatten())
        try:
            n = _conv_out(cnn, (c, h, w))
        except RuntimeError as exc:
            raise ValueError(f"observation of shape {(c, h, w)} (channels, height, width) is too small for the "
                             f"{'spectrogram' if spectrogram else 'image'} CNN; use at least 36 x 36 images") from exc
        self.net = nn.Sequential(cnn, nn.Linear(n, hidden), nn.ReLU())
        self.spectrogram = spectrogram

    def forward(self, x):
        if self.spectrogram:
            x = log_compress(x)
            if self.ild:  # left - right, x10: a 2.4 dB ILD becomes ~0.25, comparable to the levels
                x = torch.cat([x, ILD_GAIN * (x[:, :1] - x[:, 1:2])], dim=1)
        return self.net(x)


class _WaveEncoder(nn.Module):
    """1-D CNN over a (channels, samples) waveform (the ``audiogoal`` key)."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(channels, 16, 64, 16), nn.ReLU(), nn.Conv1d(16, 32, 32, 8), nn.ReLU(),
                                 nn.AdaptiveAvgPool1d(16), nn.Flatten(), nn.Linear(32 * 16, hidden), nn.ReLU())

    def forward(self, x):
        return self.net(x)


SEMANTIC_KEY = "semantic"  # per-pixel categories: 1 + the CATEGORIES index (0: structure), / 255 as an image


class _SemanticEncoder(nn.Module):
    """The ``semantic`` sensor as two masks for an image CNN: the pixels of the goal's category
    (with a ``category`` one-hot observed: the semantic task's goal) or, without it, each pixel's
    category / 16, and the pixels of any object. Categories arrive as images do, divided by 255."""

    def __init__(self, shape_hw: tuple[int, int], hidden: int, goal: bool):
        super().__init__()
        self.goal = goal
        self.cnn = _MapEncoder((2, *shape_hw), hidden, spectrogram=False)

    def masks(self, x: torch.Tensor, category: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 2, H, W): the goal category's mask (or the scaled category) and the objects' mask."""
        labels = torch.round(x[:, :1] * 255.0)
        if self.goal:
            target = (category.argmax(dim=1) + 1).to(labels.dtype).reshape(-1, 1, 1, 1)
            first = (labels == target).float()
        else:
            first = labels / 16.0
        return torch.cat([first, (labels > 0).float()], dim=1)

    def forward(self, x, category=None):
        return self.cnn(self.masks(x, category))


def _segmented_space(spaces: dict) -> dict:
    """The keys the extractor encodes when a segmenter makes ``semantic`` from ``rgb`` and
    ``depth``: ``rgb`` feeds the segmenter only; one clear error when they are missing."""
    if SEMANTIC_KEY in spaces:
        raise ValueError("the policy has a segmenter and the env a 'semantic' sensor: use one; leave 'semantic' out of "
                         "the sensors (the segmenter makes it from rgb and depth) or drop --segmenter")
    rgb, depth = spaces.get("rgb"), spaces.get("depth")
    if rgb is None or depth is None:
        raise ValueError("a segmenter labels RGB-D frames: add 'rgb' and 'depth' to the env's sensors "
                         f"(it has {sorted(spaces)})")
    shape = tuple(rgb.shape)
    h, w = shape[1:] if _channels_first(shape) else shape[:2]
    if tuple(depth.shape)[:2] != (h, w):
        raise ValueError(f"rgb is {h}x{w} but depth {tuple(depth.shape)}: the segmenter needs both at one resolution")
    out = {k: v for k, v in spaces.items() if k != "rgb"}
    out[SEMANTIC_KEY] = gym.spaces.Box(0, 255, (1, h, w), np.uint8)
    return out


class AVNavExtractor(BaseFeaturesExtractor):
    """Features of a Dict observation: ``hidden`` per map or waveform key, ``vector_hidden`` per
    vector key, concatenated in sorted key order.

    Args:
        observation_space: the (SB3-preprocessed) Dict space.
        hidden: features per visual or audio key (AV-Nav: 512; 128 trains ~3x faster on CPU).
        vector_hidden: features per vector key (pointgoal, category).
        segmenter: width of a learned semantic sensor (``earshot.agents.segmenter``; 0: none):
            the ``rgb`` and ``depth`` keys go through it (frozen) and its per-pixel categories
            through the encoder a ``semantic`` sensor would have (``rgb`` gets no encoder of its own).
    """

    def __init__(self, observation_space: gym.spaces.Dict, hidden: int = 128, vector_hidden: int = 32,
                 segmenter: int = 0):
        if not isinstance(observation_space, gym.spaces.Dict):
            raise ValueError(f"AVNavExtractor needs a Dict observation space, got {type(observation_space).__name__}")
        spaces = dict(observation_space.spaces)
        if segmenter:
            spaces = _segmented_space(spaces)
        encoders, permute, sizes = {}, {}, {}
        for key in sorted(spaces):
            space = spaces[key]
            shape = tuple(space.shape or ())
            if isinstance(space, gym.spaces.Discrete):
                enc, size = nn.Sequential(nn.Linear(int(space.n), vector_hidden), nn.ReLU()), vector_hidden
            elif key == SEMANTIC_KEY:
                first = _channels_first(shape)
                h, w = shape[1:] if first else shape[:2]
                enc, size = _SemanticEncoder((h, w), hidden, goal="category" in spaces), hidden
                permute[key] = not first
            elif len(shape) == 3:
                first = _channels_first(shape)
                chw = shape if first else (shape[2], shape[0], shape[1])
                enc, size = _MapEncoder(chw, hidden, spectrogram=key == "spectrogram",
                                        audio=key in AUDIO_FEATURE_KEYS), hidden
                permute[key] = not first
            elif len(shape) == 2 and shape[-1] > 64:
                enc, size = _WaveEncoder(shape[0], hidden), hidden
            elif len(shape) <= 2:
                enc = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(shape)) or 1, vector_hidden), nn.ReLU())
                size = vector_hidden
            else:
                raise ValueError(f"observation {key!r} of shape {shape} has no encoder (maps are 3-D, vectors 1-D)")
            encoders[key] = enc
            sizes[key] = size
        super().__init__(observation_space, features_dim=sum(sizes.values()))
        self.encoders = nn.ModuleDict(encoders)
        self._permute = permute
        self.feature_sizes = sizes  # features per key, in the order forward() concatenates them
        self.segmenter = None
        if segmenter:
            from .segmenter import build_segmenter

            self.segmenter = build_segmenter(segmenter).freeze()

    def _map(self, key: str, observations: dict) -> torch.Tensor:
        """Observation ``key`` as float, channels-first where it arrives channels-last."""
        x = observations[key].float()
        return x.permute(0, 3, 1, 2) if self._permute.get(key) else x

    def segment(self, observations: dict) -> torch.Tensor:
        """The segmenter's labels ``[N, 1, H, W]`` (as float) of the ``rgb`` and ``depth`` of
        ``observations`` (in the extractor's layout, as ``forward`` gets them)."""
        return self.segmenter.labels(observations["rgb"].float(), self._map("depth", observations))

    def forward(self, observations: dict) -> torch.Tensor:
        out = []
        for key, enc in self.encoders.items():
            if key == SEMANTIC_KEY and self.segmenter is not None:  # its labels, as the sensor's arrive (/ 255)
                # made already (ActorCritic.derive, labels as float), or made here
                x = (observations[key] if key in observations else self.segment(observations)) / 255.0
            else:
                x = self._map(key, observations)
            out.append(enc(x, observations["category"]) if key == SEMANTIC_KEY and enc.goal else enc(x))
        return torch.cat(out, dim=1)

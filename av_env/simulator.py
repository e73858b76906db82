"""The simulator behind every task: scene, navigation graph, renderer, acoustics and agent state."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..acoustics import AudioConfig, RIRCache, compute_rir, compute_rirs, make_sound
from ..acoustics.features import StepConvolver
from ..scenes import NavGraph

MAX_DEPTH = 10.0  # m, depth observations are divided by this (SoundSpaces)


@dataclass
class SoundSource:
    """A sounding source on a NavGraph node."""

    node: int
    sound: str
    audio: np.ndarray
    until_step: float = np.inf  # silent from this step on
    destination: int | None = None  # for sources that walk


@dataclass
class SceneContext:
    ref: str
    scene: object
    graph: NavGraph
    renderer: object = None


class Simulator:
    """Agent state and sensors in one scene. Tasks read and change it through their hooks.

    Grid motion moves along NavGraph edges; continuous motion moves ``forward_step`` metres and
    collides with the occupancy map. Audio mixes every source that is still sounding, heard
    binaurally at the agent's ears for its heading.
    """

    def __init__(self, audio_config: AudioConfig, motion: str, turn_angle_deg: float, forward_step: float,
                 rir_cache: RIRCache | None = None):
        self.cfg = audio_config
        self.motion = motion
        self.turn_angle = np.radians(turn_angle_deg)
        self.forward_step = forward_step
        self.rir_cache = rir_cache
        self.ctx: SceneContext | None = None
        self.sources: list[SoundSource] = []
        self._rirs: OrderedDict[int, list] = OrderedDict()
        self._binaural: OrderedDict = OrderedDict()
        self._sounds: dict[str, np.ndarray] = {}
        self._conv = StepConvolver(audio_config.step_samples, audio_config.rir_samples)

    # ------------------------------------------------------------------ episode state
    def reset(self, ctx: SceneContext, node: int, heading: float) -> None:
        if self.ctx is not ctx:
            self._rirs.clear()
            self._binaural.clear()
            self._conv.clear_rirs()
        self.ctx = ctx
        self.node = int(node)
        self.position = ctx.graph.positions[node].copy()
        self.heading = float(heading)
        self.steps = 0
        self.collisions = 0
        self.path_length = 0.0
        self.trajectory = [self.position.copy()]
        self.sources = []

    @property
    def graph(self) -> NavGraph:
        return self.ctx.graph

    def add_source(self, node: int, sound: str, seconds: float | None = None) -> SoundSource:
        if sound not in self._sounds:
            self._sounds[sound] = make_sound(sound, self.cfg.sample_rate)
        until = np.inf if seconds is None else seconds / self.cfg.step_seconds
        source = SoundSource(int(node), sound, self._sounds[sound], until)
        self.sources.append(source)
        return source

    # ------------------------------------------------------------------ motion
    def turn(self, direction: int) -> None:
        """Turn left (+1) or right (−1) by the turn angle."""
        h = self.heading + direction * self.turn_angle
        self.heading = float(np.arctan2(np.sin(h), np.cos(h)))

    def move_forward(self) -> bool:
        """Move one step ahead; returns False (and counts a collision) when blocked."""
        g = self.graph
        if self.motion == "grid":
            nxt = g.neighbor_in_direction(self.node, self.heading, tolerance=np.radians(1.0))
            if nxt is None:
                self.collisions += 1
                return False
            self.path_length += float(np.linalg.norm(g.positions[nxt, :2] - g.positions[self.node, :2]))
            self.node = int(nxt)
            self.position = g.positions[nxt].copy()
        else:
            target = self.position[:2] + self.forward_step * np.array([np.cos(self.heading), np.sin(self.heading)])
            if not self._free_segment(self.position[:2], target):
                self.collisions += 1
                return False
            self.position = np.r_[target, self.position[2]]
            self.path_length += self.forward_step
            self.node = int(g.nearest_node(self.position))
        self.trajectory.append(self.position.copy())
        return True

    def _free_segment(self, a, b) -> bool:
        return bool(self.free_segments(np.asarray(a)[None], np.asarray(b)[None])[0])

    def free_segments(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(N,) bool: whether straight moves from a (N, 2) to b (N, 2) are free for the agent's
        body (``NavGraph.segments_free``: the same clearance test the graph's edges pass)."""
        return self.graph.segments_free(a, b)

    def distance_to(self, nodes) -> float:
        """Geodesic distance (m) from the agent to the nearest of ``nodes``."""
        g = self.graph
        best = np.inf
        for goal in nodes:
            d = g.distances_from(goal)[self.node]
            if self.motion == "continuous":
                d += float(np.linalg.norm(self.position[:2] - g.positions[self.node, :2]))
            best = min(best, d)
        return float(best)

    # ------------------------------------------------------------------ sensors
    def rgbd(self) -> tuple[np.ndarray, np.ndarray]:
        """rgb uint8 (H, W, 3) and depth float32 (H, W, 1) in [0, 1] (metres / MAX_DEPTH)."""
        rgb, depth = self.ctx.renderer.render(self.position, self.heading)
        return rgb, np.clip(depth / MAX_DEPTH, 0.0, 1.0)[..., None].astype(np.float32)

    def audio(self) -> np.ndarray:
        """(2, step_samples) float32: every sounding source heard at the ears this step."""
        n = self.cfg.step_samples
        out = np.zeros((2, n), np.float32)
        for src in self.sources:
            if self.steps >= src.until_step:
                continue
            key = self._rir_key(src.node)
            out += self._conv.hear(src.sound, src.audio, key, self._binaural_rir(src.node, key), self.steps * n)
        return out

    def _rir_key(self, source_node: int) -> tuple:
        if self.motion == "grid":
            return (self.ctx.ref, source_node, self.node, round(self.heading, 6))
        return (self.ctx.ref, source_node, tuple(np.round(self.position[:2], 2)), round(self.heading, 4))

    def _binaural_rir(self, source_node: int, key: tuple) -> np.ndarray:
        if key in self._binaural:
            self._binaural.move_to_end(key)
            return self._binaural[key]
        g, cfg, scene = self.graph, self.cfg, self.ctx.scene
        src_pos = g.positions[source_node] + [0, 0, cfg.source_height]
        if self.motion == "grid":
            if source_node not in self._rirs:
                ears = g.positions + [0, 0, cfg.ear_height]
                if self.rir_cache is not None:  # shared with other workers through the disk
                    self._rirs[source_node] = self.rir_cache.get_many(scene, src_pos, ears, cfg)
                else:
                    self._rirs[source_node] = compute_rirs(scene, src_pos, ears, cfg)
                while len(self._rirs) > 8:
                    self._rirs.popitem(last=False)
            rir = self._rirs[source_node][self.node]
        else:
            ear = np.r_[np.round(self.position[:2], 2), self.position[2] + cfg.ear_height]
            rir = self.rir_cache.get(scene, src_pos, ear, cfg) if self.rir_cache is not None else compute_rir(scene, src_pos, ear, cfg)
        binaural = rir.binaural(self.heading)
        self._binaural[key] = binaural
        while len(self._binaural) > 256:
            self._binaural.popitem(last=False)
        return binaural

"""The simulator behind every task: scene, navigation graph, renderer, acoustics and agent state."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

import numpy as np

from ..acoustics import AudioConfig, RIRCache, compute_rirs, make_sound
from ..acoustics.config import AUDIO_FULL_SCALE  # the microphones' clip level (re-exported here)
from ..acoustics.features import StepConvolver
from ..acoustics.heads import load_head
from ..acoustics.scene_acoustics import SceneAcoustics
from ..scenes import NavGraph
from ..scenes.angles import wrap_angle
from ..scenes.lru import BUDGETS, LRU
from ..scenes.render.camera import depth_observation



@dataclass
class SoundSource:
    """A sounding source on a NavGraph node."""

    node: int
    sound: str
    audio: np.ndarray
    until_step: float = np.inf  # silent from this step on
    destination: int | None = None  # for sources that walk
    on: bool = True  # False: silent this step (a transient distractor)

    def sounding(self, step: int) -> bool:
        """Whether the source is heard at episode step ``step``."""
        return self.on and step < self.until_step


@dataclass
class SceneContext:
    """One scene as an env holds it: the Scene, its NavGraph, its renderer (made at first reset)
    and its acoustic state (``acoustics.SceneAcoustics``: geometry model, image sources, door
    graph, traced tails), all freed together by ``close()`` when the env evicts the scene."""

    ref: str
    scene: object
    graph: NavGraph
    renderer: object = None
    tail_store: object = None  # an acoustics.tail_store.TailStore: traced tails shared on disk
    acoustics: SceneAcoustics = field(init=False)
    semantic_camera: object = None  # scenes.render.raycast.SemanticCamera, made when first observed

    def __post_init__(self) -> None:
        self.acoustics = SceneAcoustics(self.scene, tail_store=self.tail_store)

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None
        self.acoustics.close()


class Simulator:
    """Agent state and sensors in one scene. Tasks read and change it through their hooks.

    Grid motion moves along NavGraph edges; continuous motion moves ``forward_step`` metres and
    collides with the occupancy map. Audio mixes every source that is still sounding, heard
    binaurally at the agent's ears for its heading.
    """

    def __init__(self, audio_config: AudioConfig, motion: str, turn_angle_deg: float, forward_step: float,
                 rir_cache: RIRCache | None = None):
        self.cfg = audio_config
        self.head = load_head(audio_config)  # the head every binaural RIR is rendered with
        self.motion = motion
        self.turn_angle = np.radians(turn_angle_deg)
        self.forward_step = forward_step
        self.rir_cache = rir_cache
        self.ctx: SceneContext | None = None
        self.sources: list[SoundSource] = []
        # RIRs are computed lazily, for the (source, listening position) pairs an episode visits,
        # and kept across episodes and scene switches within the budgets of scenes.lru.BUDGETS:
        # parameters for many, rendering caches (0.2–1.3 MB each) for the most recent few
        self._rirs: LRU = LRU(BUDGETS.rirs)
        self._rendered: LRU = LRU(BUDGETS.rendered_rirs, on_evict=lambda _, rir: rir.drop_render_cache())
        # the sounds' samples (one period, 0.1–1.5 MB): bounded, as training on sound variants
        # meets hundreds of them
        self._sounds: LRU = LRU(BUDGETS.sounds)
        self._conv = StepConvolver(audio_config.step_samples, audio_config.rir_samples, BUDGETS.step_spectra,
                                   BUDGETS.source_segments)
        self.rir_computations = 0  # pairs computed (not found in memory or on disk)
        self.echo_config: AudioConfig | None = None  # set by the env when echoes are observed
        self._echo_rirs: LRU = LRU(BUDGETS.rirs)
        self._echoes: LRU = LRU(BUDGETS.step_spectrograms)
        self._frame: tuple | None = None  # (pose key, rgb, depth) of the last frame rendered
        self._labels: tuple | None = None  # (pose key, categories) of the last semantic frame

    # ------------------------------------------------------------------ episode state
    def close(self) -> None:
        if self.rir_cache is not None:
            self.rir_cache.flush()  # receivers not yet merged into their sources' files
        self._rirs.clear()
        self._rendered.clear()
        self._conv.clear_rirs()
        self._echo_rirs.clear()
        self._echoes.clear()
        self._frame = None
        self._labels = None

    def reset(self, ctx: SceneContext, node: int, heading: float) -> None:
        self.ctx = ctx
        self.node = int(node)
        self.position = ctx.graph.positions[node].copy()
        self.heading = float(heading)
        self.start_heading = self.heading
        self.steps = 0
        self.collisions = 0
        self.last_action: int | None = None  # the action just taken (None before the first)
        self.blocked = False  # whether it was a MOVE_FORWARD that hit something
        self.visits = collections.Counter({self.node: 1})  # steps of the episode (and its start) ended at each node
        self.path_length = 0.0
        self.trajectory = [self.position.copy()]
        self.sources = []

    @property
    def graph(self) -> NavGraph:
        return self.ctx.graph

    def add_source(self, node: int, sound: str, seconds: float | None = None) -> SoundSource:
        audio = self._sounds.get_or_create(sound, lambda: make_sound(sound, self.cfg.sample_rate))
        until = np.inf if seconds is None else seconds / self.cfg.step_seconds
        source = SoundSource(int(node), sound, audio, until)
        self.sources.append(source)
        return source

    # ------------------------------------------------------------------ motion
    def turn(self, direction: int) -> None:
        """Turn left (+1) or right (−1) by the turn angle."""
        h = self.heading + direction * self.turn_angle
        self.heading = wrap_angle(h)

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
    def _pose_key(self) -> tuple:
        """What a frame depends on: the scene, the position and the heading."""
        return (self.ctx.ref, self.position.tobytes(), self.heading)

    def rgbd(self) -> tuple[np.ndarray, np.ndarray]:
        """rgb uint8 (H, W, 3) and depth float32 (H, W, 1) in [0, 1] (``scenes.render.camera.depth_observation``)."""
        # a pose seen by the last frame (STOP, a blocked step, the reset after an episode that
        # ended where it stood) is not rendered again: the renderers are deterministic
        key = self._pose_key()
        if self._frame is None or self._frame[0] != key:
            rgb, depth = self.ctx.renderer.render(self.position, self.heading)
            self._frame = (key, rgb, depth_observation(depth))
        return self._frame[1].copy(), self._frame[2].copy()

    def semantic(self) -> np.ndarray:
        """uint8 (H, W, 1): 1 + the ``scenes.CATEGORIES`` index of the object each pixel sees, 0
        for structure or nothing (``scenes.render.raycast.SemanticCamera``, the renderer's camera)."""
        key = self._pose_key()
        if self._labels is None or self._labels[0] != key:
            if self.ctx.semantic_camera is None:
                from ..scenes.render.raycast import SemanticCamera

                self.ctx.semantic_camera = SemanticCamera(self.ctx.scene, self.ctx.renderer.camera)
            self._labels = (key, self.ctx.semantic_camera.render(self.position, self.heading)[..., None])
        return self._labels[1].copy()

    def audio(self) -> np.ndarray:
        """(2, step_samples) float32: every sounding source heard at the ears this step."""
        n = self.cfg.step_samples
        out = np.zeros((2, n), np.float32)
        for src in self.sources:
            if not src.sounding(self.steps):
                continue
            key = self._rir_key(src.node)
            # the binaural RIR is rendered only when its spectrum is not cached
            out += self._conv.hear(src.sound, src.audio, key, lambda s=src.node, k=key: self._binaural_rir(s, k),
                                   self.steps * n)
        return np.clip(out, -AUDIO_FULL_SCALE, AUDIO_FULL_SCALE, out=out)

    def echo(self) -> np.ndarray:
        """(F, T, 2) float32 in [0, 1]: the spectrogram of the echoes of a chirp emitted from the
        agent's head at its pose (``acoustics.echo``), kept per listening position and heading."""
        from ..acoustics.echo import echo_audio, echo_rirs, echo_spectrogram

        cfg = self.echo_config
        if self.motion == "grid":
            where = self.node
            head = self.graph.positions[self.node] + [0, 0, cfg.ear_height]
        else:
            where = tuple(np.round(self.position[:2], 2))
            head = np.r_[np.round(self.position[:2], 2), self.position[2] + cfg.ear_height]
        key = (self.ctx.ref, where, round(self.heading, 6))
        spec = self._echoes.get(key)
        if spec is None:
            rir = self._echo_rirs.get(key[:2])
            if rir is None:
                rir = self._echo_rirs[key[:2]] = echo_rirs(self.ctx.scene, head[None], cfg, check_free_space=False,
                                                           acoustics=self.ctx.acoustics)[0]
            spec = np.asarray(echo_spectrogram(echo_audio(rir, self.heading, cfg), cfg), np.float32)
            rir.drop_render_cache()
            self._echoes[key] = spec
        return spec.copy()

    def audio_key(self) -> tuple:
        """A key equal for two steps exactly when ``audio()`` returns the same signal: per
        sounding source, its sound, the position in the sound's loop and the RIR heard."""
        n = self.cfg.step_samples
        return tuple((src.sound, self._conv.segment_key(src.sound, src.audio, self.steps * n), self._rir_key(src.node))
                     for src in self.sources if src.sounding(self.steps))

    def _rir_key(self, source_node: int) -> tuple:
        if self.motion == "grid":
            return (self.ctx.ref, source_node, self.node, round(self.heading, 6))
        return (self.ctx.ref, source_node, tuple(np.round(self.position[:2], 2)), round(self.heading, 4))

    def _binaural_rir(self, source_node: int, key: tuple) -> np.ndarray:
        rir = self._rir(source_node)
        self._rendered[key[:3]] = rir  # keeps its rendering caches while recent
        return rir.binaural(self.heading, hrtf=self.head)

    def _rir(self, source_node: int):
        """The RIR from a source node to the agent's ears (grid: its node; continuous: its
        position to the cm), from memory, the shared disk cache, or computed for this pair."""
        g, cfg, scene = self.graph, self.cfg, self.ctx.scene
        if self.motion == "grid":
            where = self.node
            ear = g.positions[self.node] + [0, 0, cfg.ear_height]
        else:
            where = tuple(np.round(self.position[:2], 2))
            ear = np.r_[np.round(self.position[:2], 2), self.position[2] + cfg.ear_height]
        key = (self.ctx.ref, source_node, where)
        rir = self._rirs.get(key)
        if rir is None:
            # both paths compute at the positions to the millimetre (the disk cache's key): the
            # cache then holds exactly what the direct path computes, and a floor height found by
            # float32 ray casting (~1e-7 m off 0 on some CPUs) cannot tip a grazing ray either way
            src_pos = np.round(g.positions[source_node] + [0, 0, cfg.source_height], 3)
            ear = np.round(ear, 3)
            if self.rir_cache is not None:  # shared with other workers and runs through the disk
                misses = self.rir_cache.misses
                rir = self.rir_cache.get(scene, src_pos, ear, config=cfg, acoustics=self.ctx.acoustics)
                self.rir_computations += self.rir_cache.misses - misses
            else:
                # NavGraph nodes and free moves are in free space: no need to check each pair again
                rir = compute_rirs(scene, src_pos, ear[None], cfg, check_free_space=False, acoustics=self.ctx.acoustics)[0]
                self.rir_computations += 1
            self._rirs[key] = rir
        return rir

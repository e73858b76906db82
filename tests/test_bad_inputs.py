"""Bad input gets one clear error: a table of cases across scenes, rendering, acoustics,
environments, episode files, the RIR cache and the scripts. Each bad case asserts the error
type and that the message names the argument at fault; each good case must succeed.

Every case is a function of ``Ctx`` (shared small scenes, a temp folder) so the table also runs
as a plain script: ``python tests/test_bad_inputs.py`` prints how many cases give a clear error.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import logging
import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
LIGHT = dict(scenes=1, episodes_per_scene=2, resolution=16, renderer="raycast")


class Ctx:
    """Shared inputs, built on first use."""

    def __init__(self, tmp: Path):
        self.tmp = tmp

    @cached_property
    def apartment(self):
        from earshot.scenes import generate_apartment

        return generate_apartment(4)

    @cached_property
    def graph(self):
        from earshot.scenes import NavGraph

        return NavGraph.build(self.apartment)

    @cached_property
    def room(self):
        from earshot.scenes import shoebox

        return shoebox(6.0, 4.0, 2.8, "plaster")

    def env(self, env_id="earshot/AudioGoal-v0", **kw):
        import gymnasium as gym

        import earshot.av_env as av_env  # noqa: F401

        return gym.make(env_id, **{**LIGHT, **kw})

    @cached_property
    def episodes_file(self) -> Path:
        env = self.env()
        path = env.unwrapped.save_episodes(self.tmp / "episodes.json.gz")
        env.close()
        return path

    def episodes_json(self) -> dict:
        with gzip.open(self.episodes_file, "rt") as f:
            return json.load(f)

    def write_episodes(self, name: str, data: dict) -> Path:
        path = self.tmp / name
        with gzip.open(path, "wt") as f:
            json.dump(data, f)
        return path

    def script(self, name: str):
        spec = importlib.util.spec_from_file_location(f"_earshot_script_{name}", ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module

    def parse(self, script: str, config: str, argv: list[str]):
        module = self.script(script)
        return importlib.import_module("earshot.cli").parse_config(getattr(module, config), "", argv)


# --------------------------------------------------------------------------------- case helpers

@dataclass
class Case:
    id: str
    area: str
    run: object  # callable(ctx)
    error: type | None  # None: must succeed
    names: str = ""  # text the message must contain (the argument's name)


def _floorless(ctx):
    import trimesh

    wall = trimesh.Trimesh([[0, 0, 0], [4, 0, 0], [4, 0, 3], [0, 0, 3]], [[0, 1, 2], [0, 2, 3]])
    path = ctx.tmp / "wall.ply"
    wall.export(path)
    return path


def _file(ctx, name, content=b"x"):
    path = ctx.tmp / name
    path.write_bytes(content)
    return path


def _step_after_close(ctx):
    env = ctx.env()
    env.reset(seed=0)
    env.close()
    env.unwrapped.step(1)


def _render_after_close(ctx):
    env = ctx.env(render_mode="rgb_array")
    env.reset(seed=0)
    env.close()
    env.unwrapped.render()


def _step(ctx, action):
    env = ctx.env()
    env.reset(seed=0)
    try:
        env.step(action)
    finally:
        env.close()


def _reset(ctx, **kw):
    env = ctx.env()
    try:
        env.reset(**kw)
    finally:
        env.close()


def _episodes_edit(ctx, name, edit):
    data = ctx.episodes_json()
    edit(data)
    path = ctx.write_episodes(name, data)
    ctx.env(episodes=path).close()


def _truncated_episodes(ctx):
    blob = ctx.episodes_file.read_bytes()
    path = _file(ctx, "truncated.json.gz", blob[: len(blob) // 2])
    ctx.env(episodes=path)


def _stale_geodesic(data):
    data["episodes"][0]["geodesic_distance"] *= 2


def _other_spacing_nodes(data):
    data["spacing"] = 1.0


def _cache_entry_is_directory(ctx):
    from earshot.acoustics import AudioConfig, RIRCache

    cache = RIRCache(ctx.tmp / "cache_dir_entry")
    src, rec = ctx.graph.positions[0] + [0, 0, 1.5], ctx.graph.positions[3] + [0, 0, 1.5]
    path = cache.path(ctx.apartment, src, config=AudioConfig())
    path.mkdir(parents=True)
    rir = cache.get(ctx.apartment, src, rec)  # warns once, computes in memory
    assert rir.direct_delay is not None and path.is_dir()


def _read_only_cache(ctx):
    from earshot.acoustics import RIRCache

    if os.geteuid() == 0:  # root ignores permissions: make the folder unusable another way
        root = ctx.tmp / "ro_cache"
        root.mkdir()
        (root / ctx.apartment.content_hash[:16]).write_text("a file where a folder must go")
    else:
        root = ctx.tmp / "ro_cache"
        root.mkdir()
        root.chmod(stat.S_IRUSR | stat.S_IXUSR)
    cache = RIRCache(root)
    src, rec = ctx.graph.positions[0] + [0, 0, 1.5], ctx.graph.positions[3] + [0, 0, 1.5]
    assert cache.get(ctx.apartment, src, rec).direct_delay is not None
    assert not cache.writable


def _corrupt_cache_entry(ctx):
    from earshot.acoustics import AudioConfig, RIRCache

    cache = RIRCache(ctx.tmp / "corrupt_cache", memory_mb=0)
    src, rec = ctx.graph.positions[0] + [0, 0, 1.5], ctx.graph.positions[3] + [0, 0, 1.5]
    first = cache.get(ctx.apartment, src, rec)
    path = cache.path(ctx.apartment, src, config=AudioConfig())
    path.write_bytes(path.read_bytes()[:100])
    again = cache.get(ctx.apartment, src, rec)
    assert cache.corrupt == 1 and np.array_equal(first.delays, again.delays)


def _stale_tmp_cleaned(ctx):
    from earshot.acoustics import RIRCache

    root = ctx.tmp / "tmp_cache"
    folder = root / "ab"
    folder.mkdir(parents=True)
    dead = folder / ".x.npz.999999999.1.tmp"  # a pid that cannot exist
    dead.write_bytes(b"partial")
    assert RIRCache(root).clean() == 1 and not dead.exists()


def _script_error(ctx, script, config, argv):
    ctx.parse(script, config, argv)


def _agent_model(agent):
    from earshot.agents.kinds import agent_kind

    agent_kind(agent)


def _agent_extractor(shape):
    import gymnasium as gym

    from earshot.agents import AVNavExtractor

    AVNavExtractor(gym.spaces.Dict({"depth": gym.spaces.Box(0, 1, shape, np.float32)}))


def _agent_checkpoint(ctx, folder):
    from earshot.agents.checkpoints import pretrained_agents, read_meta

    read_meta(folder if folder in pretrained_agents() else ctx.tmp / folder)


def _bad_meta(ctx, **changes):
    """The shipped agent's meta.json with ``changes`` (None deletes a key), read back."""
    import json
    import shutil

    from earshot.agents.checkpoints import read_meta, resolve_checkpoint

    folder = ctx.tmp / f"meta-{len(list(ctx.tmp.glob('meta-*')))}"
    shutil.copytree(resolve_checkpoint("audiogoal"), folder)
    meta = json.loads((folder / "meta.json").read_text())
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    (folder / "meta.json").write_text(json.dumps(meta))
    read_meta(folder)


def _compute(ctx, source=None, receivers=None, config=None):
    from earshot.acoustics import compute_rirs

    ears = ctx.graph.positions[:3] + [0, 0, 1.5]
    kwargs = {} if config is None else {"config": config}
    compute_rirs(ctx.apartment, ears[0] if source is None else source, ears if receivers is None else receivers, **kwargs)


def _render(ctx, position=(3.0, 2.0, 0.0), heading=0.0, **kw):
    from earshot.scenes.render import make_renderer

    make_renderer("raycast", ctx.room, **{**dict(width=16, height=16), **kw}).render(np.asarray(position, float), heading)


def _gen(**kw):
    from earshot.scenes import generate_apartment

    seed = kw.pop("seed", 0)
    generate_apartment(seed, **kw)


def _shoebox(*args):
    from earshot.scenes import shoebox

    shoebox(*args)


def _polygon_room(*args):
    from earshot.scenes import polygon_room_mesh

    polygon_room_mesh(*args)


def _load(ctx, path=None, **kw):
    from earshot.scenes import load_scene

    load_scene(path or ctx.apartment.export(ctx.tmp / "apt.glb"), **kw)


def _nav(ctx, **kw):
    from earshot.scenes import NavGraph

    NavGraph.build(ctx.room, **kw)


def _config(**kw):
    from earshot.acoustics import AudioConfig

    AudioConfig(**kw)


def _cache(ctx, root=None, **kw):
    from earshot.acoustics import RIRCache

    RIRCache(root if root is not None else ctx.tmp / "c", **kw)


def _spectrogram(audio, **kw):
    from earshot.acoustics import spectrogram

    spectrogram(audio, **kw)


def _sound(name, rate=16_000, **kw):
    from earshot.acoustics import make_sound

    make_sound(name, rate, **kw)


def _moving(ctx, **kw):
    ctx.env("earshot/MovingSource-v0", **kw).close()


def _make(ctx, **kw):
    ctx.env(**kw).close()


V = ValueError
CASES = [
    # ---------------------------------------------------------------- scenes
    Case("apartment seed -1", "scenes", lambda c: _gen(seed=-1), V, "seed"),
    Case("apartment seed 1.5", "scenes", lambda c: _gen(seed=1.5), V, "seed"),
    Case("apartment n_rooms 7", "scenes", lambda c: _gen(n_rooms=7), V, "n_rooms"),
    Case("apartment n_rooms 2.5", "scenes", lambda c: _gen(n_rooms=2.5), V, "n_rooms"),
    Case("apartment unknown param", "scenes", lambda c: _gen(rooms=3), TypeError, "rooms"),
    Case("apartment nav_spacing 0.3", "scenes", lambda c: _gen(nav_spacing=0.3), V, "nav_spacing"),
    Case("apartment ceiling below doors", "scenes", lambda c: _gen(ceiling_height=1.5), V, "ceiling_height"),
    Case("apartment narrow doors", "scenes", lambda c: _gen(door_width=(0.5, 0.8)), V, "door_width"),
    Case("apartment wall_thickness -0.1", "scenes", lambda c: _gen(wall_thickness=-0.1), V, "wall_thickness"),
    Case("apartment clearance nan", "scenes", lambda c: _gen(clearance=float("nan")), V, "clearance"),
    Case("apartment n_rooms 3 ok", "scenes", lambda c: _gen(n_rooms=3), None),
    Case("shoebox width -1", "scenes", lambda c: _shoebox(-1.0, 4.0, 3.0), V, "width"),
    Case("shoebox unknown material", "scenes", lambda c: _shoebox(6.0, 4.0, 3.0, "unobtainium"), V, "unobtainium"),
    Case("shoebox material key", "scenes", lambda c: _shoebox(6.0, 4.0, 3.0, {"walls": "plaster", "roof": "tile"}), V, "roof"),
    Case("polygon room, two corners", "scenes", lambda c: _polygon_room([(0, 0), (1, 0)], 3.0), V, "outline"),
    Case("polygon room, height 0", "scenes", lambda c: _polygon_room([(0, 0), (4, 0), (4, 3)], 0.0), V, "height"),
    Case("polygon room, crossing edges", "scenes", lambda c: _polygon_room([(0, 0), (4, 4), (4, 0), (0, 4)], 3.0), V, "simple polygon"),
    Case("load missing file", "scenes", lambda c: _load(c, c.tmp / "nope.glb"), FileNotFoundError, "nope.glb"),
    Case("load empty file", "scenes", lambda c: _load(c, _file(c, "empty.glb", b"")), V, "empty"),
    Case("load junk file", "scenes", lambda c: _load(c, _file(c, "junk.glb", b"not a gltf" * 20)), V, "junk.glb"),
    Case("load up_axis x", "scenes", lambda c: _load(c, up_axis="x"), V, "up_axis"),
    Case("load scale 0", "scenes", lambda c: _load(c, scale=0), V, "scale"),
    Case("load floor_height nan", "scenes", lambda c: _load(c, floor_height=float("nan")), V, "floor_height"),
    Case("load floorless mesh", "scenes", lambda c: _load(c, _floorless(c)), V, "walkable floor"),
    Case("load glb ok", "scenes", lambda c: _load(c), None),
    Case("navgraph spacing 0", "scenes", lambda c: _nav(c, spacing=0), V, "spacing"),
    Case("navgraph connectivity 6", "scenes", lambda c: _nav(c, connectivity=6), V, "connectivity"),
    Case("navgraph agent_radius -1", "scenes", lambda c: _nav(c, agent_radius=-1), V, "agent_radius"),
    Case("navgraph huge agent", "scenes", lambda c: _nav(c, agent_radius=5.0), V, "agent_radius"),
    Case("nearest_node nan", "scenes", lambda c: c.graph.nearest_node([np.nan, 0.0]), V, "position"),
    Case("nearest_node 4 coords", "scenes", lambda c: c.graph.nearest_node([1.0, 2.0, 0.0, 1.0]), V, "position"),
    Case("geodesic node out of range", "scenes", lambda c: c.graph.geodesic_distance(0, 10**6), IndexError, "node"),
    Case("split_seeds holdout", "scenes", lambda c: importlib.import_module("earshot.scenes").split_seeds("holdout"), V, "split"),
    Case("get_material unknown", "scenes", lambda c: importlib.import_module("earshot.scenes").get_material("kryptonite"), V, "kryptonite"),
    # ---------------------------------------------------------------- rendering
    Case("renderer backend vulkan", "render", lambda c: importlib.import_module("earshot.scenes.render").make_renderer(
        "vulkan", c.room), V, "backend"),
    Case("renderer width 0", "render", lambda c: _render(c, width=0), V, "width"),
    Case("renderer width 1.5", "render", lambda c: _render(c, width=1.5), V, "width"),
    Case("renderer hfov 180", "render", lambda c: _render(c, hfov_deg=180), V, "hfov_deg"),
    Case("renderer camera_height -1", "render", lambda c: _render(c, camera_height=-1.0), V, "camera_height"),
    Case("render position nan", "render", lambda c: _render(c, position=(np.nan, 0, 0)), V, "position"),
    Case("render heading inf", "render", lambda c: _render(c, heading=np.inf), V, "heading"),
    Case("render ok", "render", lambda c: _render(c), None),
    # ---------------------------------------------------------------- acoustics
    Case("config sample_rate 12345", "acoustics", lambda c: _config(sample_rate=12345), V, "sample_rate"),
    Case("config sample_rate nan", "acoustics", lambda c: _config(sample_rate=float("nan")), V, "sample_rate"),
    Case("config rir_seconds inf", "acoustics", lambda c: _config(rir_seconds=float("inf")), V, "rir_seconds"),
    Case("config ism_order 2.5", "acoustics", lambda c: _config(ism_order=2.5), V, "ism_order"),
    Case("config tail", "acoustics", lambda c: _config(tail="stochastic"), V, "tail"),
    Case("config win_length > n_fft", "acoustics", lambda c: _config(win_length=1024), V, "win_length"),
    Case("config source_radius 0", "acoustics", lambda c: _config(source_radius=0.0), V, "source_radius"),
    Case("config pool 0", "acoustics", lambda c: _config(pool=0), V, "pool"),
    Case("config 44.1 kHz ok", "acoustics", lambda c: _config(sample_rate=44_100), None),
    Case("rir source below floor", "acoustics", lambda c: _compute(c, source=[2.0, 1.0, -1.0]), V, "source"),
    Case("rir source above ceiling", "acoustics", lambda c: _compute(c, source=[2.0, 1.0, 3.2]), V, "source"),
    Case("rir source inside a wall", "acoustics", lambda c: _compute(c, source=[3.0, 1.0, 1.5]), V, "source"),
    Case("rir source outside", "acoustics", lambda c: _compute(c, source=[-5.0, 1.0, 1.5]), V, "source"),
    Case("rir receivers nan", "acoustics", lambda c: _compute(c, receivers=[[1.0, np.nan, 1.5]]), V, "receivers"),
    Case("rir receivers shape", "acoustics", lambda c: _compute(c, receivers=np.ones((3, 2))), V, "receivers"),
    Case("rir receiver below floor", "acoustics", lambda c: _compute(c, receivers=[[1.0, 1.0, -0.5]]), V, "receiver"),
    Case("rir config string", "acoustics", lambda c: _compute(c, config="16k"), V, "config"),
    Case("rir ok", "acoustics", lambda c: _compute(c), None),
    Case("binaural heading nan", "acoustics", lambda c: importlib.import_module("earshot.acoustics").compute_rir(
        c.room, [1.0, 1.0, 1.5], [4.0, 2.0, 1.5]).binaural(np.nan), V, "heading"),
    Case("sound unknown", "acoustics", lambda c: _sound("kazoo"), V, "kazoo"),
    Case("sound sample_rate 0", "acoustics", lambda c: _sound("telephone", 0), V, "sample_rate"),
    Case("sound seconds -1", "acoustics", lambda c: _sound("telephone", seconds=-1.0), V, "seconds"),
    Case("sound split", "acoustics", lambda c: importlib.import_module("earshot.acoustics").sound_names("loud"), V, "split"),
    Case("load_sound missing", "acoustics", lambda c: importlib.import_module("earshot.acoustics").load_sound(c.tmp / "x.wav", 16_000),
         FileNotFoundError, "x.wav"),
    Case("spectrogram 1-D", "acoustics", lambda c: _spectrogram(np.zeros(100, np.float32)), V, "audio"),
    Case("spectrogram nan", "acoustics", lambda c: _spectrogram(np.full((2, 16000), np.nan, np.float32)), V, "audio"),
    Case("spectrogram backend", "acoustics", lambda c: _spectrogram(np.zeros((2, 16000), np.float32), backend="cuda"), V,
         "backend"),
    Case("hear rir shape", "acoustics", lambda c: importlib.import_module("earshot.acoustics").hear(np.ones(100, np.float32), np.ones((3, 10)), 0, 50),
         V, "binaural_rir"),
    Case("hear start -1", "acoustics", lambda c: importlib.import_module("earshot.acoustics").hear(np.ones(100, np.float32), np.ones((2, 10)), -1, 50),
         V, "start"),
    Case("hear length 0", "acoustics", lambda c: importlib.import_module("earshot.acoustics").hear(np.ones(100, np.float32), np.ones((2, 10)), 0, 0),
         V, "length"),
    Case("spectrogram ok", "acoustics", lambda c: _spectrogram(np.zeros((2, 16000), np.float32), backend="numpy"), None),
    # ---------------------------------------------------------------- RIR cache
    Case("cache root empty", "cache", lambda c: _cache(c, root=""), V, "root"),
    Case("cache root is a file", "cache", lambda c: _cache(c, root=_file(c, "cachefile")), V, "root"),
    Case("cache memory_mb -1", "cache", lambda c: _cache(c, memory_mb=-1), V, "memory_mb"),
    Case("cache disk_mb 0", "cache", lambda c: _cache(c, disk_mb=0), V, "disk_mb"),
    Case("cache write_batch 0", "cache", lambda c: _cache(c, write_batch=0), V, "write_batch"),
    Case("cache entry is a directory", "cache", _cache_entry_is_directory, None),
    Case("cache read-only", "cache", _read_only_cache, None),
    Case("cache corrupt entry recomputed", "cache", _corrupt_cache_entry, None),
    Case("cache stale tmp cleaned", "cache", _stale_tmp_cleaned, None),
    # ---------------------------------------------------------------- environments
    Case("env task", "env", lambda c: importlib.import_module("earshot.av_env.env").AVNavEnv(task="flygoal"), V, "task"),
    Case("env split", "env", lambda c: _make(c, split="holdout"), V, "split"),
    Case("env scenes 0", "env", lambda c: _make(c, scenes=0), V, "scenes"),
    Case("env scenes 1.5", "env", lambda c: _make(c, scenes=1.5), V, "scenes"),
    Case("env scenes []", "env", lambda c: _make(c, scenes=[]), V, "scenes"),
    Case("env scenes other split", "env", lambda c: _make(c, scenes=[2_000_000]), V, "scenes"),
    Case("env scenes missing mesh", "env", lambda c: _make(c, scenes=[str(c.tmp / "gone.glb")]), FileNotFoundError, "scenes"),
    Case("env sounds []", "env", lambda c: _make(c, sounds=[]), V, "sounds"),
    Case("env sounds unknown", "env", lambda c: _make(c, sounds=["kazoo"]), V, "sounds"),
    Case("env sounds split", "env", lambda c: _make(c, sounds="loud"), V, "sounds"),
    Case("env motion", "env", lambda c: _make(c, motion="teleport"), V, "motion"),
    Case("env turn -90", "env", lambda c: _make(c, turn_angle_deg=-90), V, "turn_angle_deg"),
    Case("env turn 0", "env", lambda c: _make(c, turn_angle_deg=0), V, "turn_angle_deg"),
    Case("env turn 50 grid", "env", lambda c: _make(c, turn_angle_deg=50), V, "turn_angle_deg"),
    Case("env forward_step 0", "env", lambda c: _make(c, motion="continuous", forward_step=0), V, "forward_step"),
    Case("env forward_step -0.25", "env", lambda c: _make(c, motion="continuous", forward_step=-0.25), V, "forward_step"),
    Case("env resolution -1", "env", lambda c: _make(c, resolution=-1), V, "resolution"),
    Case("env resolution 1.5", "env", lambda c: _make(c, resolution=1.5), V, "resolution"),
    Case("env hfov 0", "env", lambda c: _make(c, hfov_deg=0), V, "hfov_deg"),
    Case("env audio", "env", lambda c: _make(c, audio="mp3"), V, "audio"),
    Case("env max_steps 0", "env", lambda c: _make(c, max_steps=0), V, "max_steps"),
    Case("env success_distance 0", "env", lambda c: _make(c, success_distance=0), V, "success_distance"),
    Case("env success_distance nan", "env", lambda c: _make(c, success_distance=float("nan")), V, "success_distance"),
    Case("env renderer", "env", lambda c: _make(c, renderer="vulkan"), V, "renderer"),
    Case("env episodes_per_scene 0", "env", lambda c: _make(c, episodes_per_scene=0), V, "episodes_per_scene"),
    Case("env spacing 0.3", "env", lambda c: _make(c, spacing=0.3), V, "spacing"),
    Case("env audio_config", "env", lambda c: _make(c, audio_config={"sample_rate": 16000}), V, "audio_config"),
    Case("env p_move 1.5", "env", lambda c: _moving(c, p_move=1.5), V, "p_move"),
    Case("env num_distractors -1", "env", lambda c: _moving(c, num_distractors=-1), V, "num_distractors"),
    Case("env num_distractors on audiogoal", "env", lambda c: _make(c, num_distractors=2), V, "num_distractors"),
    Case("env distractor_mode", "env", lambda c: _moving(c, distractor_mode="moving"), V, "distractor_mode"),
    Case("env rir_cache is a file", "env", lambda c: _make(c, rir_cache=str(_file(c, "cache.txt"))), V, "rir_cache"),
    Case("env scene_cache is a file", "env", lambda c: _make(c, scene_cache=str(_file(c, "scenes.txt"))), V, "scene_cache"),
    Case("env scene_cache is a number", "env", lambda c: _make(c, scene_cache=3), V, "scene_cache"),
    Case("env mesh_kwargs key", "env", lambda c: _make(c, mesh_kwargs={"upaxis": "y"}), V, "mesh_kwargs"),
    Case("env render_mode human", "env", lambda c: importlib.import_module("earshot.av_env.env").AVNavEnv(
        render_mode="human", **LIGHT), V, "render_mode"),
    Case("env continuous ok", "env", lambda c: _make(c, motion="continuous"), None),
    Case("reset unknown option", "env", lambda c: _reset(c, options={"episode_idx": 0}), V, "episode_idx"),
    Case("reset episode_index range", "env", lambda c: _reset(c, options={"episode_index": 10**6}), V, "episode_index"),
    Case("reset episode_index float", "env", lambda c: _reset(c, options={"episode_index": 0.5}), V, "episode_index"),
    Case("reset seed -1", "env", lambda c: _reset(c, seed=-1), V, "seed"),
    Case("step action 4", "env", lambda c: _step(c, 4), V, "action"),
    Case("step action nan", "env", lambda c: _step(c, np.nan), V, "action"),
    Case("step action str", "env", lambda c: _step(c, "forward"), V, "action"),
    Case("step after close", "env", _step_after_close, RuntimeError, "close"),
    Case("render after close", "env", _render_after_close, RuntimeError, "close"),
    Case("step before reset", "env", lambda c: c.env().unwrapped.step(1), RuntimeError, "reset"),
    Case("step numpy int ok", "env", lambda c: _step(c, np.int64(1)), None),
    # ---------------------------------------------------------------- episode files
    Case("episodes missing file", "episodes", lambda c: _make(c, episodes=c.tmp / "none.json.gz"), FileNotFoundError,
         "none.json.gz"),
    Case("episodes truncated", "episodes", _truncated_episodes, V, "truncated.json.gz"),
    Case("episodes other split", "episodes", lambda c: _make(c, split="val", scenes=1, episodes=c.episodes_file), V, "split"),
    Case("episodes stale geodesic", "episodes", lambda c: _episodes_edit(c, "stale.json.gz", _stale_geodesic), V,
         "geodesic"),
    Case("episodes other spacing", "episodes", lambda c: _episodes_edit(c, "spacing.json.gz", _other_spacing_nodes), V,
         "spacing"),
    Case("episodes old version", "episodes", lambda c: _episodes_edit(c, "v1.json.gz", lambda d: d.update(version=1)), V,
         "version"),
    Case("episodes empty list", "episodes", lambda c: _make(c, episodes=[]), V, "episodes"),
    Case("episodes reload ok", "episodes", lambda c: _make(c, episodes=c.episodes_file), None),
    # ---------------------------------------------------------------- scripts
    Case("precompute --scenes -1", "scripts", lambda c: _script_error(c, "precompute_rirs", "PrecomputeConfig",
                                                                          ["--scenes", "-1"]), SystemExit, "--scenes"),
    Case("precompute --scenes 1000 val", "scripts", lambda c: _script_error(
        c, "precompute_rirs", "PrecomputeConfig", ["--split", "val", "--scenes", "1000"]), SystemExit, "--scenes"),
    Case("precompute --sources -5", "scripts", lambda c: _script_error(c, "precompute_rirs", "PrecomputeConfig",
                                                                           ["--sources", "-5"]), SystemExit, "--sources"),
    Case("precompute --cache-dir ''", "scripts", lambda c: _script_error(c, "precompute_rirs", "PrecomputeConfig",
                                                                             ["--cache-dir", ""]), SystemExit, "--cache-dir"),
    Case("precompute --split holdout", "scripts", lambda c: _script_error(c, "precompute_rirs", "PrecomputeConfig",
                                                                              ["--split", "holdout"]), SystemExit, "--split"),
    Case("precompute --workers 0", "scripts", lambda c: _script_error(c, "precompute_rirs", "PrecomputeConfig",
                                                                          ["--workers", "0"]), SystemExit, "--workers"),
    Case("precompute --spacing 0.3", "scripts", lambda c: _script_error(c, "precompute_rirs", "PrecomputeConfig",
                                                                            ["--spacing", "0.3"]), SystemExit, "--spacing"),
    Case("precompute defaults ok", "scripts", lambda c: c.parse("precompute_rirs", "PrecomputeConfig", []), None),
    Case("demo --index 500", "scripts", lambda c: _script_error(c, "demo", "DemoConfig", ["--index", "500"]), SystemExit,
         "--index"),
    Case("demo --resolution 0", "scripts", lambda c: _script_error(c, "demo", "DemoConfig", ["--resolution", "0"]),
         SystemExit, "--resolution"),
    Case("demo --renderer vulkan", "scripts", lambda c: _script_error(c, "demo", "DemoConfig", ["--renderer", "vulkan"]),
         SystemExit, "--renderer"),
    Case("env failed_stop_reward +1", "env", lambda c: _make(c, failed_stop_reward=1.0), V, "failed_stop_reward"),
    # ---------------------------------------------------------------- agents
    Case("train --env-kwargs [1]", "agents", lambda c: _script_error(c, "train", "TrainConfig", ["--env-kwargs", "[1]"]),
         SystemExit, "--env-kwargs"),
    Case("train --env-kwargs not json", "agents", lambda c: _script_error(c, "train", "TrainConfig", ["--env-kwargs", "{x"]),
         SystemExit, "--env-kwargs"),
    Case("train --env-kwargs split", "agents", lambda c: _script_error(
        c, "train", "TrainConfig", ["--env-kwargs", '{"split": "val"}']), SystemExit, "--env-kwargs"),
    Case("train --agent dqn", "agents", lambda c: _script_error(c, "train", "TrainConfig", ["--agent", "dqn"]),
         SystemExit, "--agent"),
    Case("train --task CartPole-v1", "agents", lambda c: _script_error(c, "train", "TrainConfig", ["--task", "CartPole-v1"]),
         SystemExit, "--task"),
    Case("train --n-envs 0", "agents", lambda c: _script_error(c, "train", "TrainConfig", ["--n-envs", "0"]),
         SystemExit, "--n-envs"),
    Case("train defaults ok", "agents", lambda c: c.parse("train", "TrainConfig", []), None),
    Case("evaluate without checkpoint or baseline", "agents", lambda c: _script_error(c, "evaluate", "EvalConfig", []),
         SystemExit, "--checkpoint"),
    Case("evaluate --episodes 0", "agents", lambda c: _script_error(
        c, "evaluate", "EvalConfig", ["--baseline", "oracle", "--episodes", "0"]), SystemExit, "--episodes"),
    Case("evaluate --baseline smart", "agents", lambda c: _script_error(c, "evaluate", "EvalConfig", ["--baseline", "smart"]),
         SystemExit, "--baseline"),
    Case("checkpoint folder without meta.json", "agents", lambda c: _agent_checkpoint(c, "."), FileNotFoundError,
         "checkpoint"),
    Case("agent dqn", "agents", lambda c: _agent_model("dqn"), V, "agent"),
    Case("extractor 16x16 depth", "agents", lambda c: _agent_extractor((16, 16, 1)), V, "observation"),
    Case("extractor 4-D observation", "agents", lambda c: _agent_extractor((2, 8, 8, 1)), V, "observation"),
    Case("train --total-steps 0 without a warm start", "agents", lambda c: _script_error(
        c, "train", "TrainConfig", ["--total-steps", "0"]), SystemExit, "--total-steps"),
    Case("train recurrent-ppo with more minibatches than envs", "agents", lambda c: _script_error(
        c, "train", "TrainConfig", ["--minibatches", "3", "--n-envs", "2", "--agent", "recurrent-ppo"]), SystemExit,
        "--minibatches"),
    Case("train --imitation-steps -1", "agents", lambda c: _script_error(
        c, "train", "TrainConfig", ["--imitation-steps", "-1"]), SystemExit, "--imitation-steps"),
    Case("train --imitation-goal-coef -1", "agents", lambda c: _script_error(
        c, "train", "TrainConfig", ["--imitation-steps", "10", "--imitation-goal-coef", "-1"]), SystemExit,
         "--imitation-goal-coef"),
    Case("train --imitation-goal-coef without a warm start", "agents", lambda c: _script_error(
        c, "train", "TrainConfig", ["--imitation-goal-coef", "1"]), SystemExit, "--imitation-goal-coef"),
    Case("train --imitation-goal-coef for the waypoint agent", "agents", lambda c: _script_error(
        c, "train", "TrainConfig", ["--agent", "waypoint", "--imitation-steps", "10", "--imitation-goal-coef", "1"]),
         SystemExit, "--imitation-goal-coef"),
    Case("train --imitation-decision-weight for a flat agent", "agents", lambda c: _script_error(
        c, "train", "TrainConfig", ["--agent", "recurrent-ppo", "--imitation-steps", "10",
                                    "--imitation-decision-weight", "4"]), SystemExit, "--imitation-decision-weight"),
    Case("train --imitation-decision-weight 0", "agents", lambda c: _script_error(
        c, "train", "TrainConfig", ["--agent", "recurrent-waypoint", "--imitation-steps", "10",
                                    "--imitation-decision-weight", "0"]), SystemExit, "--imitation-decision-weight"),
    Case("train --imitation-stored-state for a feed-forward agent", "agents", lambda c: _script_error(
        c, "train", "TrainConfig", ["--agent", "ppo", "--imitation-steps", "10", "--imitation-stored-state"]),
         SystemExit, "--imitation-stored-state"),
    Case("train --imitation-stored-state without a warm start", "agents", lambda c: _script_error(
        c, "train", "TrainConfig", ["--agent", "recurrent-ppo", "--imitation-stored-state"]), SystemExit,
         "--imitation-stored-state"),
    Case("checkpoint name that is not shipped", "agents", lambda c: _agent_checkpoint(c, "pointgoal-champion"),
         FileNotFoundError, "shipped"),
    Case("shipped agent by name ok", "agents", lambda c: _agent_checkpoint(c, "audiogoal"), None),
    Case("meta.json task 5", "agents", lambda c: _bad_meta(c, task=5), V, "'task'"),
    Case("meta.json without task", "agents", lambda c: _bad_meta(c, task=None), V, "'task'"),
    Case("meta.json agent dqn", "agents", lambda c: _bad_meta(c, agent="dqn"), V, "'agent'"),
    Case("meta.json actions 0", "agents", lambda c: _bad_meta(c, actions=0), V, "'actions'"),
    Case("meta.json actions '4'", "agents", lambda c: _bad_meta(c, actions="4"), V, "'actions'"),
    Case("meta.json steps -3", "agents", lambda c: _bad_meta(c, steps=-3), V, "'steps'"),
    Case("meta.json observation list", "agents", lambda c: _bad_meta(c, observation=["depth"]), V, "'observation'"),
    Case("meta.json observation shape str", "agents", lambda c: _bad_meta(c, observation={"depth": ["64x64", "float32"]}),
         V, "'observation'"),
    Case("meta.json policy hidden 0", "agents", lambda c: _bad_meta(c, policy={"hidden": 0, "gru_hidden": 0}), V,
         "'policy'"),
    Case("meta.json policy missing", "agents", lambda c: _bad_meta(c, policy=None), V, "'policy'"),
    Case("meta.json env_kwargs string", "agents", lambda c: _bad_meta(c, env_kwargs="{}"), V, "'env_kwargs'"),
    Case("meta.json imitation steps 'many'", "agents", lambda c: _bad_meta(c, imitation={"steps": "many"}), V,
         "'imitation'"),
    Case("meta.json simulator list", "agents", lambda c: _bad_meta(c, simulator=[1]), V, "'simulator'"),
    Case("meta.json unchanged ok", "agents", lambda c: _bad_meta(c), None),
    Case("AudioConfig head kemr", "acoustics", lambda c: _config(head="kemr"), V, "head"),
    Case("AudioConfig head 3", "acoustics", lambda c: _config(head=3), V, "head"),
    Case("AudioConfig head missing sofa", "acoustics", lambda c: _config(head=str(c.tmp / "none.sofa")),
         FileNotFoundError, "does not exist"),
    Case("AudioConfig head text file", "acoustics", lambda c: _config(head=str(c.tmp / "x.txt")), V, "head"),
    Case("AudioConfig head sphere ok", "acoustics", lambda c: _config(head="sphere"), None),
    Case("env audio mfcc", "env", lambda c: _make(c, audio="mfcc"), V, "audio"),
    Case("env audio twice", "env", lambda c: _make(c, audio="gcc-phat+gcc-phat"), V, "twice"),
    Case("env head 0", "env", lambda c: _make(c, head=0), V, "head"),
    Case("env success_distance 1e308", "env", lambda c: _make(c, success_distance=1e308), V, "success_distance"),
    Case("NavGraph of a mesh in centimetres", "scenes", lambda c: _nav_huge(), V, "units"),
    Case("audio feature unknown", "acoustics", lambda c: _cue("mfcc", np.zeros((2, 16000), np.float32)), V, "feature"),
    Case("audio feature NaN", "acoustics", lambda c: _cue("onset-cues", np.full((2, 16000), np.nan, np.float32)), V,
         "finite"),
    Case("audio feature 1-D", "acoustics", lambda c: _cue("binaural-cues", np.zeros(16000, np.float32)), V, "shape"),
]


def _nav_huge():
    """A room modelled in centimetres read as metres: 500 x 400 m."""
    import time

    from earshot.scenes import NavGraph, shoebox

    t = time.perf_counter()
    try:
        NavGraph.build(shoebox(500.0, 400.0, 250.0))
    finally:
        assert time.perf_counter() - t < 5.0, "the node budget must be checked before any work"


def _cue(name, audio):
    from earshot.acoustics.cues import audio_feature

    audio_feature(name, audio)


def check_case(case: Case, ctx: Ctx, capture_stderr=None) -> tuple[bool, str]:
    """(clear, detail): whether the case behaves as the table says."""
    try:
        case.run(ctx)
    except BaseException as exc:  # noqa: BLE001 - SystemExit from argparse is expected in script cases
        if isinstance(exc, KeyboardInterrupt):
            raise
        message = str(exc)
        if isinstance(exc, SystemExit) and capture_stderr is not None:
            message = capture_stderr()
        if case.error is None:
            return False, f"raised {type(exc).__name__}: {message}"
        if not isinstance(exc, case.error):
            return False, f"raised {type(exc).__name__} (wanted {case.error.__name__}): {message}"
        if isinstance(exc, SystemExit) and exc.code != 2:
            return False, f"exit code {exc.code}"
        if case.names not in message:
            return False, f"message does not name {case.names!r}: {message}"
        if "\n" in message.strip() and not isinstance(exc, SystemExit):
            return False, f"message is not one sentence: {message}"
        return True, message
    if case.error is not None:
        return False, "accepted silently"
    return True, "ok"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Ctx(tmp_path_factory.mktemp("bad_inputs"))


def test_table_is_large_and_covers_every_area():
    areas = {c.area for c in CASES}
    assert {"scenes", "render", "acoustics", "cache", "env", "episodes", "scripts"} <= areas
    assert sum(c.error is not None for c in CASES) >= 60
    assert sum(c.error is None for c in CASES) >= 10
    assert len({c.id for c in CASES}) == len(CASES)


def assert_clear(case, ctx, capsys, caplog) -> None:
    """The case gets its one clear error (or works, for the values that must), with what it
    printed to stderr and logged as evidence."""
    def stderr():
        return capsys.readouterr().err

    with caplog.at_level(logging.WARNING):
        clear, detail = check_case(case, ctx, stderr)
    assert clear, detail


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, ctx, capsys, caplog):
    assert_clear(case, ctx, capsys, caplog)


if __name__ == "__main__":  # a tally, for comparing versions of the code
    import contextlib
    import io

    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp())
    context = Ctx(tmp)
    good = 0
    for case in CASES:
        buffer = io.StringIO()
        with contextlib.redirect_stderr(buffer):
            clear, detail = check_case(case, context, buffer.getvalue)
        good += clear
        if not clear:
            print(f"NOT CLEAR  {case.area:9s} {case.id}: {detail[:160]}")
    print(f"{good} of {len(CASES)} cases clear ({sum(c.error is not None for c in CASES)} bad inputs, "
          f"{sum(c.error is None for c in CASES)} that must succeed)")
    shutil.rmtree(tmp, ignore_errors=True)

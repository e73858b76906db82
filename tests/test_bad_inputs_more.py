"""More bad inputs, one clear error each: every ``gym.make`` keyword argument of every registered
task, episode files, meshes, AudioConfig fields, SOFA files, checkpoints and their meta.json,
dataset manifests and the scripts' options. Same contract as ``tests/test_bad_inputs.py``
(whose ``Case``, ``Ctx`` and ``assert_clear`` this reuses): each bad case asserts the error type
and that the message names the argument at fault; each good case must succeed.

The cases are built from the rules each entry point enforces (types, finite numbers, ranges,
paths, budgets), one per rule and argument, rather than from remembered failures.
"""

from __future__ import annotations

import copy
import gzip
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.test_bad_inputs import Case, Ctx, assert_clear

V, T, F = ValueError, TypeError, FileNotFoundError
NAN, INF = float("nan"), float("inf")
ENV_IDS = ("earshot/PointGoal-v0", "earshot/AudioGoal-v0", "earshot/AudioPointGoal-v0",
           "earshot/SemanticAudioGoal-v0", "earshot/MovingSource-v0", "earshot/EchoDepth-v0")


class MoreCtx(Ctx):
    """``Ctx`` plus the inputs of this file's entry points."""

    def make(self, env_id="earshot/AudioGoal-v0", **kw):
        self.env(env_id, **kw).close()

    def sub(self, name: str) -> Path:
        """A fresh folder under the temp folder."""
        n = len(list(self.tmp.glob(f"{name}-*")))
        path = self.tmp / f"{name}-{n}"
        path.mkdir()
        return path


# ----------------------------------------------------------------------- gym.make kwargs
# (kwarg, a value every task refuses, the exception): one per rule (type, finite, range, choice)
BAD_KWARGS = [
    ("resolution", "64", V), ("resolution", 4096, V),
    ("hfov_deg", INF, V),
    ("renderer", None, V),
    ("audio", "", V),
    ("sensors", "rgb", V),
    ("echoes", "yes", V),
    ("render_mode", "ansi", V),
    ("camera_height", -1.0, V),
    ("motion", None, V),
    ("turn_angle_deg", NAN, V),
    ("forward_step", 3.0, V),
    ("audio_config", 16_000, V),
    ("echo_config", "44k", V),
    ("rir_cache", 5, V),
    ("tail_cache", 5, V),
    ("head", "kemar.wav", V),
    ("split", None, V),
    ("scenes", -3, V),
    ("sounds", 5, V), ("sounds", ["alarm~x"], V),
    ("sound_variants", -1, V), ("sound_variants", 2.5, V),
    ("episodes", 42, V),
    ("episodes_per_scene", 10**9, V),
    ("spacing", INF, V),
    ("max_steps", 1.5, V),
    ("success_distance", -1.0, V),
    ("episodes_per_visit", 0, V),
    ("scene_memory", 0, V),
    ("scene_shard", (2, 2), V),
    ("scene_cache", 7, V),
    ("mesh_kwargs", "y", V),
    ("p_move", NAN, V),
    ("num_distractors", 100, V),
    ("distractor_mode", "moving", V),
    ("failed_stop_reward", "0", V),
    ("spl_reward", "yes", V),
    ("revisit_reward", NAN, V),
    ("goal_area", "nearby", V),
    ("view_radius", -1.0, V),
]


def _kwarg_case(env_id, name, value, error):
    short = env_id.split("/")[1]
    return Case(f"{short} {name}={value!r}", "env kwargs", lambda c: c.make(env_id, **{name: value}), error, name)


KWARG_CASES = [_kwarg_case(i, n, v, e) for i in ENV_IDS for n, v, e in BAD_KWARGS]
KWARG_CASES += [Case(f"{i.split('/')[1]} unknown kwarg", "env kwargs", lambda c, i=i: c.make(i, resolutoin=64), V,
                     "resolutoin") for i in ENV_IDS]
KWARG_CASES += [
    Case("sensors with an unknown key", "env kwargs", lambda c: c.make(sensors=["depth", "smell"]), V, "sensors"),
    Case("pointgoal sensors spectrogram", "env kwargs", lambda c: c.make("earshot/PointGoal-v0", sensors=["spectrogram"]),
         V, "sensors"),
    Case("scene_shard of floats", "env kwargs", lambda c: c.make(scene_shard=(0.0, 1.0)), V, "scene_shard"),
    Case("scene_shard more shards than scenes", "env kwargs", lambda c: c.make(scene_shard=(0, 5)), V, "scene_shard"),
    Case("scenes a float seed", "env kwargs", lambda c: c.make(scenes=[1.5]), V, "scenes"),
    Case("audio a list", "env kwargs", lambda c: c.make(audio=["spectrogram"]), V, "audio"),
    Case("config and kwargs both", "env kwargs", lambda c: _config_and_kwargs(), V, "config"),
    Case("config not an EnvConfig", "env kwargs", lambda c: _env_class()(config={"task": "audiogoal"}), V, "config"),
    Case("every task ok", "env kwargs", lambda c: [c.make(i) for i in ENV_IDS], None),
]


def _env_class():
    from earshot.av_env.env import AVNavEnv

    return AVNavEnv


def _config_and_kwargs():
    from earshot.av_env import EnvConfig

    _env_class()(config=EnvConfig(), resolution=32)


# ----------------------------------------------------------------------- episode files
def _episodes(c, edit, name=None, **env_kw):
    """The module's episode file with ``edit(data)`` applied, loaded by an env."""
    data = c.episodes_json()
    edit(data)
    path = c.write_episodes(name or f"ep-{len(list(c.tmp.glob('ep-*')))}.json.gz", data)
    c.make(**{"episodes": path, **env_kw})


def _first(key, value):
    def edit(data):
        data["episodes"][0][key] = value
    return edit


def _drop(key):
    def edit(data):
        del data["episodes"][0][key]
    return edit


def _header(key, value):
    def edit(data):
        if value is None:
            del data[key]
        else:
            data[key] = value
    return edit


def _raw_episodes(c, text: bytes, name: str, compress=True):
    path = c.tmp / name
    path.write_bytes(gzip.compress(text) if compress else text)
    c.make(episodes=path)


def _duplicate_id(data):
    data["episodes"][1]["episode_id"] = data["episodes"][0]["episode_id"]


def _moving_distractors(c, value):
    import dataclasses

    from earshot.av_env import load_episodes

    eps = [dataclasses.replace(e, distractors=value) for e in load_episodes(c.episodes_file)]
    c.make("earshot/MovingSource-v0", episodes=eps)


def _heading_multiple(c, degrees, **kw):
    _episodes(c, _first("start_heading", math.radians(degrees)), **kw)


def _episode_objects(c, **changes):
    import dataclasses

    from earshot.av_env import load_episodes

    eps = load_episodes(c.episodes_file)
    eps[0] = dataclasses.replace(eps[0], **changes)
    c.make(episodes=eps)


EPISODE_CASES = [
    Case("episodes start_node string", "episodes", lambda c: _episodes(c, _first("start_node", "3")), V, "start_node"),
    Case("episodes start_node float", "episodes", lambda c: _episodes(c, _first("start_node", 3.0)), V, "start_node"),
    Case("episodes start_node bool", "episodes", lambda c: _episodes(c, _first("start_node", True)), V, "start_node"),
    Case("episodes start_node -1", "episodes", lambda c: _episodes(c, _first("start_node", -1)), V, "node"),
    Case("episodes goal_node out of range", "episodes", lambda c: _episodes(c, _first("goal_node", 10**6)), V, "node"),
    Case("episodes goal_node null", "episodes", lambda c: _episodes(c, _first("goal_node", None)), V, "goal_node"),
    Case("episodes start_heading NaN", "episodes", lambda c: _episodes(c, _first("start_heading", NAN)), V,
         "start_heading"),
    Case("episodes start_heading inf", "episodes", lambda c: _episodes(c, _first("start_heading", INF)), V,
         "start_heading"),
    Case("episodes start_heading string", "episodes", lambda c: _episodes(c, _first("start_heading", "north")), V,
         "start_heading"),
    Case("episodes start_heading 0.3 rad in grid", "episodes", lambda c: _episodes(c, _first("start_heading", 0.3)),
         V, "start_heading"),
    Case("episodes start_heading 45 deg, turns of 90", "episodes", lambda c: _heading_multiple(c, 45.0), V,
         "start_heading"),
    Case("episodes start_heading 1e300", "episodes", lambda c: _episodes(c, _first("start_heading", 1e300)), V,
         "start_heading"),
    Case("episodes start_heading 45 deg, turns of 45 ok", "episodes",
         lambda c: _heading_multiple(c, 45.0, turn_angle_deg=45), None),
    Case("episodes start_heading 0.3 rad continuous ok", "episodes",
         lambda c: _episodes(c, _first("start_heading", 0.3), motion="continuous"), None),
    Case("episodes geodesic NaN", "episodes", lambda c: _episodes(c, _first("geodesic_distance", NAN)), V,
         "geodesic_distance"),
    Case("episodes geodesic -1", "episodes", lambda c: _episodes(c, _first("geodesic_distance", -1.0)), V,
         "geodesic_distance"),
    Case("episodes geodesic string", "episodes", lambda c: _episodes(c, _first("geodesic_distance", "far")), V,
         "geodesic_distance"),
    Case("episodes sound unknown", "episodes", lambda c: _episodes(c, _first("sound", "kazoo")), V, "sound"),
    Case("episodes sound number", "episodes", lambda c: _episodes(c, _first("sound", 3)), V, "sound"),
    Case("episodes scene number", "episodes", lambda c: _episodes(c, _first("scene", 7)), V, "scene"),
    Case("episodes scene procedural:abc", "episodes", lambda c: _episodes(c, _first("scene", "procedural:abc")), V,
         "scene"),
    Case("episodes scene missing mesh", "episodes", lambda c: _episodes(c, _first("scene", str(c.tmp / "gone.glb"))), F,
         "gone.glb"),
    Case("episodes scene_hash number", "episodes", lambda c: _episodes(c, _first("scene_hash", 12)), V, "scene_hash"),
    Case("episodes scene_hash other", "episodes", lambda c: _episodes(c, _first("scene_hash", "0" * 64)), V, "hash"),
    Case("episodes episode_id list", "episodes", lambda c: _episodes(c, _first("episode_id", [1])), V, "episode_id"),
    Case("episodes duplicate episode_id", "episodes", lambda c: _episodes(c, _duplicate_id), V, "episode_id"),
    Case("episodes category unknown", "episodes", lambda c: _episodes(c, _first("category", "unicorn")), V, "category"),
    Case("episodes sound_seconds -5", "episodes", lambda c: _episodes(c, _first("sound_seconds", -5.0)), V,
         "sound_seconds"),
    Case("episodes sound_seconds NaN", "episodes", lambda c: _episodes(c, _first("sound_seconds", NAN)), V,
         "sound_seconds"),
    Case("episodes distractors dict", "episodes", lambda c: _episodes(c, _first("distractors", {"a": 1})), V,
         "distractors"),
    Case("episodes distractor node out of range", "episodes",
         lambda c: _episodes(c, _first("distractors", [[10**6, "telephone"]])), V, "node"),
    Case("episodes distractor without sound", "episodes", lambda c: _episodes(c, _first("distractors", [[0]])), V,
         "distractors"),
    Case("episodes distractor unknown sound", "episodes", lambda c: _episodes(c, _first("distractors", [[0, "kazoo"]])),
         V, "distractors"),
    Case("episodes missing goal_node", "episodes", lambda c: _episodes(c, _drop("goal_node")), V, "goal_node"),
    Case("episodes missing start_heading", "episodes", lambda c: _episodes(c, _drop("start_heading")), V,
         "start_heading"),
    Case("episodes unknown episode key", "episodes", lambda c: _episodes(c, _first("colour", "red")), V, "colour"),
    Case("episodes entry not an object", "episodes", lambda c: _episodes(c, lambda d: d["episodes"].append(5)), V,
         "episodes"),
    Case("episodes list is an object", "episodes", lambda c: _episodes(c, _header("episodes", {"a": {}})), V,
         "episodes"),
    Case("episodes no 'episodes' key", "episodes", lambda c: _episodes(c, _header("episodes", None)), V, "episodes"),
    Case("episodes no split", "episodes", lambda c: _episodes(c, _header("split", None)), V, "split"),
    Case("episodes spacing NaN", "episodes", lambda c: _episodes(c, _header("spacing", NAN)), V, "spacing"),
    Case("episodes spacing string", "episodes", lambda c: _episodes(c, _header("spacing", "half")), V, "spacing"),
    Case("episodes split a number", "episodes", lambda c: _episodes(c, _header("split", 3)), V, "split"),
    Case("episodes top level a list", "episodes", lambda c: _raw_episodes(c, b"[1, 2]", "list.json.gz"), V, "version"),
    Case("episodes plain JSON, not gzip", "episodes",
         lambda c: _raw_episodes(c, json.dumps(c.episodes_json()).encode(), "plain.json.gz", compress=False), V,
         "plain.json.gz"),
    Case("episodes not UTF-8", "episodes", lambda c: _raw_episodes(c, b"\xff\xfe\x00bad", "latin.json.gz"), V,
         "latin.json.gz"),
    Case("episodes path a folder", "episodes", lambda c: c.make(episodes=c.tmp), F, "episodes"),
    Case("episodes path an int list", "episodes", lambda c: c.make(episodes=[1, 2]), V, "episodes"),
    Case("episodes object start_heading NaN", "episodes", lambda c: _episode_objects(c, start_heading=NAN), V,
         "start_heading"),
    Case("episodes object goal_node str", "episodes", lambda c: _episode_objects(c, goal_node="7"), V, "goal_node"),
    Case("episodes moving distractors malformed", "episodes", lambda c: _moving_distractors(c, [["x", "telephone"]]),
         V, "distractors"),
    Case("episodes unchanged ok", "episodes", lambda c: _episodes(c, lambda d: None), None),
]


# ----------------------------------------------------------------------- meshes
def _load(c, path="room", **kw):
    from earshot.scenes import load_scene

    load_scene(c.room_file if isinstance(path, str) and path == "room" else path, **kw)


def _mesh_text(c, name, text):
    path = c.tmp / name
    path.write_text(text)
    _load(c, path)


def _obj_with(c, name, vertices, faces):
    lines = [f"v {x} {y} {z}" for x, y, z in vertices] + [f"f {' '.join(str(i + 1) for i in f)}" for f in faces]
    _mesh_text(c, name, "\n".join(lines) + "\n")


def _room_file(c) -> Path:
    path = c.tmp / "room.glb"
    if not path.exists():
        c.room.export(path)
    return path


MoreCtx.room_file = property(_room_file)
_TRI = [(0, 0, 0), (4, 0, 0), (4, 4, 0)]

MESH_CASES = [
    Case("mesh path None", "meshes", lambda c: _load(c, path=None), V, "path"),
    Case("mesh path a number", "meshes", lambda c: _load(c, path=5), V, "path"),
    Case("mesh empty obj", "meshes", lambda c: _mesh_text(c, "empty.obj", ""), V, "empty.obj"),
    Case("mesh empty ply", "meshes", lambda c: _mesh_text(c, "empty.ply", ""), V, "empty.ply"),
    Case("mesh vertices, no faces", "meshes", lambda c: _obj_with(c, "points.obj", _TRI, []), V, "points.obj"),
    Case("mesh comments only", "meshes", lambda c: _mesh_text(c, "comment.obj", "# nothing here\n"), V, "comment.obj"),
    Case("mesh NaN vertex", "meshes", lambda c: _obj_with(c, "nan.obj", [(0, 0, 0), (4, 0, 0), ("nan", 4, 0)],
                                                          [(0, 1, 2)]), V, "nan.obj"),
    Case("mesh inf vertex", "meshes", lambda c: _obj_with(c, "inf.obj", [(0, 0, 0), (4, 0, 0), ("inf", 4, 0)],
                                                          [(0, 1, 2)]), V, "inf.obj"),
    Case("mesh degenerate triangles", "meshes", lambda c: _obj_with(c, "flat.obj", [(0, 0, 0), (1, 0, 0), (2, 0, 0)],
                                                                    [(0, 1, 2)]), V, "flat.obj"),
    Case("mesh no walkable floor (a lone wall)", "meshes", lambda c: _obj_with(
        c, "wall.obj", [(0, 0, 0), (4, 0, 0), (4, 0, 3), (0, 0, 3)], [(0, 1, 2), (0, 2, 3)]), V, "walkable floor"),
    Case("mesh floor too small", "meshes", lambda c: _obj_with(
        c, "tiny.obj", [(0, 0, 0), (0.1, 0, 0), (0.1, 0.1, 0)], [(0, 1, 2)]), V, "walkable floor"),
    Case("mesh wrong extension", "meshes", lambda c: _load(c, path=_file_at(c, "scene.fbx", b"x" * 10)), V, ".fbx"),
    Case("mesh a folder", "meshes", lambda c: _load(c, path=c.tmp), V, "directory"),
    Case("mesh scale string", "meshes", lambda c: _load(c, scale="1"), V, "scale"),
    Case("mesh scale -1", "meshes", lambda c: _load(c, scale=-1.0), V, "scale"),
    Case("mesh scale inf", "meshes", lambda c: _load(c, scale=INF), V, "scale"),
    Case("mesh scale 1e6 (km-sized rooms)", "meshes", lambda c: _load(c, scale=1e6), V, "scale"),
    Case("mesh scale 1e-6 (micrometre rooms)", "meshes", lambda c: _load(c, scale=1e-6), V, "scale"),
    Case("mesh scale bool", "meshes", lambda c: _load(c, scale=True), V, "scale"),
    Case("mesh up_axis list", "meshes", lambda c: _load(c, up_axis=["y"]), V, "up_axis"),
    Case("mesh floor_height inf", "meshes", lambda c: _load(c, floor_height=INF), V, "floor_height"),
    Case("mesh floor_height string", "meshes", lambda c: _load(c, floor_height="0"), V, "floor_height"),
    Case("mesh floor_height 1e9", "meshes", lambda c: _load(c, floor_height=1e9), V, "floor_height"),
    Case("mesh materials a list", "meshes", lambda c: _load(c, materials=["plaster"]), V, "materials"),
    Case("mesh materials unknown name", "meshes", lambda c: _load(c, materials={"walls": "unobtainium"}), V,
         "unobtainium"),
    Case("mesh default_material unknown", "meshes", lambda c: _load(c, default_material="jelly"), V, "jelly"),
    Case("mesh default_material number", "meshes", lambda c: _load(c, default_material=3), V, "default_material"),
    Case("mesh name a number", "meshes", lambda c: _load(c, name=3), V, "name"),
    Case("mesh env mesh_kwargs scale 0", "meshes", lambda c: c.make(scenes=[str(c.room_file)], mesh_kwargs={"scale": 0}),
         V, "scale"),
    Case("mesh glb ok", "meshes", lambda c: _load(c), None),
    Case("mesh obj of one floor ok", "meshes", lambda c: _obj_with(
        c, "floor.obj", [(0, 0, 0), (4, 0, 0), (4, 4, 0), (0, 4, 0)], [(0, 1, 2), (0, 2, 3)]), None),
]


def _file_at(c, name, content):
    path = c.tmp / name
    path.write_bytes(content)
    return path


# ----------------------------------------------------------------------- AudioConfig
def _audio(**kw):
    from earshot.acoustics import AudioConfig

    AudioConfig(**kw)


# (field, bad value): a wrong type, a non-finite number and an out-of-range value per kind of field
BAD_AUDIO = [
    ("sample_rate", "16000"), ("sample_rate", True), ("sample_rate", INF),
    ("rir_seconds", NAN), ("rir_seconds", "1"), ("rir_seconds", 0.0), ("rir_seconds", 1e6),
    ("ism_order", -1), ("ism_order", 11), ("ism_order", None),
    ("tail", None), ("tail", 3),
    ("rays", 0), ("rays", 10**12), ("rays", 2000.0),
    ("speed_of_sound", NAN), ("speed_of_sound", 0.0), ("speed_of_sound", 3e8),
    ("head", ""), ("head", None),
    ("head_radius", INF), ("head_radius", 0.0), ("head_radius", 2.0),
    ("ear_height", -1.5), ("ear_height", NAN),
    ("source_height", 100.0),
    ("source_radius", NAN), ("source_radius", 10.0),
    ("n_fft", 0), ("n_fft", 10**9), ("n_fft", 512.0),
    ("hop_length", 0), ("hop_length", 10**6),
    ("win_length", -1),
    ("pool", 0), ("pool", 10**6), ("pool", "4"),
    ("step_seconds", INF), ("step_seconds", 0.0),
    ("include_furniture", "yes"), ("include_furniture", 1),
    ("chirp_seconds", 0.0), ("chirp_seconds", NAN),
    ("chirp_low_hz", -20.0), ("chirp_high_hz", INF), ("chirp_high_hz", 1e9),
    ("emitter", "laser"), ("emitter", None),
]
AUDIO_CASES = [Case(f"AudioConfig {name}={value!r}", "AudioConfig", lambda c, n=name, v=value: _audio(**{n: v}), V,
                    name) for name, value in BAD_AUDIO]
AUDIO_CASES += [
    Case("AudioConfig unknown field", "AudioConfig", lambda c: _audio(samplerate=16_000), T, "samplerate"),
    Case("AudioConfig replace unknown field", "AudioConfig", lambda c: _audio_replace(ism=2), T, "ism"),
    Case("AudioConfig chirp_high below low", "AudioConfig", lambda c: _audio(chirp_low_hz=500.0, chirp_high_hz=400.0),
         V, "chirp_high_hz"),
    Case("AudioConfig echo chirp above Nyquist", "AudioConfig", lambda c: c.make("earshot/EchoDepth-v0",
                                                                                  echo_config=_echo16k()), V, "chirp"),
    Case("AudioConfig 48 kHz sphere ok", "AudioConfig", lambda c: _audio(sample_rate=48_000, head="sphere"), None),
]


def _audio_replace(**kw):
    from earshot.acoustics import AudioConfig

    AudioConfig().replace(**kw)


def _echo16k():
    from earshot.acoustics.echo import ECHO_CONFIG

    return ECHO_CONFIG.replace(sample_rate=16_000)


# ----------------------------------------------------------------------- SOFA files
def _sphere_directions():
    pos = [(az, el, 1.2) for el in (-45.0, 0.0, 45.0) for az in range(0, 360, 45)]
    return np.array(pos + [(0.0, 90.0, 1.2), (0.0, -90.0, 1.2)])


def _write_sofa(c, name, *, convention="SimpleFreeFieldHRIR", ir="ok", pos="ok", fs=48_000.0, drop=(), attrs=None,
                extra=None):
    import h5py

    p = _sphere_directions() if isinstance(pos, str) else pos
    if isinstance(ir, str):
        rng = np.random.default_rng(0)
        ir = rng.normal(size=(len(p), 2, 32)) * np.exp(-np.arange(32) / 4.0)
    path = c.tmp / name
    with h5py.File(path, "w") as f:
        f.attrs["Conventions"] = np.bytes_("SOFA")
        if convention is not None:
            f.attrs["SOFAConventions"] = np.bytes_(convention)
        if "Data.IR" not in drop:
            f["Data.IR"] = ir
        if "Data.SamplingRate" not in drop:
            f["Data.SamplingRate"] = np.atleast_1d(np.asarray(fs, dtype=np.float64))
        if "SourcePosition" not in drop:
            d = f.create_dataset("SourcePosition", data=p)
            d.attrs["Type"] = np.bytes_("spherical")
            d.attrs["Units"] = np.bytes_("degree, degree, metre")
        for (var, key), value in (attrs or {}).items():
            f[var].attrs[key] = np.bytes_(value)
        for key, value in (extra or {}).items():
            f[key] = value
    return path


def _head(c, name, **kw):
    from earshot.acoustics import AudioConfig
    from earshot.acoustics.heads import load_head

    load_head(AudioConfig(head=str(_write_sofa(c, name, **kw)), sample_rate=48_000))


def _head_file(c, name, content: bytes):
    from earshot.acoustics import AudioConfig
    from earshot.acoustics.heads import load_head

    path = _file_at(c, name, content)
    load_head(AudioConfig(head=str(path), sample_rate=48_000))


def _npz_head(c, name, **arrays):
    from earshot.acoustics import AudioConfig
    from earshot.acoustics.heads import load_head

    path = c.tmp / name
    np.savez(path, **arrays)
    load_head(AudioConfig(head=str(path), sample_rate=48_000))


_M = len(_sphere_directions())
SOFA_CASES = [
    Case("sofa no convention", "sofa", lambda c: _head(c, "noconv.sofa", convention=None), V, "SOFAConventions"),
    Case("sofa GeneralFIR convention", "sofa", lambda c: _head(c, "fir.sofa", convention="GeneralFIR"), V, "GeneralFIR"),
    Case("sofa no Data.IR", "sofa", lambda c: _head(c, "noir.sofa", drop=("Data.IR",)), V, "Data.IR"),
    Case("sofa no Data.SamplingRate", "sofa", lambda c: _head(c, "nofs.sofa", drop=("Data.SamplingRate",)), V,
         "Data.SamplingRate"),
    Case("sofa no SourcePosition", "sofa", lambda c: _head(c, "nopos.sofa", drop=("SourcePosition",)), V,
         "SourcePosition"),
    Case("sofa Data.IR 2-D", "sofa", lambda c: _head(c, "ir2d.sofa", ir=np.ones((_M, 32))), V, "Data.IR"),
    Case("sofa Data.IR 3 receivers", "sofa", lambda c: _head(c, "ir3.sofa", ir=np.ones((_M, 3, 32))), V, "Data.IR"),
    Case("sofa Data.IR one tap", "sofa", lambda c: _head(c, "ir1.sofa", ir=np.ones((_M, 2, 1))), V, "Data.IR"),
    Case("sofa Data.IR NaN", "sofa", lambda c: _head(c, "irnan.sofa", ir=np.full((_M, 2, 32), np.nan)), V, "Data.IR"),
    Case("sofa Data.IR text", "sofa", lambda c: _head(c, "irtext.sofa", ir=np.array([b"a", b"b"])), V, "Data.IR"),
    Case("sofa Data.IR all zeros", "sofa", lambda c: _head(c, "irzero.sofa", ir=np.zeros((_M, 2, 32))), V, "zeros"),
    Case("sofa SourcePosition rows mismatch", "sofa", lambda c: _head(c, "posrows.sofa", pos=_sphere_directions()[:-3],
                                                                          ir=np.ones((_M, 2, 32))),
         V, "SourcePosition"),
    Case("sofa SourcePosition 2 columns", "sofa", lambda c: _head(c, "pos2.sofa", pos=_sphere_directions()[:, :2]), V,
         "SourcePosition"),
    Case("sofa SourcePosition NaN", "sofa", lambda c: _head(c, "posnan.sofa", pos=np.full((_M, 3), np.nan)), V,
         "SourcePosition"),
    Case("sofa SourcePosition Type polar", "sofa", lambda c: _head(c, "polar.sofa", attrs={("SourcePosition", "Type"): "polar"}),
         V, "SourcePosition"),
    Case("sofa elevation 120", "sofa", lambda c: _head(c, "el120.sofa", pos=_sphere_directions() * [1, 1.5, 1]), V,
         "SourcePosition"),
    Case("sofa sample rate 0", "sofa", lambda c: _head(c, "fs0.sofa", fs=0.0), V, "Data.SamplingRate"),
    Case("sofa sample rate NaN", "sofa", lambda c: _head(c, "fsnan.sofa", fs=NAN), V, "Data.SamplingRate"),
    Case("sofa sample rate 3 values", "sofa", lambda c: _head(c, "fs3.sofa", fs=[48e3, 48e3, 48e3]), V,
         "Data.SamplingRate"),
    Case("sofa sample rates differ", "sofa", lambda c: _head(c, "fsdiff.sofa", fs=np.r_[np.full(_M - 1, 48e3), 44.1e3]),
         V, "Data.SamplingRate"),
    Case("sofa sample rate 1 Hz", "sofa", lambda c: _head(c, "fs1.sofa", fs=1.0), V, "Data.SamplingRate"),
    Case("sofa sample rate in kHz", "sofa", lambda c: _head(c, "khz.sofa", attrs={("Data.SamplingRate", "Units"): "kilohertz"}),
         V, "Data.SamplingRate"),
    Case("sofa Data.Delay negative", "sofa", lambda c: _head(c, "dneg.sofa", extra={"Data.Delay": np.array([[-1.0, 0.0]])}),
         V, "Data.Delay"),
    Case("sofa Data.Delay wrong shape", "sofa", lambda c: _head(c, "dshape.sofa", extra={"Data.Delay": np.zeros(3)}), V,
         "Data.Delay"),
    Case("sofa Data.Delay of a day", "sofa", lambda c: _head(c, "dhuge.sofa", extra={"Data.Delay": np.array([[4.2e9, 0.0]])}),
         V, "Data.Delay"),
    Case("sofa three directions", "sofa", lambda c: _head(c, "three.sofa", pos=_sphere_directions()[:3],
                                                         ir=np.ones((3, 2, 32))), V, "three.sofa"),
    Case("sofa one plane", "sofa", lambda c: _head(c, "plane.sofa", pos=_sphere_directions()[8:16],
                                                   ir=np.ones((8, 2, 32))), V, "plane.sofa"),
    Case("sofa text file", "sofa", lambda c: _head_file(c, "text.sofa", b"not hdf5 at all" * 10), V, "text.sofa"),
    Case("sofa empty file", "sofa", lambda c: _head_file(c, "zero.sofa", b""), V, "zero.sofa"),
    Case("sofa missing file", "sofa", lambda c: _audio(head=str(c.tmp / "gone.sofa")), F, "gone.sofa"),
    Case("npz head without hrir", "sofa", lambda c: _npz_head(c, "nohrir.npz", sample_rate=48_000.0), V, "hrir"),
    Case("npz head NaN", "sofa", lambda c: _npz_head(c, "nan.npz", hrir=np.full((_M, 2, 32), np.nan), sample_rate=48e3,
                                                     azimuth_deg=_sphere_directions()[:, 0],
                                                     elevation_deg=_sphere_directions()[:, 1]), V, "nan.npz"),
    Case("npz head not a zip", "sofa", lambda c: _head_file(c, "junk.npz", b"PK junk" * 10), V, "junk.npz"),
    Case("sofa ok", "sofa", lambda c: _head(c, "good.sofa"), None),
]


# ----------------------------------------------------------------------- checkpoints
def _ckpt(c, edit=None, meta_text=None):
    """A copy of the shipped agent with its meta.json edited (``edit(meta)``) or replaced."""
    from earshot.agents.checkpoints import resolve_checkpoint

    folder = c.sub("ckpt")
    shutil.rmtree(folder)
    shutil.copytree(resolve_checkpoint("audiogoal"), folder)
    if meta_text is not None:
        (folder / "meta.json").write_bytes(meta_text)
    elif edit is not None:
        meta = json.loads((folder / "meta.json").read_text())
        edit(meta)
        (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def _meta(c, edit=None, meta_text=None):
    from earshot.agents.checkpoints import read_meta

    read_meta(_ckpt(c, edit, meta_text))


def _set(key, value):
    def edit(meta):
        meta[key] = value
    return edit


def _policy_set(**kw):
    def edit(meta):
        meta["policy"].update(kw)
    return edit


def _obs_set(key, spec):
    def edit(meta):
        meta["observation"][key] = spec
    return edit


def _space(meta):
    import gymnasium as gym

    return gym.spaces.Dict({k: gym.spaces.Box(-np.inf, np.inf, tuple(s), np.dtype(d)) for k, (s, d)
                            in meta["observation"].items()})


def _load_policy(c, weights=None, space=None):
    """``load_policy`` of a shipped-agent copy whose policy.pt is ``weights(state)`` (None: removed)."""
    import gymnasium as gym
    import torch

    from earshot.agents.checkpoints import load_policy, read_meta

    folder = _ckpt(c)
    meta = read_meta(folder)
    if weights is not _KEEP:
        state = torch.load(folder / "policy.pt", weights_only=True)
        (folder / "policy.pt").unlink()
        if weights is not None:
            out = weights(state)
            if isinstance(out, bytes):
                (folder / "policy.pt").write_bytes(out)
            else:
                torch.save(out, folder / "policy.pt")
    load_policy(folder, space(meta) if space else _space(meta), gym.spaces.Discrete(4))


_KEEP = object()


def _drop_key(state):
    state = dict(state)
    state.pop(sorted(state)[0])
    return state


def _reshape_first(state):
    import torch

    state = dict(state)
    k = sorted(state)[0]
    state[k] = torch.zeros(tuple(n + 1 for n in state[k].shape))
    return state


def _other_space(meta):
    import gymnasium as gym

    return gym.spaces.Dict({"depth": gym.spaces.Box(0, 1, (32, 32, 1), np.float32)})


def _read_meta_of(path):
    from earshot.agents.checkpoints import read_meta

    read_meta(path)


CHECKPOINT_CASES = [
    Case("checkpoint path None", "checkpoints", lambda c: _read_meta_of(None), V, "checkpoint"),
    Case("checkpoint path a number", "checkpoints", lambda c: _read_meta_of(3), V, "checkpoint"),
    Case("checkpoint path empty", "checkpoints", lambda c: _read_meta_of(""), V, "checkpoint"),
    Case("checkpoint missing folder", "checkpoints", lambda c: _read_meta_of(c.tmp / "no-run"), F, "no-run"),
    Case("meta.json binary", "checkpoints", lambda c: _meta(c, meta_text=b"\xff\xfe\x00\x01"), V, "meta.json"),
    Case("meta.json truncated", "checkpoints", lambda c: _meta(c, meta_text=b'{"format": "earshot-che'), V, "meta.json"),
    Case("meta.json a list", "checkpoints", lambda c: _meta(c, meta_text=b"[1, 2]"), V, "format"),
    Case("meta.json empty", "checkpoints", lambda c: _meta(c, meta_text=b""), V, "meta.json"),
    Case("meta.json format 2", "checkpoints", lambda c: _meta(c, _set("format", "earshot-checkpoint-2")), V, "format"),
    Case("meta.json task not earshot", "checkpoints", lambda c: _meta(c, _set("task", "CartPole-v1")), V, "'task'"),
    Case("meta.json task list", "checkpoints", lambda c: _meta(c, _set("task", ["earshot/AudioGoal-v0"])), V, "'task'"),
    Case("meta.json agent None", "checkpoints", lambda c: _meta(c, _set("agent", None)), V, "'agent'"),
    Case("meta.json actions true", "checkpoints", lambda c: _meta(c, _set("actions", True)), V, "'actions'"),
    Case("meta.json actions 10**9", "checkpoints", lambda c: _meta(c, _set("actions", 10**9)), V, "'actions'"),
    Case("meta.json actions 4.0", "checkpoints", lambda c: _meta(c, _set("actions", 4.0)), V, "'actions'"),
    Case("meta.json steps 1.5", "checkpoints", lambda c: _meta(c, _set("steps", 1.5)), V, "'steps'"),
    Case("meta.json steps missing", "checkpoints", lambda c: _meta(c, lambda m: m.pop("steps")), V, "'steps'"),
    Case("meta.json observation empty", "checkpoints", lambda c: _meta(c, _set("observation", {})), V, "'observation'"),
    Case("meta.json observation shape -1", "checkpoints", lambda c: _meta(c, _obs_set("depth", [[64, -1, 1], "float32"])),
         V, "'observation'"),
    Case("meta.json observation dtype float99", "checkpoints", lambda c: _meta(c, _obs_set("depth", [[64, 64, 1], "float99"])),
         V, "'observation'"),
    Case("meta.json observation 10^10 values", "checkpoints",
         lambda c: _meta(c, _obs_set("depth", [[100_000, 100_000, 1], "float32"])), V, "'observation'"),
    Case("meta.json observation spec of 3", "checkpoints",
         lambda c: _meta(c, _obs_set("depth", [[64, 64, 1], "float32", "extra"])), V, "'observation'"),
    Case("meta.json policy hidden 10**9", "checkpoints", lambda c: _meta(c, _policy_set(hidden=10**9)), V, "'policy'"),
    Case("meta.json policy hidden 1.5", "checkpoints", lambda c: _meta(c, _policy_set(hidden=1.5)), V, "'policy'"),
    Case("meta.json policy gru_hidden -1", "checkpoints", lambda c: _meta(c, _policy_set(gru_hidden=-1)), V, "'policy'"),
    Case("meta.json policy gru_hidden 10**9", "checkpoints", lambda c: _meta(c, _policy_set(gru_hidden=10**9)), V,
         "'policy'"),
    Case("meta.json policy goal_head 'yes'", "checkpoints", lambda c: _meta(c, _policy_set(goal_head="yes")), V,
         "'goal_head'"),
    Case("meta.json policy skip 'yes'", "checkpoints", lambda c: _meta(c, _policy_set(skip="yes")), V, "'skip'"),
    Case("meta.json policy skip without a GRU", "checkpoints", lambda c: _meta(c, _policy_set(skip=True, gru_hidden=0)),
         V, "'skip'"),
    Case("meta.json env_kwargs unknown key", "checkpoints", lambda c: _meta(c, _set("env_kwargs", {"resolutoin": 64})), V,
         "'env_kwargs'"),
    Case("meta.json env_kwargs list", "checkpoints", lambda c: _meta(c, _set("env_kwargs", [["resolution", 64]])), V,
         "'env_kwargs'"),
    Case("meta.json imitation list", "checkpoints", lambda c: _meta(c, _set("imitation", [1])), V, "'imitation'"),
    Case("meta.json imitation steps -1", "checkpoints", lambda c: _meta(c, _set("imitation", {"steps": -1})), V,
         "'imitation'"),
    Case("policy.pt missing", "checkpoints", lambda c: _load_policy(c, None), F, "policy.pt"),
    Case("policy.pt truncated", "checkpoints", lambda c: _load_policy(c, lambda s: b"PK\x03\x04 truncated"), V,
         "policy.pt"),
    Case("policy.pt a tensor, not a state dict", "checkpoints",
         lambda c: _load_policy(c, lambda s: next(iter(s.values()))), V, "policy.pt"),
    Case("policy.pt a key missing", "checkpoints", lambda c: _load_policy(c, _drop_key), V, "weights"),
    Case("policy.pt a tensor of another shape", "checkpoints", lambda c: _load_policy(c, _reshape_first), V, "weights"),
    Case("checkpoint for other observations", "checkpoints", lambda c: _load_policy(c, _KEEP, space=_other_space), V,
         "observations"),
    Case("checkpoint copy loads ok", "checkpoints", lambda c: _load_policy(c, _KEEP), None),
]


# ----------------------------------------------------------------------- dataset manifests
def _base_manifest():
    from earshot.datasets.manifest import new_manifest
    from earshot.datasets.spec import DatasetSpec

    spec = DatasetSpec(samples=4, shard_size=2, scenes=1, fields=("rir",))
    m = new_manifest(spec)
    m["shards"] = [{"index": 0, "name": "shard-000000.tar", "scene": "procedural:0", "scene_hash": "ab" * 32,
                    "first_sample": 0, "samples": 2, "bytes": 1024, "sha256": "0" * 64, "offsets": [0, 512, 1024]}]
    return m


_MANIFEST = None


def _dataset(c, edit=None, text=None, reader="BinauralDataset"):
    """A dataset folder whose manifest is the base one edited (``edit(manifest)``) or ``text``,
    opened by ``reader`` (unfinished runs allowed)."""
    global _MANIFEST
    from earshot import datasets

    if _MANIFEST is None:
        _MANIFEST = _base_manifest()
    folder = c.sub("data")
    if text is None:
        m = copy.deepcopy(_MANIFEST)
        if edit is not None:
            edit(m)
        text = json.dumps(m).encode()
    (folder / "manifest.json").write_bytes(text)
    getattr(datasets, reader)(folder, allow_incomplete=True)
    return folder


def _m(key, value):
    def edit(m):
        if value is _DEL:
            m.pop(key)
        else:
            m[key] = value
    return edit


def _shard(key, value):
    def edit(m):
        if value is _DEL:
            m["shards"][0].pop(key)
        else:
            m["shards"][0][key] = value
    return edit


_DEL = object()


def _second_shard(**changes):
    def edit(m):
        m["shards"].append({**m["shards"][0], "name": "shard-000001.tar", "index": 1, "first_sample": 2, **changes})
    return edit


def _read_manifest_of(path):
    from earshot.datasets.manifest import read_manifest

    read_manifest(path)


MANIFEST_CASES = [
    Case("manifest folder missing", "manifests", lambda c: _read_manifest_of(c.tmp / "no-data"), F, "manifest.json"),
    Case("manifest path None", "manifests", lambda c: _read_manifest_of(None), V, "dataset"),
    Case("manifest not JSON", "manifests", lambda c: _dataset(c, text=b"{not json"), V, "manifest.json"),
    Case("manifest binary", "manifests", lambda c: _dataset(c, text=b"\xff\xfe\x00"), V, "manifest.json"),
    Case("manifest a list", "manifests", lambda c: _dataset(c, text=b"[]"), V, "manifest"),
    Case("manifest other format", "manifests", lambda c: _dataset(c, _m("format", "webdataset")), V, "manifest"),
    Case("manifest version 2", "manifests", lambda c: _dataset(c, _m("version", 2)), V, "version"),
    Case("manifest no schema", "manifests", lambda c: _dataset(c, _m("schema", _DEL)), V, "schema"),
    Case("manifest schema a list", "manifests", lambda c: _dataset(c, _m("schema", ["rir.npy"])), V, "schema"),
    Case("manifest schema member without .npy", "manifests",
         lambda c: _dataset(c, _m("schema", {"rir": {"dtype": "float32", "shape": [1]}})), V, "schema"),
    Case("manifest no shards", "manifests", lambda c: _dataset(c, _m("shards", _DEL)), V, "shards"),
    Case("manifest shards an object", "manifests", lambda c: _dataset(c, _m("shards", {"0": {}})), V, "shards"),
    Case("manifest samples string", "manifests", lambda c: _dataset(c, _m("samples", "4")), V, "samples"),
    Case("manifest samples -1", "manifests", lambda c: _dataset(c, _m("samples", -1)), V, "samples"),
    Case("manifest shard_count 0", "manifests", lambda c: _dataset(c, _m("shard_count", 0)), V, "shard_count"),
    Case("manifest complete 'yes'", "manifests", lambda c: _dataset(c, _m("complete", "yes")), V, "complete"),
    Case("manifest config a list", "manifests", lambda c: _dataset(c, _m("config", [])), V, "config"),
    Case("manifest audio_config a string", "manifests", lambda c: _dataset(c, _m("audio_config", "16k")), V,
         "audio_config"),
    Case("manifest shard entry a number", "manifests", lambda c: _dataset(c, _m("shards", [3])), V, "shard"),
    Case("manifest shard without index", "manifests", lambda c: _dataset(c, _shard("index", _DEL)), V, "index"),
    Case("manifest shard index past shard_count", "manifests", lambda c: _dataset(c, _shard("index", 9)), V, "index"),
    Case("manifest shard index duplicated", "manifests", lambda c: _dataset(c, _second_shard(index=0)), V, "index"),
    Case("manifest shard name ../x", "manifests", lambda c: _dataset(c, _shard("name", "../x.tar")), V, "../x.tar"),
    Case("manifest shard name absolute", "manifests", lambda c: _dataset(c, _shard("name", "/etc/passwd")), V,
         "/etc/passwd"),
    Case("manifest shard name a number", "manifests", lambda c: _dataset(c, _shard("name", 5)), V, "5"),
    Case("manifest shard samples string", "manifests", lambda c: _dataset(c, _shard("samples", "two")), V, "samples"),
    Case("manifest shard samples -2", "manifests", lambda c: _dataset(c, _shard("samples", -2)), V, "samples"),
    Case("manifest shard first_sample -1", "manifests", lambda c: _dataset(c, _shard("first_sample", -1)), V,
         "first_sample"),
    Case("manifest shard first_sample 1.5", "manifests", lambda c: _dataset(c, _shard("first_sample", 1.5)), V,
         "first_sample"),
    Case("manifest shard bytes -5", "manifests", lambda c: _dataset(c, _shard("bytes", -5)), V, "bytes"),
    Case("manifest shard sha256 short", "manifests", lambda c: _dataset(c, _shard("sha256", "abc")), V, "sha256"),
    Case("manifest shard offsets strings", "manifests", lambda c: _dataset(c, _shard("offsets", ["0", "512", "1024"])), V,
         "offsets"),
    Case("manifest shard offsets decreasing", "manifests", lambda c: _dataset(c, _shard("offsets", [0, 1024, 512])), V,
         "offsets"),
    Case("manifest shard offsets past bytes", "manifests", lambda c: _dataset(c, _shard("offsets", [0, 512, 10**9])), V,
         "offsets"),
    Case("manifest shard offsets count", "manifests", lambda c: _dataset(c, _shard("offsets", [0, 1024])), V, "offsets"),
    Case("manifest shard past the samples", "manifests", lambda c: _dataset(c, _shard("first_sample", 4)), V,
         "first_sample"),
    Case("manifest shards overlap", "manifests", lambda c: _dataset(c, _second_shard(first_sample=1)), V, "first_sample"),
    Case("manifest streaming reader", "manifests", lambda c: _dataset(c, _m("schema", _DEL), reader="BinauralShards"),
         V, "schema"),
    Case("manifest unknown field requested", "manifests", lambda c: _dataset_fields(c, ["stems"]), V, "stems"),
    Case("manifest ok", "manifests", lambda c: _dataset(c), None),
]


def _dataset_fields(c, fields):
    from earshot import datasets

    datasets.BinauralDataset(_dataset(c), fields=fields, allow_incomplete=True)


# ----------------------------------------------------------------------- script options
def _cli(module: str, cls: str, argv: list[str]):
    import importlib

    from earshot.cli import parse_config

    parse_config(getattr(importlib.import_module(module), cls), "", argv)


def _dataset_cli(argv):
    from earshot.datasets.cli import main

    status = main(argv)
    if status:
        raise SystemExit(status)


TRAIN, EVAL = ("earshot.agents.training", "TrainConfig"), ("earshot.agents.evaluation", "EvalConfig")
ECHO, PRE = ("earshot.agents.echo_training", "EchoDepthConfig"), ("earshot.acoustics.precompute", "PrecomputeConfig")
SOAK, BENCH = ("earshot.agents.benchmarks.soak", "SoakConfig"), ("earshot.agents.benchmarks.run", "BenchmarkConfig")
LOC, VAL = ("earshot.acoustics.localisation", "LocalisationConfig"), ("earshot.acoustics.validation", "ValidateConfig")
DEMO = ("earshot.agents.demo", "DemoConfig")
# (config, option, bad value): a wrong type, a non-finite number or an out-of-range value each
BAD_OPTIONS = [
    (TRAIN, "--learning-rate", "inf"), (TRAIN, "--learning-rate", "nan"), (TRAIN, "--learning-rate", "-1"),
    (TRAIN, "--gamma", "1.5"), (TRAIN, "--clip-range", "inf"), (TRAIN, "--ent-coef", "1e999"),
    (TRAIN, "--n-steps", "1"), (TRAIN, "--n-envs", "two"), (TRAIN, "--seed", "1e3"), (TRAIN, "--hidden", "4"),
    (TRAIN, "--scenes", "0"), (TRAIN, "--run-dir", ""), (TRAIN, "--task", "earshot/FlyGoal-v0"),
    (TRAIN, "--env-kwargs", '{"resolution": "big"}'),
    (EVAL, "--temperature", "inf"), (EVAL, "--videos", "-1"), (EVAL, "--split", "holdout"), (EVAL, "--out", " "),
    (ECHO, "--learning-rate", "inf"), (ECHO, "--resolution", "48"), (ECHO, "--epochs", "0"), (ECHO, "--width", "1000"),
    (PRE, "--scenes", "100000"), (PRE, "--spacing", "0.7"), (PRE, "--sample-rate", "12345"), (PRE, "--ism-order", "11"),
    (SOAK, "--steps", "0"), (SOAK, "--workers", "65"), (SOAK, "--renderer", "vulkan"),
    (BENCH, "--cores", "-1"), (BENCH, "--frames", "0"),
    (LOC, "--min-distance", "inf"), (LOC, "--val-fraction", "0.9"), (LOC, "--lr", "0"),
    (VAL, "--seconds", "nan"), (VAL, "--rays", "10"),
    (DEMO, "--frames", "100"),
]
CLI_CASES = [Case(f"{cfg[1]} {flag} {value!r}", "cli", lambda c, cfg=cfg, a=[flag, value]: _cli(*cfg, a), SystemExit,
                  flag) for cfg, flag, value in BAD_OPTIONS]
CLI_CASES += [
    Case("train unknown option", "cli", lambda c: _cli(*TRAIN, ["--learning_rate", "1e-3"]), SystemExit, "--learning_rate"),
    Case("generate_dataset --samples 0", "cli", lambda c: _dataset_cli(["--out", str(c.tmp / "d0"), "--samples", "0"]),
         SystemExit, "samples"),
    Case("generate_dataset --scale nan", "cli", lambda c: _dataset_cli(["--out", str(c.tmp / "d1"), "--scale", "nan"]),
         SystemExit, "scale"),
    Case("generate_dataset --spacing inf", "cli", lambda c: _dataset_cli(["--out", str(c.tmp / "d2"), "--spacing", "inf"]),
         SystemExit, "spacing"),
    Case("generate_dataset --sources 99", "cli", lambda c: _dataset_cli(["--out", str(c.tmp / "d3"), "--sources", "99"]),
         SystemExit, "sources"),
    Case("generate_dataset --kind midi", "cli", lambda c: _dataset_cli(["--out", str(c.tmp / "d4"), "--kind", "midi"]),
         SystemExit, "--kind"),
    Case("generate_dataset --workers 0", "cli", lambda c: _dataset_cli(["--out", str(c.tmp / "d5"), "--workers", "0"]),
         SystemExit, "workers"),
    Case("generate_dataset --sounds kazoo", "cli", lambda c: _dataset_cli(["--out", str(c.tmp / "d6"), "--sounds", "kazoo"]),
         SystemExit, "kazoo"),
    Case("generate_dataset --head missing", "cli", lambda c: _dataset_cli(["--out", str(c.tmp / "d7"), "--head",
                                                                           str(c.tmp / "none.sofa")]),
         SystemExit, "none.sofa"),
    Case("generate_dataset --meshes missing", "cli", lambda c: _dataset_cli(["--out", str(c.tmp / "d8"), "--meshes",
                                                                             str(c.tmp / "gone.glb")]),
         SystemExit, "gone.glb"),
    Case("generate_dataset --out a file", "cli", lambda c: _dataset_cli(["--out", str(_file_at(c, "out.txt", b"x")),
                                                                         "--samples", "1", "--scenes", "1"]),
         SystemExit, "out"),
    Case("train defaults ok", "cli", lambda c: _cli(*TRAIN, []), None),
]

CASES = KWARG_CASES + EPISODE_CASES + MESH_CASES + AUDIO_CASES + SOFA_CASES + CHECKPOINT_CASES + MANIFEST_CASES + CLI_CASES


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return MoreCtx(tmp_path_factory.mktemp("bad_inputs_more"))


def test_table_is_large_and_covers_every_entry_point():
    areas = {c.area for c in CASES}
    assert {"env kwargs", "episodes", "meshes", "AudioConfig", "sofa", "checkpoints", "manifests", "cli"} <= areas
    assert sum(c.error is not None for c in CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)
    from earshot.av_env import ENV_IDS as registered
    from earshot.av_env.config import FLAT_KWARGS

    assert set(registered) == set(ENV_IDS)
    assert set(FLAT_KWARGS) <= {name for name, _, _ in BAD_KWARGS}, "every gym.make kwarg has a bad-value case"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, ctx, capsys, caplog):
    assert_clear(case, ctx, capsys, caplog)

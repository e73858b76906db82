"""Synthetic binaural datasets: deterministic shards on any number of workers (and Ray),
resumable after SIGKILL, verified against their manifest, read back with the right shapes,
and holding physically right samples (delays, interaural cues, depth, the audio itself)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from earshot.acoustics.heads import load_head
from earshot.acoustics import AudioConfig, hear, make_sound, spectrogram
from earshot.datasets import BinauralDataset, BinauralShards, DatasetSpec, generate, read_manifest, verify
from earshot.scenes import shoebox

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "generate_dataset.py"
SMALL = dict(split="test", samples=12, shard_size=4, receivers_per_source=2, seed=11)
CLI_SMALL = ["--split", "test", "--samples", "12", "--shard-size", "4", "--receivers-per-source", "2", "--seed", "11"]


def _cli(*args, **kw):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, **kw)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name == "manifest.json" or p.suffix == ".tar"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The small dataset made in one uninterrupted single-process run."""
    out = tmp_path_factory.mktemp("reference")
    progress = generate(DatasetSpec(**SMALL), out, bar=False)
    assert progress.samples_made == 12 and progress.shards_done == 3
    return out


def test_two_workers_write_identical_shards(reference, tmp_path):
    generate(DatasetSpec(**SMALL), tmp_path, workers=2, bar=False)
    assert _files(tmp_path) == _files(reference)


def test_ray_backend_writes_identical_shards(reference, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is optional: pip install 'earshot[dist]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        generate(DatasetSpec(**SMALL), tmp_path, backend="ray", bar=False)
    finally:
        ray.shutdown()
    assert _files(tmp_path) == _files(reference)


def test_sigkill_then_resume_equals_uninterrupted_run(reference, tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *CLI_SMALL, "--out", str(out), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # kill it in the middle of a shard: after one is recorded, while the next is being written
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            manifest = out / "manifest.json"
            recorded = len(json.loads(manifest.read_text())["shards"]) if manifest.exists() else 0
            if recorded >= 1 and list(out.glob(".shard-*.tmp")):
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    killed = read_manifest(out)
    assert not killed["complete"] and 1 <= len(killed["shards"]) < 3
    assert any("incomplete" in p for p in verify(out))
    assert list(out.glob(".shard-*.tmp")), "the unfinished shard's temporary file is left behind"

    done = _cli(*CLI_SMALL, "--out", out, "--quiet")
    assert done.returncode == 0, done.stderr
    assert f"kept {len(killed['shards'])} shards of an earlier run" in done.stdout
    assert not list(out.glob(".shard-*.tmp"))
    assert _files(out) == _files(reference)  # same manifest, same shard bytes, no duplicates
    assert verify(out) == []


def test_verify_reports_a_corrupted_shard_and_a_rerun_repairs_it(reference, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    ok = _cli("--verify", out)
    assert ok.returncode == 0 and "OK, 3 shards and 12 samples" in ok.stdout

    shard = out / "shard-000001.tar"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    bad = _cli("--verify", out)
    assert bad.returncode == 1
    assert "shard-000001.tar: checksum mismatch" in bad.stderr and "shard-000000" not in bad.stderr

    (out / "shard-000002.tar").write_bytes((out / "shard-000002.tar").read_bytes()[:-20000])  # truncated
    problems = verify(out)
    assert len(problems) == 2 and any("shard-000002.tar: size" in p for p in problems)

    fixed = _cli(*CLI_SMALL, "--out", out, "--quiet")
    assert fixed.returncode == 0, fixed.stderr
    assert "remade 2 that failed verification" in fixed.stdout
    assert _files(out) == _files(reference)


def test_reader_yields_every_sample_with_schema_shapes(reference):
    ds = BinauralDataset(reference, verify=True)
    manifest = read_manifest(reference)
    schema = manifest["schema"]
    assert len(ds) == 12
    cfg = AudioConfig()
    assert schema["rir.npy"]["shape"] == [1, 2, cfg.rir_samples] and schema["audio.npy"]["shape"] == [2, cfg.step_samples]
    keys = []
    for i in range(len(ds)):
        sample = ds[i]
        keys.append(sample["__key__"])
        for suffix, info in schema.items():
            a = sample[suffix[: -len(".npy")]]
            assert a.dtype == np.dtype(info["dtype"]) and list(a.shape) == info["shape"], suffix
            assert np.isfinite(a).all() if a.dtype.kind == "f" and suffix != "first_arrival.npy" else True
    assert keys == [f"{i:09d}" for i in range(12)]
    with pytest.raises(IndexError, match="out of range"):
        ds[12]
    meta = ds.meta(5)
    assert meta["index"] == 5 and meta["scene"]["split"] == "test" and meta["scene"]["hash"]
    assert meta["sources"][0]["sound"] in manifest["sounds"] and len(meta["materials"]["mean_absorption"]) == 6


def test_dataloader_batches_and_streams_every_sample_once(reference):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    loader = DataLoader(BinauralDataset(reference, fields=["audio", "spectrogram", "doa"]), batch_size=5, num_workers=2)
    batches = list(loader)
    assert [b["audio"].shape[0] for b in batches] == [5, 5, 2]
    assert batches[0]["audio"].dtype == torch.float32 and tuple(batches[0]["spectrogram"].shape[1:]) == (65, 26, 2)
    assert set(batches[0]) == {"audio", "spectrogram", "doa", "__key__"}

    stream = BinauralShards(reference, fields=["audio"], shuffle=True, seed=1)
    keys = [k for b in DataLoader(stream, batch_size=3, num_workers=2) for k in b["__key__"]]
    assert sorted(keys) == [f"{i:09d}" for i in range(12)]  # each sample once over both workers


def test_samples_hold_the_audio_they_describe(reference):
    """The stored audio is the sound through the stored RIR (as ``hear`` computes it), and the
    spectrogram is that audio's; the direct path arrives at distance / c."""
    ds = BinauralDataset(reference, fields=["rir", "audio", "spectrogram", "euclidean", "first_arrival", "json"])
    cfg = AudioConfig()
    for i in (0, 7, 11):
        s = ds[i]
        meta = json.loads(s["json"])
        src = meta["sources"][0]
        sound = make_sound(src["sound"], cfg.sample_rate)
        # hear() plays the sound from sample 0: start whole loops later, for the same history
        start = src["start_sample"] + len(sound) * (-(-cfg.rir_samples // len(sound)))
        expected = hear(sound, s["rir"][0], start, cfg.step_samples, backend="numpy")
        assert np.abs(s["audio"] - expected).max() <= 1e-4 * np.abs(expected).max()
        assert np.allclose(s["spectrogram"], spectrogram(s["audio"], cfg, backend="numpy"), atol=1e-5)
        delay = s["first_arrival"][0, 0]
        assert delay >= s["euclidean"][0] / cfg.speed_of_sound - 1e-6  # nothing beats the straight line


@pytest.fixture(scope="module")
def box_dataset(tmp_path_factory):
    """A user mesh: a 6 x 4 x 2.8 m box exported as PLY, with rgb and depth."""
    folder = tmp_path_factory.mktemp("box")
    mesh = shoebox(6.0, 4.0, 2.8, "plaster").export(folder / "box.ply")
    out = folder / "ds"
    spec = DatasetSpec(meshes=(str(mesh),), samples=16, shard_size=8, receivers_per_source=4, seed=2,
                       fields=("rir", "audio", "depth", "rgb"), resolution=33, renderer="raycast", tail="parametric")
    generate(spec, out, bar=False)
    return out


def test_box_mesh_delays_interaural_cues_and_depth(box_dataset):
    ds = BinauralDataset(box_dataset)
    cfg = AudioConfig()
    head = load_head(cfg)  # KEMAR: an ear hears a wavefront up to ~0.45 ms after the head's centre
    fs, c = cfg.sample_rate, cfg.speed_of_sound
    lead = np.abs(head.ear_delays(head.directions)).max() * fs
    lateral = 0
    for i in range(len(ds)):
        s = ds[i]
        d = float(s["euclidean"][0])
        # in an empty box every source is in sight: the first arrival is the direct path
        assert abs(s["first_arrival"][0, 0] - d / c) < 1e-6
        az = float(s["doa"][0, 0])
        assert np.allclose(s["first_arrival"][0, 1:], s["doa"][0], atol=1e-5)
        rir = s["rir"][0]
        onset = [int(np.argmax(np.abs(ear) > 0.05 * np.abs(rir).max())) for ear in rir]
        assert all(abs(o - d / c * fs) <= lead + 3 for o in onset), (onset, d / c * fs)
        if 0.4 < abs(az) < np.pi - 0.4:  # clearly to one side: that ear leads
            lateral += 1
            near, far = (0, 1) if az > 0 else (1, 0)
            assert onset[near] < onset[far]
        # depth: the centre pixel sees the wall straight ahead (z-depth = distance along the view)
        x, y = s["receiver_position"][:2]
        h = float(s["receiver_heading"])
        dx, dy = np.cos(h), np.sin(h)
        t = min(((6.0 if dx > 0 else 0.0) - x) / dx if abs(dx) > 1e-9 else np.inf,
                ((4.0 if dy > 0 else 0.0) - y) / dy if abs(dy) > 1e-9 else np.inf)
        assert abs(s["depth"][16, 16] - t) < 0.02, (s["depth"][16, 16], t)
        assert s["rgb"].dtype == np.uint8 and s["rgb"].max() > 0
    assert lateral >= 3


def test_mixture_stems_sum_to_the_audio(tmp_path):
    spec = DatasetSpec(split="val", samples=4, shard_size=4, receivers_per_source=4, sources=2, seed=0,
                       fields=("audio", "stems"), tail="parametric")
    generate(spec, tmp_path, bar=False)
    ds = BinauralDataset(tmp_path)
    for i in range(len(ds)):
        s = ds[i]
        assert s["stems"].shape == (2, 2, 16000)
        assert np.allclose(s["stems"].sum(axis=0), s["audio"], atol=1e-6)
        assert len(set(s["sound_id"].tolist())) == 2 and all(np.abs(stem).max() > 0 for stem in s["stems"])
        m = ds.meta(i)
        assert m["sources"][0]["node"] != m["sources"][1]["node"]


def test_resuming_with_other_options_is_refused(reference, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    bad = _cli(*CLI_SMALL, "--out", out, "--fields", "audio", "--quiet")
    assert bad.returncode == 2 and "holds a dataset made with other options (fields:" in bad.stderr
    assert _files(out) == _files(reference)


@pytest.mark.parametrize("kwargs, message", [
    (dict(fields=("rir", "echo")), "unknown fields ['echo']"),
    (dict(sources=3, sounds=("telephone", "alarm")), "needs at least that many sounds"),
    (dict(samples=0), "samples must be"),
    (dict(sample_rate=11025), "sample_rate must be one of"),
    (dict(sounds=("trumpet",)), "unknown sound 'trumpet'"),
    (dict(meshes=("/nonexistent/room.glb",)), "does not exist"),
    (dict(split="dev"), "split must be"),
])
def test_bad_options_are_one_clear_error(kwargs, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message.replace("[", r"\[").replace("]", r"\]")):
        DatasetSpec(**{**SMALL, **kwargs})


def test_reader_and_verify_refuse_what_is_not_a_dataset(tmp_path):
    assert "is not an earshot dataset folder" in verify(tmp_path)[0]
    with pytest.raises(FileNotFoundError, match="not an earshot dataset folder"):
        BinauralDataset(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="not readable JSON"):
        BinauralDataset(tmp_path)
    out = _cli("--verify", tmp_path)
    assert out.returncode == 1 and "not readable JSON" in out.stderr


def test_an_incomplete_dataset_is_read_only_when_asked(reference, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["shards"] = manifest["shards"][:2]
    manifest["complete"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="is incomplete .*rerun its generation command"):
        BinauralDataset(out)
    assert len(BinauralDataset(out, allow_incomplete=True)) == 8


def test_ray_backend_missing_is_one_clear_error(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            "from earshot.datasets import DatasetSpec, generate\n"
            f"generate(DatasetSpec(split='test', samples=2, shard_size=2), {str(tmp_path)!r}, backend='ray', bar=False)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert out.returncode != 0 and "backend='ray' needs Ray: pip install 'earshot[dist]'" in out.stderr


def test_echo_samples_hold_the_echo_at_their_pose(tmp_path):
    from earshot.acoustics.echo import echo_audio, echo_rirs
    from earshot.datasets.samples import _scene

    spec = DatasetSpec(kind="echo", split="val", samples=6, shard_size=6, seed=1, resolution=16, renderer="raycast",
                       fields=("echo", "echo_spectrogram", "depth"))
    generate(spec, tmp_path, bar=False)
    ds = BinauralDataset(tmp_path)
    schema = read_manifest(tmp_path)["schema"]
    assert schema["echo.npy"]["shape"] == [2, 2646] and schema["echo_spectrogram.npy"]["shape"] == [257, 166, 2]
    headings = set()
    for i in range(len(ds)):
        s, meta = ds[i], ds.meta(i)
        assert s["depth"].shape == (16, 16) and (s["depth"] > 0).all()
        scene = _scene(meta["scene"]["ref"], 0.5, "z", 1.0)[0]
        head = np.array(meta["receiver"]["position"])  # float64, as generated (the .npy pose is float32)
        assert np.allclose(head, s["receiver_position"])
        rir = echo_rirs(scene, head[None])[0]
        assert np.array_equal(s["echo"], echo_audio(rir, meta["receiver"]["heading"]))
        headings.add(round(float(s["receiver_heading"]) / (np.pi / 2), 6))
    assert headings <= {0.0, 1.0, 2.0, 3.0}  # VisualEchoes' four orientations
    with pytest.raises(ValueError, match="sources applies to binaural samples"):
        DatasetSpec(kind="echo", sources=2)
    with pytest.raises(ValueError, match=r"unknown fields \['rir'\] for echo samples"):
        DatasetSpec(kind="echo", fields=("rir",))


# ---------------------------------------------------------------------------- trust
def _copy_with_manifest(reference, tmp_path, edit):
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    manifest = json.loads((out / "manifest.json").read_text())
    edit(manifest, out)
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


@pytest.mark.parametrize("name", ["../../x.tar", "/etc/hostname", "sub/shard-000000.tar", "..", "", 7,
                                  "shard\\000000.tar"])
def test_a_manifest_cannot_point_a_reader_outside_the_dataset(reference, tmp_path, name):
    """Shard names are plain file names inside the folder: anything else is refused when the
    dataset is opened (every reader) and reported by --verify."""
    def edit(manifest, out):
        manifest["shards"][1]["name"] = name

    out = _copy_with_manifest(reference, tmp_path, edit)
    for reader in (BinauralDataset, BinauralShards):
        with pytest.raises(ValueError, match="not a plain file name inside the dataset folder"):
            reader(out)
    assert any("not a plain file name" in p for p in verify(out))


def test_a_shard_linked_outside_the_folder_is_refused(reference, tmp_path):
    outside = tmp_path / "elsewhere.tar"
    outside.write_bytes((reference / "shard-000001.tar").read_bytes())

    def edit(manifest, out):
        (out / "shard-000001.tar").unlink()
        (out / "shard-000001.tar").symlink_to(outside)

    out = _copy_with_manifest(reference, tmp_path, edit)
    with pytest.raises(ValueError, match="outside the dataset folder"):
        BinauralDataset(out)
    assert any("outside the dataset folder" in p for p in verify(out))


def test_readers_check_each_shard_the_first_time_they_open_it(reference, tmp_path):
    """A flipped byte, or a shard swapped for another dataset's shard of the same name, is one
    clear error naming the shard, from BinauralDataset and BinauralShards alike (no verify=
    needed); verify=False reads unchecked."""
    out = tmp_path / "ds"
    shutil.copytree(reference, out)
    shard = out / "shard-000001.tar"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    ds = BinauralDataset(out)
    ds[0]  # shard 0 is whole
    with pytest.raises(ValueError, match="shard-000001.tar: checksum mismatch"):
        ds[5]
    with pytest.raises(ValueError, match="shard-000001.tar: checksum mismatch"):
        list(BinauralShards(out))
    BinauralDataset(out, verify=False)[4]  # unchecked: the byte is read as it is

    other = tmp_path / "other"
    generate(DatasetSpec(**{**SMALL, "seed": 12}), other, bar=False)
    swapped = tmp_path / "swapped"
    shutil.copytree(reference, swapped)
    shutil.copy(other / "shard-000002.tar", swapped / "shard-000002.tar")
    with pytest.raises(ValueError, match="shard-000002.tar: (size|checksum)"):
        BinauralDataset(swapped)[11]


def test_a_larger_samples_extends_the_dataset_keeping_the_first_shards_bytes(reference, tmp_path):
    """--samples larger than before on an existing dataset adds shards; the full shards already
    there stay byte-identical (not rewritten), the earlier partial last shard is completed, and
    the result is the dataset a single run of the larger size makes."""
    out = tmp_path / "ds"
    generate(DatasetSpec(**{**SMALL, "samples": 6}), out, bar=False)  # shards of 4 and 2 samples
    first = out / "shard-000000.tar"
    before, stamp = first.read_bytes(), first.stat().st_mtime_ns
    progress = generate(DatasetSpec(**SMALL), out, bar=False)  # 12 samples: 3 shards of 4
    assert progress.extended_from == 6 and progress.kept == 1 and progress.samples_made == 8
    assert first.read_bytes() == before and first.stat().st_mtime_ns == stamp  # kept, not rewritten
    assert _files(out) == _files(reference) and verify(out) == []
    with pytest.raises(ValueError, match="would drop some of them"):
        generate(DatasetSpec(**{**SMALL, "samples": 8}), out, bar=False)
    assert _files(out) == _files(reference)

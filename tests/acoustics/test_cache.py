import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from earshot.acoustics import AudioConfig, RIRCache, compute_rir
from earshot.scenes import NavGraph, generate_apartment, shoebox

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def room():
    return shoebox(6.0, 5.0, 3.0, "plaster")


def test_hit_returns_identical_arrays(tmp_path, room):
    cache = RIRCache(tmp_path)
    src, rec = [1.0, 1.0, 1.5], [4.0, 3.0, 1.5]
    first = cache.get(room, src, rec)
    assert cache.misses == 1
    cache.flush()
    fresh = RIRCache(tmp_path)  # a new process would see only the disk
    again = fresh.get(room, src, rec)
    assert fresh.hits == 1 and fresh.misses == 0
    np.testing.assert_array_equal(first.binaural(0.5), again.binaural(0.5))
    np.testing.assert_array_equal(first.omni(), again.omni())
    np.testing.assert_array_equal(again.omni(), compute_rir(room, src, rec).omni())
    # a different config is a different entry
    RIRCache(tmp_path).get(room, src, rec, config=AudioConfig(ism_order=1))  # written when collected
    assert len(list(tmp_path.rglob("*.npz"))) == 2


def _grid(n, z=1.5):
    xs = np.linspace(0.5, 5.5, n)
    return np.round([[x, 1.0 + 0.3 * (i % 10), z] for i, x in enumerate(xs)], 3)


def test_one_file_per_source_merged_across_processes(tmp_path, room):
    """Each source is one file holding all its receivers; receivers computed by two caches (two
    processes) end up merged in it, and a third reads them all without computing."""
    sources, receivers = _grid(3), _grid(12)
    a, b = RIRCache(tmp_path), RIRCache(tmp_path)
    for s in sources:
        a.get_many(room, s, receivers[:6])
        b.get_many(room, s, receivers[4:])  # overlaps a's at 4 and 5, which b has not seen on disk yet
    a.flush()
    b.flush()
    assert len(list(tmp_path.rglob("*.npz"))) == 3
    fresh = RIRCache(tmp_path)
    for s in sources:
        got = fresh.get_many(room, s, receivers)
        np.testing.assert_array_equal(got[7].omni(), compute_rir(room, s, receivers[7]).omni())
    assert fresh.misses == 0 and fresh.hits == 3 * 12


def test_new_receivers_are_written_in_batches(tmp_path, room):
    src, receivers = [1.0, 1.0, 1.5], _grid(10)
    cache = RIRCache(tmp_path, write_batch=4)
    for r in receivers[:3]:
        cache.get(room, src, r)
    assert not cache.path(room, src, config=AudioConfig()).exists()  # 3 < write_batch: still in memory
    cache.get(room, src, receivers[3])
    assert RIRCache(tmp_path).missing(room, src, receivers, config=AudioConfig()) == list(range(4, 10))


def test_unwritten_receivers_are_written_at_exit(tmp_path):
    code = ("from earshot.acoustics import RIRCache\nfrom earshot.scenes import shoebox\n"
            f"c = RIRCache({str(tmp_path)!r})\n"
            "c.get(shoebox(6.0, 5.0, 3.0, 'plaster'), [1.0, 1.0, 1.5], [4.0, 3.0, 1.5])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert len(list(tmp_path.rglob("*.npz"))) == 1


def test_memory_budget_is_enforced_and_evicted_sources_are_written(tmp_path, room):
    budget_mb = 0.2  # about three sources of ten receivers
    cache = RIRCache(tmp_path, memory_mb=budget_mb, write_batch=10_000)
    sources, receivers = _grid(8), _grid(10)
    peak = 0
    for s in sources:
        cache.get_many(room, s, receivers)
        peak = max(peak, cache.memory_used)
    assert 0 < peak <= budget_mb * 2**20
    # evicted sources were written on their way out, the rest on flush
    cache.flush()
    fresh = RIRCache(tmp_path)
    for s in sources:
        fresh.get_many(room, s, receivers)
    assert fresh.misses == 0


def test_disk_budget_keeps_the_most_recently_used_sources(tmp_path, room):
    sources, receivers = _grid(10), _grid(20)
    one = RIRCache(tmp_path, memory_mb=0)
    one.get_many(room, sources[0], receivers)
    size = one.disk_usage()
    budget_mb = 4.5 * size / 2**20  # room for four sources' files
    cache = RIRCache(tmp_path, memory_mb=0, disk_mb=budget_mb)
    for s in sources[1:]:
        cache.get_many(room, s, receivers)
        cache.get_many(room, sources[0], receivers[:1])  # keep source 0 in use
        time.sleep(0.01)  # distinct modification times
        assert cache.disk_usage() <= budget_mb * 2**20
    assert cache.evicted_files >= 5
    left = RIRCache(tmp_path, memory_mb=0)
    assert left.missing(room, sources[0], receivers, config=AudioConfig()) == []  # used last: kept
    assert left.missing(room, sources[-1], receivers, config=AudioConfig()) == []  # written last: kept
    assert len(left.missing(room, sources[1], receivers, config=AudioConfig())) == 20  # oldest: removed


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupt_entry_is_detected_and_recomputed(tmp_path, room, damage, caplog):
    src, rec = [1.0, 1.0, 1.5], [4.0, 3.0, 1.5]
    good = RIRCache(tmp_path).get(room, src, rec)
    path = RIRCache(tmp_path).path(room, src, config=AudioConfig())
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "flip":  # change one stored number without breaking the archive
        import io

        with np.load(io.BytesIO(bytes(blob)), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["gains"] = arrays["gains"] * 1.01
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        blob = bytearray(buf.getvalue())
    else:
        blob = bytearray(b"\x00not a zip at all" * 10)
    path.write_bytes(bytes(blob))
    cache = RIRCache(tmp_path)
    with caplog.at_level("WARNING"):
        rir = cache.get(room, src, rec)
    assert cache.corrupt == 1 and cache.misses == 1
    assert "corrupt RIR cache entry" in caplog.text
    np.testing.assert_array_equal(rir.omni(), good.omni())
    cache.flush()
    assert RIRCache(tmp_path).lookup(room, src, rec, config=AudioConfig()) is not None  # rewritten whole


def test_precompute_resumes_after_being_killed(tmp_path):
    """Kill precompute_rirs.py midway; the rerun completes without recomputing finished entries."""
    cache_dir = tmp_path / "cache"
    cmd = [sys.executable, str(ROOT / "scripts" / "precompute_rirs.py"), "--split", "val", "--scenes", "1",
           "--sources", "12", "--workers", "1", "--cache-dir", str(cache_dir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cache_dir.rglob("*.npz"))) < 3:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # a rewrite replaces the file (a new inode); reading only refreshes its modification time
    before = {p: p.stat().st_ino for p in cache_dir.rglob("*.npz")}
    assert 3 <= len(before) < 12
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    after = {p: p.stat().st_ino for p in cache_dir.rglob("*.npz")}
    assert all(after[p] == t for p, t in before.items())  # finished entries untouched
    scene = generate_apartment(1_000_000, nav_spacing=0.5)
    n = len(NavGraph.build(scene))
    assert len(after) == 12  # one file per source, each with every node as a receiver
    computed = int(out.stdout.split("computed ")[1].split(" ")[0])
    assert computed == (12 - len(before)) * n


def test_ray_backend_missing_is_one_clear_error(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from earshot.acoustics import AudioConfig\n"
        "from earshot.acoustics.precompute import make_jobs, run\n"
        f"run(make_jobs([1_000_001], 0.5, {str(tmp_path)!r}, AudioConfig(), sources=1), backend='ray', progress=False)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0
    assert "backend='ray' needs Ray: pip install 'earshot[dist]'" in out.stderr


def test_ray_backend(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is optional: pip install 'earshot[dist]'")
    from earshot.acoustics.precompute import make_jobs, run

    jobs = make_jobs([1_000_001], 0.5, str(tmp_path), AudioConfig(), sources=2)
    try:
        computed = run(jobs, backend="ray", progress=False)
        assert computed == 2 * len(NavGraph.build(generate_apartment(1_000_001)))
        assert run(jobs, backend="ray", progress=False) == 0  # resumed: nothing left to do
    finally:
        ray.shutdown()

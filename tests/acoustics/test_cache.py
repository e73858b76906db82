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
    fresh = RIRCache(tmp_path)  # a new process would see only the disk
    again = fresh.get(room, src, rec)
    assert fresh.hits == 1 and fresh.misses == 0
    np.testing.assert_array_equal(first.binaural(0.5), again.binaural(0.5))
    np.testing.assert_array_equal(first.omni(), again.omni())
    np.testing.assert_array_equal(again.omni(), compute_rir(room, src, rec).omni())
    # a different config is a different entry
    RIRCache(tmp_path).get(room, src, rec, config=AudioConfig(ism_order=1))
    assert len(list(tmp_path.rglob("*.npz"))) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupt_entry_is_detected_and_recomputed(tmp_path, room, damage, caplog):
    src, rec = [1.0, 1.0, 1.5], [4.0, 3.0, 1.5]
    good = RIRCache(tmp_path).get(room, src, rec)
    path = RIRCache(tmp_path).path(room, src, rec, config=AudioConfig())
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
    assert RIRCache(tmp_path).lookup(room, src, rec, config=AudioConfig()) is not None  # rewritten whole


def test_precompute_resumes_after_being_killed(tmp_path):
    """Kill precompute_rirs.py midway; the rerun completes without recomputing finished entries."""
    cache_dir = tmp_path / "cache"
    cmd = [sys.executable, str(ROOT / "scripts" / "precompute_rirs.py"), "--split", "val", "--scenes", "1",
           "--sources", "12", "--workers", "1", "--cache-dir", str(cache_dir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cache_dir.rglob("*.npz"))) < 150:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p: p.stat().st_mtime_ns for p in cache_dir.rglob("*.npz")}
    assert len(before) >= 150
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    after = {p: p.stat().st_mtime_ns for p in cache_dir.rglob("*.npz")}
    assert all(after[p] == t for p, t in before.items())  # finished entries untouched
    scene = generate_apartment(1_000_000, nav_spacing=0.5)
    n = len(NavGraph.build(scene))
    assert len(after) == 12 * n
    computed = int(out.stdout.split("computed ")[1].split(" ")[0])
    assert computed == 12 * n - len(before)


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

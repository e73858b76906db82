"""The scripts as a user runs them: Ctrl-C stops precompute cleanly with one line saying what
was kept, a rerun resumes and removes the temporary files of killed writers, two caches
filled at once by two processes compute each RIR once, and scripts run from another folder
write there, never inside the repository."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def _precompute(cache: Path, *extra) -> subprocess.Popen:
    # 0.25 m spacing: ~600 receivers per source, so the job lasts long enough (seconds) for the
    # interruption to land before it finishes
    # Ctrl-C handling as in a terminal even when this test runs where SIGINT is ignored (a shell
    # script's background job inherits SIG_IGN, and Python then never raises KeyboardInterrupt)
    script = str(ROOT / "scripts" / "precompute_rirs.py")
    launcher = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")
    return subprocess.Popen([sys.executable, "-c", launcher, script, "--scenes", "2", "--sources", "40", "--workers", "2",
                             "--spacing", "0.25", "--cache-dir", str(cache), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=ROOT)


def _lines(text: str) -> list[str]:
    """Output lines other than the progress bar's."""
    return [line for line in text.replace("\r", "\n").splitlines() if line.strip() and not line.startswith("RIR jobs")]


def test_precompute_ctrl_c_is_one_line_and_a_rerun_resumes(tmp_path):
    cache = tmp_path / "cache"
    proc = _precompute(cache)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cache.rglob("*.npz"))) < 4:  # one file per source
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends: the whole foreground process group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = _lines(err)
    assert len(lines) == 1 and lines[0].startswith("interrupted:") and "rerun" in lines[0], lines
    kept = {p.name: p.stat().st_ino for p in cache.rglob("*.npz")}
    assert 4 <= len(kept) < 80
    # a writer killed mid-file leaves a temporary file: plant one of a process that is gone
    stale = next(cache.rglob("*.npz")).with_name(".planted.npz.999999999.1.tmp")
    stale.write_bytes(b"partial")
    proc = _precompute(cache)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "computed" in out and not stale.exists()
    after = {p.name: p.stat().st_ino for p in cache.rglob("*.npz")}
    assert len(after) == 80 and all(after[name] == ino for name, ino in kept.items())  # nothing kept was lost or rewritten
    assert not list(cache.rglob("*.tmp"))


def _fill(args):
    root, seed, source = args
    from earshot.acoustics import RIRCache
    from earshot.scenes import NavGraph, generate_apartment

    scene = generate_apartment(seed)
    graph = NavGraph.build(scene)
    cache = RIRCache(root, memory_mb=0)
    cache.get_many(scene, graph.positions[source] + [0, 0, 1.5], graph.positions + [0, 0, 1.5])
    return cache.misses, len(graph)


def test_concurrent_writers_compute_each_source_once(tmp_path):
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.map(_fill, [(str(tmp_path), 3, 5), (str(tmp_path), 3, 5)])
    misses = [m for m, _ in results]
    n = results[0][1]
    assert sorted(misses) == [0, n]  # one computed all of them, the other read them
    assert len(list(tmp_path.rglob("*.npz"))) == 1  # one file for the source, with all n receivers


# files people edit while tests run in a shared checkout; a script's outputs are none of these
_SOURCE_SUFFIXES = (".py", ".md", ".toml", ".pyc")
_SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache"}


def _repository_files() -> dict[str, tuple[int, int]]:
    """{path relative to the repository: (mtime ns, size)} of its non-source files."""
    files = {}
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        for name in names:
            path = Path(folder) / name
            if not name.endswith(_SOURCE_SUFFIXES):
                st = path.lstat()
                files[str(path.relative_to(ROOT))] = (st.st_mtime_ns, st.st_size)
    return files


def test_scripts_run_from_elsewhere_write_under_the_working_directory_only(tmp_path):
    """Scripts run with their default output locations from another folder write under that
    folder's outputs/ and nothing inside the repository (issue 30 item 4)."""
    before = _repository_files()
    scripts = ROOT / "scripts"
    runs = {
        "evaluate": ["--baseline", "oracle", "--episodes", "1", "--no-progress"],
        "precompute_rirs": ["--split", "test", "--scenes", "1", "--sources", "1", "--spacing", "1.0", "--workers", "1"],
        "demo": ["--agent", "", "--no-video", "--frames", "1", "--resolution", "16"],
        "generate_dataset": ["--split", "test", "--samples", "2", "--shard-size", "2", "--receivers-per-source", "2",
                             "--out", "outputs/dataset", "--quiet"],
    }
    procs = {name: subprocess.Popen([sys.executable, str(scripts / f"{name}.py"), *args], cwd=tmp_path,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, args in runs.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name}.py failed:\n{out}\n{err}"
    made = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    for expected in ("outputs/eval/summary.json", "outputs/rir_cache/config.json", "outputs/demo/topdown.png",
                     "outputs/dataset/manifest.json"):
        assert expected in made, f"{expected} not written under the working directory: {sorted(made)}"
    after = _repository_files()
    written = sorted(p for p in after if before.get(p) != after[p])
    assert not written, f"scripts run from {tmp_path} wrote inside the repository: {written}"

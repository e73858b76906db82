"""Parallel jobs (earshot.jobs): a killed job leaves nothing running."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

SCRIPT = textwrap.dedent('''
    import os, sys, time
    from earshot.jobs import run_tasks

    def task(i, folder):
        with open(os.path.join(folder, f"worker-{os.getpid()}"), "w") as f:
            f.write(str(i))
        for k in range(600):  # would keep writing for a minute
            time.sleep(0.1)
            with open(os.path.join(folder, f"worker-{os.getpid()}"), "a") as f:
                f.write(".")
        return i

    if __name__ == "__main__":
        run_tasks(task, [(i, sys.argv[1]) for i in range(4)], lambda r: None, workers=2)
''')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (dead, not yet reaped) is not running
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_sigkill_of_the_parent_leaves_no_worker_running_or_writing(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path)])
    try:
        deadline = time.time() + 60
        while len(list(tmp_path.glob("worker-*"))) < 2 and time.time() < deadline:
            time.sleep(0.1)
        workers = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
        assert len(workers) == 2, "the pool's workers did not start"
        assert all(_alive(w) for w in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 10
        while any(_alive(w) for w in workers) and time.time() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "a worker outlived its SIGKILLed parent"
        sizes = {p: p.stat().st_size for p in tmp_path.glob("worker-*")}
        time.sleep(0.5)
        assert sizes == {p: p.stat().st_size for p in tmp_path.glob("worker-*")}, "a file is still being written"
    finally:
        if parent.poll() is None:
            parent.kill()

"""The demo's stages run under one progress line on stderr (``demo k/n: stage``); its results
(the scene, the files written) stay on stdout, whole lines."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "demo.py"
SMALL = ["--agent", "", "--no-video", "--frames", "1", "--resolution", "16"]


def test_demo_shows_its_stages_on_stderr_and_its_results_on_stdout(tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT), *SMALL, "--out", str(tmp_path / "demo")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    err = run.stderr
    stages = ["demo 1/3: building the apartment and its navigation graph", "demo 2/3: rendering the first-person RGB-D strip",
              "demo 3/3: drawing the top-down map", "demo 3/3: done"]
    positions = [err.find(s) for s in stages]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), err
    lines = run.stdout.splitlines()
    assert lines[0].startswith("apartment seed ") and lines[1].startswith("navigation graph: ")
    assert lines[-1] == f"top-down map:             {(tmp_path / 'demo' / 'topdown.png').resolve()}"
    assert "demo " not in run.stdout and (tmp_path / "demo" / "rgbd_strip.png").is_file()


def test_no_progress_shows_no_stages(tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT), *SMALL, "--no-progress", "--out", str(tmp_path / "demo")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "demo 1/3" not in run.stderr and "top-down map:" in run.stdout


def test_the_stages_with_the_video_and_the_agent(monkeypatch, capsys, tmp_path):
    """Five stages with the oracle's video and the agent comparison (both stubbed here: the
    real ones are tested by the scripts' and agents' tests)."""
    from earshot.agents import demo
    from earshot.av_env import visualize

    def fake_record(env, policy, path, **kwargs):
        print("recorded", flush=True)
        return {"success": 1.0, "spl": 1.0, "num_steps": 3}

    def fake_compare(config, out):
        print("agent table\n| a |", end="")
        print(" b |", end="")

    monkeypatch.setattr(visualize, "record_episode", fake_record)
    monkeypatch.setattr(demo, "compare_agent", fake_compare)
    demo.run_demo(demo.DemoConfig(frames=1, resolution=16, out=str(tmp_path / "demo")))
    captured = capsys.readouterr()
    for k, stage in enumerate(["building", "rendering", "drawing", "recording the oracle's AudioGoal episode",
                               "evaluating the shipped agent 'audiogoal' against random and oracle"], 1):
        assert f"demo {k}/5: {stage}" in captured.err
    assert "demo 5/5: done" in captured.err
    out = captured.out.splitlines()
    assert out[-2:] == ["agent table", "| a | b |"]  # whole lines, the unterminated last one too
    assert "recorded" in out and any(line.startswith("oracle AudioGoal episode") for line in out)

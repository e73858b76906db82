"""Training's val evaluations film one val episode: an MP4 under RUN/videos and a GIF in
TensorBoard (``eval/video``); a failing recorder is a warning, never the end of the run."""

import json

import pytest

pytest.importorskip("torch")

import earshot.av_env  # noqa: E402,F401
from earshot.agents.training import TrainConfig, train  # noqa: E402
from earshot.cli import parse_config  # noqa: E402


def _config(run, *extra):
    return parse_config(TrainConfig, "", [
        "--task", "earshot/PointGoal-v0", "--agent", "ppo", "--total-steps", "32", "--n-envs", "1", "--scenes", "1",
        "--n-steps", "32", "--n-epochs", "1", "--eval-every", "32", "--eval-episodes", "1", "--run-dir", str(run),
        "--env-kwargs", json.dumps({"resolution": 64, "sensors": ["depth", "pointgoal_with_gps_compass"]}),
        "--no-progress", "--hidden", "16", *extra])


def _images(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"), size_guidance={"images": 0})
    acc.Reload()
    return acc.Images("eval/video") if "eval/video" in acc.Tags()["images"] else []


def test_val_evaluations_log_a_video_to_tensorboard(tmp_path, capsys):
    run = tmp_path / "run"
    train(_config(run))
    videos = sorted((run / "videos").glob("val_step_*.mp4"))
    assert [v.name for v in videos] == ["val_step_0000000032.mp4"] and videos[0].stat().st_size > 0
    assert not list((run / "videos").glob(".recording-*"))  # the temporary folder is gone
    images = _images(run)
    assert [e.step for e in images] == [32]
    gif = images[0].encoded_image_string
    assert gif.startswith(b"GIF8") and 0 < images[0].width <= 320 and images[0].height > 0
    assert f"video: {videos[0]}" in capsys.readouterr().out


def test_a_failing_recorder_is_a_warning_and_no_videos_turns_it_off(tmp_path, capsys, monkeypatch):
    from earshot.agents import evaluation

    original = evaluation.run_episodes

    def broken(*args, **kwargs):  # the filming fails; the val evaluation itself (no videos) runs
        if kwargs.get("videos"):
            raise RuntimeError("no encoder")
        return original(*args, **kwargs)

    monkeypatch.setattr(evaluation, "run_episodes", broken)
    run = tmp_path / "run"
    out = train(_config(run))
    assert out["steps"] == 32 and (run / "eval.csv").is_file()
    assert "warning: no val video at 32 steps: RuntimeError: no encoder" in capsys.readouterr().out
    assert not _images(run)
    monkeypatch.undo()
    off = tmp_path / "off"
    train(_config(off, "--no-eval-videos"))
    assert (off / "eval.csv").is_file() and not (off / "videos").exists() and not _images(off)

"""Episode video frames and top-down maps that explain themselves (issue 30, item 2)."""

import gymnasium as gym
import numpy as np
import pytest

from earshot import av_env  # noqa: F401  (registers the environments)
from earshot.av_env import visualize as vis
from earshot.scenes import topdown as td


@pytest.fixture(scope="module")
def env():
    e = gym.make("earshot/AudioGoal-v0", scenes=1, episodes_per_scene=4, resolution=32, render_mode="rgb_array")
    yield e
    e.close()


def test_frame_has_title_panels_and_step_line(env):
    env.reset(options={"episode_index": 1})
    env.step(1)
    layout = {}
    frame = vis.compose_frame(env, step={"action": 1, "reward": 0.25, "return": 0.25}, layout=layout)
    height = vis.TITLE_H + vis.CAPTION_H + vis.PANEL + vis.STEP_H
    assert frame.dtype == np.uint8 and frame.shape == (height + height % 2, layout["size"][1], 3)
    assert frame.shape[1] % 2 == 0 and frame.shape[1] > 3 * frame.shape[0]  # even (H.264), wide
    panels = layout["panels"]
    assert list(panels) == ["RGB", "depth (m)", "top-down map", "what the agent hears"]
    for x0, y0, x1, y1 in panels.values():
        assert y1 - y0 == vis.PANEL and x1 <= frame.shape[1]
    # the depth panel ends in its colour bar; the map panel holds the legend column
    x0, y0, x1, y1 = panels["depth (m)"]
    bar = frame[y0 + 20:y1 - 20, x1 - vis.COLORBAR_W + 6:x1 - vis.COLORBAR_W + 16]
    assert len(np.unique(bar.reshape(-1, 3), axis=0)) > 30  # the colour ramp
    assert panels["top-down map"][2] - panels["top-down map"][0] > vis.LEGEND_W
    # text on the title line and on the per-step line
    for rows in (slice(0, vis.TITLE_H), slice(frame.shape[0] - vis.STEP_H, frame.shape[0])):
        assert (frame[rows].min(axis=-1) < 80).sum() > 200
    assert "sound '" in vis.title_line(env) and "episode" in vis.title_line(env)
    line = vis.step_line(env, {"action": 1, "reward": 0.25, "return": 0.25})
    assert "step 1/" in line and "MOVE_FORWARD" in line and "distance to goal" in line and "reward +0.25" in line


def test_hearing_panel_moves_within_a_step_and_nothing_else(env):
    env.reset(options={"episode_index": 0})
    layout = {}
    frames = vis.compose_frames(env, n=10, layout=layout)
    assert len(frames) == 10
    x0, y0, x1, y1 = layout["panels"]["what the agent hears"]
    outside = np.ones(frames[0].shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert all(np.array_equal(f[outside], frames[0][outside]) for f in frames[1:])
    assert not np.array_equal(frames[0][y0:y1, x0:x1], frames[9][y0:y1, x0:x1])  # the playhead moved


def test_hearing_panel_of_silence_has_empty_meters(env):
    """Silent ears (a semantic episode after its sound stops) draw the meters empty, and a loud
    step fills them: the bar's height is the level."""
    env.reset(options={"episode_index": 0})
    quiet = vis._Hearing(env, np.zeros((2, 16000)), vis.PANEL).draw()
    loud = vis._Hearing(env, 0.5 * np.ones((2, 16000)), vis.PANEL).draw()
    meters = np.s_[:, -vis.METER_W:]
    fill = lambda img: (np.abs(img[meters].astype(int) - 225).sum(axis=-1) > 60).sum()  # off the meters' grey
    assert fill(loud) > fill(quiet) + 500


def test_video_is_10_fps_with_frames_per_step_and_audio_in_sync(env, tmp_path):
    import imageio.v2 as imageio
    import soundfile

    assert vis.FPS == 10 and vis.frames_per_step(env) == 10  # 1 s of audio per step
    actions = iter([1, 2, 0])
    info = vis.record_episode(env, lambda e: next(actions), tmp_path / "ep.mp4", options={"episode_index": 0})
    assert info["num_steps"] == 3
    reader = imageio.get_reader(tmp_path / "ep.mp4")
    meta = reader.get_meta_data()
    n_frames = sum(1 for _ in reader)
    reader.close()
    assert meta["fps"] == pytest.approx(10.0)
    assert n_frames == (info["num_steps"] + 1) * vis.frames_per_step(env)  # the start and every step
    cfg = env.unwrapped.cfg
    pcm, rate = soundfile.read(tmp_path / "ep.wav")
    assert rate == cfg.sample_rate and len(pcm) == (info["num_steps"] + 1) * round(cfg.step_seconds * rate)
    assert meta.get("audio_codec") == "aac"  # muxed in
    assert n_frames / meta["fps"] == pytest.approx(len(pcm) / rate)  # as long as the audio


def test_map_has_legend_scale_bar_title_and_goal_at_its_pixel(apartment_graph):
    g = apartment_graph
    a, b = 0, int(np.argmax(g.distances_from(0)))
    path = g.shortest_path(a, b)
    img, layout = td.draw_topdown(g, agent=g.positions[a], heading=0.0, goal=g.positions[b], path=path[:3],
                                  shortest_path=path[2:], show_nodes=False, title="a title", return_layout=True)
    labels = [label for label, _ in layout["legend"]]
    for expected in ("wall", "door", "furniture", "path", "shortest path", "goal", "agent + heading"):
        assert expected in labels
    assert layout["map_top"] > 0 and img.shape[0] == layout["map_top"] + g.occupancy["floor"].shape[1] * \
        int(round(40 * g.occupancy["cell"]))
    # the scale bar: black pixels where its box is, in the band above the map, a round length long
    x0, y0, x1, y1 = (int(round(v)) for v in layout["scale_bar"])
    assert y1 <= layout["map_top"] and (img[y0:y1, x0:x1] == td.SCALE_BAR).all(axis=-1).sum() > 20
    assert (x1 - x0) / layout["ppm"] in (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
    # the goal disc is centred on the goal's pixel
    u, v = layout["goal_px"]
    assert tuple(img[int(round(v)), int(round(u))]) == td.GOAL
    red = np.all(img[layout["map_top"]:] == td.GOAL, axis=-1)
    rows, cols = np.nonzero(red)
    assert abs(cols.mean() - u) < 2 and abs(rows.mean() + layout["map_top"] - v) < 2
    # the shortest path is dashed magenta; doors are drawn
    assert np.all(img == td.SHORTEST, axis=-1).sum() > 50 and np.all(img == td.DOOR, axis=-1).sum() > 20
    # without the band: the same map, a scale bar in its lower left corner
    plain, lay2 = td.draw_topdown(g, agent=g.positions[a], goal=g.positions[b], show_nodes=False, legend=False,
                                  return_layout=True)
    assert plain.shape[0] == img.shape[0] - layout["map_top"] and lay2["scale_bar"][1] > plain.shape[0] * 0.8


def test_depth_image_colours_and_no_hit_black():
    depth = np.array([[0.0, 0.5, 5.0, 20.0]])
    img = vis.depth_image(depth)
    assert tuple(img[0, 0]) == (0, 0, 0)
    assert tuple(img[0, 3]) == tuple(vis.DEPTH_LUT[255])  # beyond MAX_DEPTH: the far end
    assert len({tuple(p) for p in img[0]}) == 4


def test_semantic_panel_shows_the_goal_category_where_the_sensor_sees_it():
    """With the ``semantic`` sensor observed, frames gain its panel: the goal category's pixels
    red exactly when the sensor sees the goal's category, objects in their category's colour."""
    e = gym.make("earshot/SemanticAudioGoal-v0", scenes=1, resolution=32, renderer="raycast",
                 sensors=["depth", "spectrogram", "category", "semantic"])
    obs, _ = e.reset(seed=2)
    goal = int(np.argmax(obs["category"])) + 1
    seen = {True: 0, False: 0}
    for _ in range(60):
        layout = {}
        frame = vis.compose_frame(e, layout=layout)
        x0, y0, x1, y1 = layout["panels"]["semantic (goal's category red)"]
        panel = frame[y0:y1, x0:x1].astype(int)
        red = int((np.abs(panel - np.array(vis.SEMANTIC_GOAL)).sum(axis=-1) < 20).sum())
        visible = bool((obs["semantic"] == goal).any())
        assert (red > 0) == visible
        if visible:  # the panel is the 32 x 32 labels scaled by 8: 64 panel pixels per label pixel
            assert red == 64 * int((obs["semantic"] == goal).sum())
        seen[visible] += 1
        obs, _, term, trunc, _ = e.step(e.unwrapped.oracle_action() or 2)
        if term or trunc:
            obs, _ = e.reset()
            goal = int(np.argmax(obs["category"])) + 1
    assert seen[True] >= 3 and seen[False] >= 3
    e.close()

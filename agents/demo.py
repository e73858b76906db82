"""The demo: the main job on the embedded default, end to end (``scripts/demo.py`` is its CLI).

A held-out procedural apartment, its navigation graph, a first-person RGB-D strip along a
shortest path and a top-down map (PNG), an AudioGoal episode walked by the shortest-path oracle,
recorded as MP4 with its binaural audio, and the shipped AudioGoal agent evaluated on held-out
test episodes against the random and oracle baselines (a table, and a video of the agent's
first episode). Its stages run under one progress line on stderr (``demo 2/5: rendering ...``,
``earshot.jobs.progress_bar``); what they show stays on stdout.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cli import option, save_config
from ..scenes import split_seeds
from ..scenes.refs import build_scene_and_graph, procedural_ref
from ..scenes.render import make_renderer
from ..scenes.topdown import save_png


@dataclass
class DemoConfig:
    split: str = option("test", "which procedural split", choices=("train", "val", "test"))
    index: int = option(0, "which apartment of the split (0 = its first)", low=0, high=9_999)
    renderer: str = option("auto", "RGB-D renderer", choices=("auto", "raycast", "gl", "habitat"))
    resolution: int = option(128, "image width and height in pixels", low=16, high=2048)
    frames: int = option(6, "views in the RGB-D strip", low=1, high=64)
    video: bool = option(True, "record the oracle's AudioGoal episode as MP4 with its binaural audio "
                               "(--no-video skips it and the agent's video)")
    agent: str = option("audiogoal", "shipped agent to evaluate against random and oracle ('' to skip)")
    episodes: int = option(20, "held-out test episodes of the agent comparison", low=1, high=10_000)
    out: str = option("outputs/demo", "output folder", nonempty=True)
    progress: bool = option(True, "show which stage runs and how many remain (stderr)")

    def check(self) -> None:
        n = len(split_seeds(self.split))
        if self.index >= n:
            raise ValueError(f"argument --index: the {self.split} split has {n} apartments (0 to {n - 1}), got {self.index}")


def depth_to_rgb(depth: np.ndarray, max_depth: float) -> np.ndarray:
    """Depth (metres) as a grey image: near is bright, far is dark, no hit is black."""
    d = np.clip(depth / max_depth, 0.0, 1.0)
    g = np.where(depth > 0, 0.15 + 0.85 * (1.0 - d), 0.0)
    return np.repeat((g * 255).astype(np.uint8)[..., None], 3, axis=2)


class _LinesAbove:
    """The stages' stdout: whole lines written to the real stdout above the progress line
    (``tqdm.write``, as ``earshot.jobs.say``), so the results (the agent's table included)
    never tear it."""

    def __init__(self, stream):
        self.stream, self.pending = stream, ""

    def write(self, text: str) -> int:
        from tqdm import tqdm

        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            tqdm.write(line, file=self.stream)
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.write("\n")
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


class _Stages:
    """The demo's stages as one tqdm line on stderr: ``demo k/n: what runs now [elapsed]``."""

    def __init__(self, names: list[str], enabled: bool):
        from .. import jobs

        self.names = names
        self.bar = jobs.progress_bar(len(names), desc="demo", unit="stage", enabled=enabled,
                                     bar_format="{desc} [{elapsed}]", file=sys.stderr)

    @contextlib.contextmanager
    def stage(self, name: str):
        self.bar.set_description_str(f"demo {self.names.index(name) + 1}/{len(self.names)}: {name}")
        yield
        self.bar.update(1)

    def close(self) -> None:
        if self.bar.n == len(self.names):
            self.bar.set_description_str(f"demo {self.bar.n}/{len(self.names)}: done", refresh=False)
        self.bar.close()  # a failed stage stays on screen as the one that ran last


def run_demo(config: DemoConfig) -> None:
    """Everything the demo shows, written under ``config.out`` and summarised on stdout (stage by
    stage, with ``config.progress``, under one progress line on stderr)."""
    names = ["building the apartment and its navigation graph", "rendering the first-person RGB-D strip",
             "drawing the top-down map"]
    names += ["recording the oracle's AudioGoal episode"] * config.video
    names += [f"evaluating the shipped agent {config.agent!r} against random and oracle"] * bool(config.agent)
    stages = _Stages(names, config.progress)
    writer = _LinesAbove(sys.stdout) if config.progress else None
    try:
        with contextlib.redirect_stdout(writer) if writer else contextlib.nullcontext():
            _run_stages(config, stages)
    finally:
        if writer:
            writer.flush()
        stages.close()


def _run_stages(config: DemoConfig, stages: _Stages) -> None:
    out = Path(config.out)
    seed = split_seeds(config.split)[config.index]
    with stages.stage(stages.names[0]):
        t0 = time.perf_counter()
        scene, graph = build_scene_and_graph(procedural_ref(seed))
        ready = time.perf_counter() - t0
        rooms = ", ".join(r.kind for r in scene.rooms)
        print(f"apartment seed {seed} ({config.split} split): {len(scene.rooms)} rooms ({rooms}), "
              f"{len(scene.objects)} objects in {len(scene.category_names)} categories")
        print(f"navigation graph: {len(graph)} nodes, {len(graph.edges)} edges; scene + graph ready in {ready:.2f} s")

    with stages.stage(stages.names[1]):
        renderer = make_renderer(config.renderer, scene, width=config.resolution, height=config.resolution)
        # the two nodes farthest apart (by geodesic distance) from the first node's farthest node
        far = int(np.argmax(graph.distances_from(0)))
        goal = int(np.argmax(graph.distances_from(far)))
        path = graph.shortest_path(far, goal)
        picks = np.linspace(0, len(path) - 2, config.frames).round().astype(int)
        views = []
        for k in picks:
            a, b = graph.positions[path[k]], graph.positions[path[k + 1]]
            views.append(renderer.render(a, float(np.arctan2(b[1] - a[1], b[0] - a[0]))))
        max_depth = max(float(depth.max()) for _, depth in views)
        strip = np.hstack([np.vstack([rgb, depth_to_rgb(depth, max_depth)]) for rgb, depth in views])
        strip_path = save_png(strip, out / "rgbd_strip.png")
        save_config(config, out)
        print(f"path: {len(path)} nodes, geodesic {graph.geodesic_distance(far, goal):.1f} m; "
              f"renderer: {renderer.backend}")
        print(f"first-person RGB-D strip: {strip_path.resolve()}")
    with stages.stage(stages.names[2]):
        start_heading = float(np.arctan2(*(graph.positions[path[1]] - graph.positions[path[0]])[1::-1]))
        topdown = graph.topdown_map(agent=graph.positions[far], heading=start_heading, goal=graph.positions[goal],
                                   shortest_path=path, pixels_per_meter=60,
                                   title=f"{config.split} apartment {seed}: shortest path "
                                         f"{float(graph.distances_from(far)[goal]):.1f} m")
        map_path = save_png(topdown, out / "topdown.png")
        print(f"top-down map:             {map_path.resolve()}")
    if config.video:
        with stages.stage(stages.names[3]):
            import gymnasium as gym

            from .. import av_env  # noqa: F401  (registers the environments)
            from ..av_env.visualize import record_episode

            env = gym.make("earshot/AudioGoal-v0", split=config.split, scenes=[seed], episodes_per_scene=4,
                           renderer=config.renderer, resolution=config.resolution, render_mode="rgb_array")
            index = int(np.argmax([e.geodesic_distance for e in env.unwrapped.episodes]))  # the longest
            episode = env.unwrapped.episodes[index]
            info = record_episode(env, lambda e: e.unwrapped.oracle_action(), out / "oracle_audiogoal.mp4",
                                  options={"episode_index": index})
            print(f"oracle AudioGoal episode ({episode.sound!r}, {episode.geodesic_distance:.1f} m): "
                  f"success {info['success']:.0f}, SPL {info['spl']:.2f}, {info['num_steps']} steps")
            print(f"episode video (binaural audio muxed in): {(out / 'oracle_audiogoal.mp4').resolve()}")
    if config.agent:
        with stages.stage(stages.names[-1]):
            compare_agent(config, out / "agent")


def compare_agent(config: DemoConfig, out: Path) -> None:
    """The shipped agent against random and oracle on the same held-out test episodes."""
    try:
        import stable_baselines3  # noqa: F401  (the extractor's base class)
        import torch  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"the agent comparison needs the agents extra ({exc.name} is missing): "
                         "pip install torch==2.13.0 -e '.[agents]', or run the demo with --agent ''") from None
    from .evaluation import EvalConfig, evaluate
    from .checkpoints import read_meta

    meta = read_meta(config.agent)
    print(f"\nshipped agent {config.agent!r} ({meta['task']}), trained by: {meta.get('training_command', 'see docs/agents.md')}")
    evaluate(EvalConfig(checkpoint=config.agent, task=meta["task"], split="test", episodes=config.episodes,
                        out=str(out), videos=1 if config.video else 0, compare=True,
                        progress=config.progress))


__all__ = ["DemoConfig", "compare_agent", "depth_to_rgb", "run_demo"]

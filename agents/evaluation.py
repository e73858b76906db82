"""Evaluation on fixed held-out episodes: the same episodes for every agent and baseline,
per-episode metrics and a summary with 95% confidence intervals (SoundSpaces' metrics), and the
evaluation run of a checkpoint or baseline (``EvalConfig``, ``evaluate``; ``scripts/evaluate.py``
is its CLI)."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import jobs
from ..cli import option
from ..files import write_json_atomic, write_text_atomic
from ..scenes.splits import SPLITS
from .kinds import DEFAULT_AGENT, agent_kind

# the navigation tasks agents are trained and evaluated on
TASKS = ("earshot/AudioGoal-v0", "earshot/AudioPointGoal-v0", "earshot/PointGoal-v0", "earshot/SemanticAudioGoal-v0",
         "earshot/MovingSource-v0")
METRICS = ("success", "spl", "softspl", "sna", "distance_to_goal")
# the summary's counts of the two ways to fail, and the episodes' ``ended`` each counts (``ending``)
FAILURES = {"premature_stops": "stop", "step_limit": "limit"}
BASELINES = ("random", "forward", "oracle")
# where the episodes start (``--start``), and how a message says it
_START_PHRASES = {"any": "", "goal-room": "starting in the goal's room", "other-room": "starting in another room"}
STARTS = tuple(_START_PHRASES)
# the training env's settings that an evaluation replaces by its own: the sounds trained on and
# their variants (a training augmentation, never evaluated on; --sounds), and where the training
# episodes came from (an episode file of the train split, episodes per scene and per visit;
# the evaluation's episodes are its split's, --episodes and --episodes-per-scene)
_TRAINING_ONLY = ("sounds", "sound_variants", "episodes", "episodes_per_scene", "episodes_per_visit")


def eval_env(task: str, split: str, episodes: int, env_kwargs: dict | None = None, *, sounds: str = "heard",
             episodes_per_scene: int = 1, agent: str = DEFAULT_AGENT, meshes: tuple = (), up_axis: str = "z",
             first_scene: int = 0):
    """The env whose fixed episodes every agent is evaluated on: ``episodes`` episodes over
    ceil(episodes / episodes_per_scene) scenes of ``split`` (at most the split's), each scene
    generating at least one episode per distance bin, so that ``episode_order`` can spread the
    bins. ``env_kwargs`` are the training env's (its ``sounds`` and ``sound_variants`` replaced
    by ``sounds``, its training episode file and episodes per scene and per visit dropped); it is
    wrapped as the agent kind ``agent`` acts in it (``AgentKind.wrap``; the waypoint agent's
    ``WaypointEnv`` runs the same episodes, primitive steps counted in every metric). Baselines
    act in the env as a flat agent does. ``meshes``: the episodes are on these mesh files (read
    with ``up_axis``) instead of the split's apartments, spread over them the same way.
    ``first_scene``: the scenes are the split's (or ``meshes``') from this one on."""
    import gymnasium as gym

    import earshot.av_env  # noqa: F401  (registers the ids in this process)
    from earshot.av_env.episodes import DISTANCE_BINS
    from earshot.scenes import split_seeds

    kwargs = {k: v for k, v in (env_kwargs or {}).items() if k not in _TRAINING_ONLY}
    wanted = -(-episodes // episodes_per_scene)
    pool = [str(m) for m in meshes] if meshes else split_seeds(split)
    if first_scene >= len(pool):
        raise ValueError(f"first_scene {first_scene} is past the last of the {len(pool):,} "
                         f"{'meshes given' if meshes else f'apartments of split {split!r}'}: use at most {len(pool) - 1}")
    scenes = list(pool[first_scene:first_scene + wanted])  # mesh paths or seeds of the split
    if meshes:
        kwargs["mesh_kwargs"] = {**(kwargs.get("mesh_kwargs") or {}), "up_axis": up_axis}
    per_scene = max(len(DISTANCE_BINS), -(-episodes // len(scenes)))
    env = gym.make(task, split=split, scenes=scenes, episodes_per_scene=per_scene, sounds=sounds, **kwargs)
    return agent_kind(agent).wrap(env)


def episode_order(env, episodes: int, start: str = "any") -> list[int]:
    """Indices of ``episodes`` episodes of ``env``'s fixed list, taken round robin over its scenes
    (one episode of each scene, then a second, ...): the same list for every agent. Scene k
    contributes its episodes from the k-th on, so consecutive scenes give episodes of
    consecutive geodesic-distance bins (the generator cycles through 1–3, 3–6, 6–10 and > 10 m)
    rather than every scene its easiest one. ``start`` (``STARTS``) keeps only the episodes that
    start in the goal's room (``goal-room``) or in another room (``other-room``), in that order."""
    if start not in STARTS:
        raise ValueError(f"unknown start {start!r}; starts are: {', '.join(STARTS)}")
    source = env.unwrapped.source
    groups = list(source.indices_by_scene().values())
    order = []
    depth = 0
    while len(order) < episodes and any(depth < len(g) for g in groups):
        row = [g[(k + depth) % len(g)] for k, g in enumerate(groups) if depth < len(g)]
        if start != "any":
            row = [i for i in row if _starts_as(source, i, start)]
        order += row
        depth += 1
    if len(order) < episodes:
        which = f" {_START_PHRASES[start]}" if start != "any" else ""
        raise ValueError(f"the env has {len(order)} episodes{which}, fewer than the {episodes} asked for; "
                         "raise episodes_per_scene or scenes")
    return order[:episodes]


def _starts_as(source, index: int, start: str) -> bool:
    same = source.starts_in_goal_room(index)
    if same is None:
        raise ValueError(f"episode {index} is in a scene without rooms ({source.episodes[index].scene}): "
                         "--start goal-room/other-room needs procedural scenes; use --start any")
    return same == (start == "goal-room")


def baseline_actor(name: str, env, seed: int = 0):
    """``act(obs) -> action`` of a named baseline: ``random`` (uniform over the 4 actions, STOP
    included), ``forward`` (always forward: the agent never stops), ``oracle`` (shortest path,
    then STOP)."""
    from earshot.scenes import Action

    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; baselines are: {', '.join(BASELINES)}")
    u = env.unwrapped
    rng = np.random.default_rng(seed)

    def act(_obs):
        if name == "random":
            return int(rng.integers(env.action_space.n))
        if name == "forward":
            return int(Action.MOVE_FORWARD)
        return int(u.oracle_action())

    act.reset = lambda: None
    return act


class constant_audio_actor:
    """``actor`` fed observations whose audio ``keys`` (an env's ``observer.audio_keys``) hold
    the first values it was given (the listening ablation: sound, but none that changes with the
    agent's pose or the goal); its ``reset()`` between episodes passes through, the constant
    sound stays for the whole run."""

    def __init__(self, actor, keys):
        self.actor, self.keys, self.first = actor, frozenset(keys), {}
        passed = getattr(actor, "passed", None)
        if passed is not None:  # the states a recurrent waypoint agent walked through: the same sound
            actor.passed = lambda: [self._constant(o) for o in passed()]

    def reset(self) -> None:
        if hasattr(self.actor, "reset"):
            self.actor.reset()

    def _constant(self, obs):
        if not self.first:
            self.first = {k: np.array(v, copy=True) for k, v in obs.items() if k in self.keys}
        return {k: (self.first[k] if k in self.first else v) for k, v in obs.items()}

    def __call__(self, obs):
        return self.actor(self._constant(obs))


def _video_options(env, actor, agent: str) -> dict:
    """How the kind films its episodes, and a panel of what the policy's segmenter sees when it
    has one (``agents.segmenter.video_panel``)."""
    options = dict(agent_kind(agent).video_options(env))
    while actor is not None and not hasattr(actor, "policy"):  # through wrappers (loop escape, constant audio)
        actor = getattr(actor, "actor", None)
    net = getattr(getattr(getattr(actor, "policy", None), "extractor", None), "segmenter", None)
    if net is not None:
        from .segmenter import video_panel

        options["panels"] = (*options.get("panels", ()), video_panel(env, net))
    return options


def episode_seed(seed: int, index: int) -> int:
    """The env seed of fixed episode ``index`` under evaluation seed ``seed``: what the world
    draws while the episode runs (a moving source's walk, its distractors) is a function of the
    two alone, the same for every agent, in every run and whatever ran before it."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def run_episodes(env, actor, indices: list[int], *, videos: int = 0, video_dir: Path | None = None,
                 progress: bool = False, agent: str = DEFAULT_AGENT, seed: int = 0) -> list[dict]:
    """Run ``actor`` on the env's episodes ``indices``; a dict of metrics per episode. Each
    episode's env is reset with ``episode_seed(seed, index)``, so that the world's own random
    motion in it is fixed (an unseeded env drew it from fresh entropy: two evaluations of one
    policy on MovingSource walked the source differently). The first ``videos`` episodes are
    recorded as MP4 (with audio) under ``video_dir``, filmed as the agent kind ``agent`` asks
    (``AgentKind.video_options``: its own panels, a frame per primitive step)."""
    from earshot.av_env.visualize import record_episode

    rows = []
    for n, index in enumerate(jobs.progress(indices, desc="episodes", unit="ep", enabled=progress)):
        actor.reset()
        env_seed = episode_seed(seed, index)
        if n < videos and video_dir is not None:
            # record_episode resets and steps itself; the actor reads the env's latest observation:
            # the outermost one that keeps it (a wrapper's own, e.g. the waypoint agent's maps)
            info = record_episode(env, lambda e: actor(e.get_wrapper_attr("last_observation")),
                                  Path(video_dir) / f"episode_{index:05d}.mp4", seed=env_seed,
                                  options={"episode_index": index}, **_video_options(env, actor, agent))
        else:
            obs, _ = env.reset(seed=env_seed, options={"episode_index": index})
            while True:
                obs, _, terminated, truncated, info = env.step(actor(obs))
                if terminated or truncated:
                    break
        same = env.unwrapped.source.starts_in_goal_room(index)
        rows.append({"episode": index, "scene": env.unwrapped.episode.scene,
                     "geodesic_distance": round(float(env.unwrapped.episode.geodesic_distance), 3),
                     "start_room": "" if same is None else ("goal" if same else "other"),
                     **{k: float(info[k]) for k in METRICS}, "num_steps": int(info["num_steps"]),
                     "ended": ending(info)})
    return rows


def ending(info: dict) -> str:
    """How an episode whose last ``info`` this is ended: ``success``; ``stop``, a STOP pressed away
    from the goal (a premature STOP); or ``limit``, the step limit reached without a STOP (for an
    agent that keeps moving: a loop, or a search that never ends)."""
    if info["success"] >= 0.5:
        return "success"
    return "stop" if info["stopped"] else "limit"


def summarize(rows: list[dict]) -> dict:
    """Per metric: mean and the half-width of a normal 95% confidence interval (1.96 s / √n); and
    how many episodes failed by a premature STOP and at the step limit (count and share)."""
    out = {"episodes": len(rows)}
    for k in METRICS:
        v = np.array([r[k] for r in rows], np.float64)
        ci = 1.96 * float(v.std(ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
        out[k] = {"mean": float(v.mean()), "ci95": ci}
    # the two ways to fail: a premature STOP, or the step limit reached (an argmax policy's loops)
    for key, end in FAILURES.items():
        n = sum(r["ended"] == end for r in rows)
        out[key] = {"count": n, "share": n / len(rows) if rows else float("nan")}
    return out


def write_results(out: Path, rows: list[dict], summary: dict) -> None:
    """``episodes.csv`` and ``summary.json`` in ``out``, each written atomically."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out / "episodes.csv", text.getvalue())
    write_json_atomic(out / "summary.json", summary)


_HEADS = {"distance_to_goal": "distance (m)"}


def format_table(results: dict[str, dict], columns: int = 100) -> str:
    """A table a person can read, at most ``columns`` wide: one row per agent, mean ± 95% CI per
    metric, then the failures by a premature STOP / at the step limit (where the summary counts
    them); an agent name too long for its column gets a line of its own above its row."""
    cell = 15  # "  0.183 ± 0.033"
    ends = 14  # "  STOPs / limit": failures by a premature STOP / at the step limit, counted
    width = min(max(len("agent"), *(len(n) for n in results)) + 2, columns - cell * len(METRICS) - ends)
    head = f"{'agent':<{width}}" + "".join(f"{_HEADS.get(k, k):>{cell}}" for k in METRICS) + f"{'STOPs / limit':>{ends}}"
    lines = [head, "-" * len(head)]
    stops, limit = FAILURES  # the summary's keys for the two ways to fail
    for name, s in results.items():
        cells = "".join(f"{s[k]['mean']:>{cell - 8}.3f} ± {s[k]['ci95']:<5.3f}" for k in METRICS)
        if stops in s:
            cells += f"{s[stops]['count']:>{ends - 8}} / {s[limit]['count']}"
        if len(name) > width - 1:
            lines += [name, " " * width + cells]
        else:
            lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)


@dataclass
class EvalConfig:
    checkpoint: str = option("", "checkpoint written by train.py (a run folder, RUN/checkpoints/latest or best, or "
                                 "its policy.pt) or a shipped agent's name (audiogoal); or use --baseline")
    baseline: str = option("", "a baseline instead of a checkpoint", choices=("", *BASELINES))
    task: str = option("", "Gymnasium id of the task (default: the checkpoint's; earshot/AudioGoal-v0 for a "
                           "baseline)", choices=("", *TASKS))
    split: str = option("test", "split of the episodes (test: held-out scenes; extra: 100,000 more held-out "
                                "apartments, see --first-scene)", choices=tuple(SPLITS))
    first_scene: int = option(0, "start at this apartment of the split (0 = its first): other blocks of "
                                 "--split extra, to measure an agent beyond test's 100 apartments", low=0)
    episodes: int = option(50, "episodes to run", low=1)
    episodes_per_scene: int = option(1, "episodes per scene (more scenes first: one episode each)", low=1)
    meshes: tuple = option((), "your mesh files (.glb/.obj/.ply) to run the episodes on instead of the split's "
                               "apartments (spread over them as over scenes; --split picks the sounds' and "
                               "episodes' seeds only)", metavar="MESH")
    up_axis: str = option("z", "up axis of --meshes (y for glTF/Replica)", choices=("z", "y"))
    start: str = option("any", "where the episodes start: any, in the goal's room (goal-room) or in another room "
                               "(other-room; the hard case: no direct sound)", choices=STARTS)
    sounds: str = option("heard", "sounds of the episodes: heard (training sounds) or unheard (held out)",
                         choices=("heard", "unheard"))
    out: str = option("outputs/eval", "output folder", nonempty=True)
    videos: int = option(0, "record this many episodes as MP4", low=0)
    deterministic: bool = option(False, "argmax actions instead of sampled ones")
    loop_escape: int = option(0, "with --deterministic: at a pose visited more than K times in the episode, sample "
                                 "from the policy, and after 2K+1 visits take a random move (never STOP; the waypoint "
                                 "agent: an allowed waypoint), so the argmax cannot cycle to the step limit; 0 = the "
                                 "plain argmax", low=0)
    constant_audio: bool = option(False, "the ablation that shows whether an agent listens: every audio observation "
                                         "replaced by the first one of the run (a real but constant sound)")
    temperature: float = option(1.0, "sampled actions of a feed-forward policy: softmax(logits / T); 1 = the policy's "
                                     "own distribution", low=0.01, high=100.0)
    task_options: str = option("{}", "JSON object of the task's options to evaluate under, over the checkpoint's: "
                                     "e.g. '{\"goal_area\": \"object_node\"}' (SemanticAudioGoal's goal area "
                                     "before 2026-12-07) or '{\"distractor_mode\": \"static\"}'")
    compare: bool = option(False, "also run the random and oracle baselines on the same episodes "
                                  "(written to OUT/baselines/NAME)")
    seed: int = option(0, "seed of sampled actions, of the random baseline and of the world's own motion in each "
                          "episode (a moving source's walk, its distractors: the same for every agent)", low=0)
    device: str = option("cpu", "torch device for the policy", choices=("cpu", "cuda", "auto"))
    progress: bool = option(True, "a progress bar per agent (episodes/s, ETA)")

    @property
    def task_kwargs(self) -> dict:
        """``task_options`` parsed; one clear error when it is not a JSON object of task options."""
        from ..av_env.config import FLAT_KWARGS
        from ..cli import json_object

        kwargs = json_object("--task-options", self.task_options)
        known = sorted(k for k, (part, _) in FLAT_KWARGS.items() if part == "task_options")
        unknown = sorted(set(kwargs) - set(known))
        if unknown:
            raise ValueError(f"argument --task-options: {', '.join(unknown)} is not a task option (they are "
                             f"{', '.join(known)}); the checkpoint's other env settings are its own")
        return kwargs

    def check(self) -> None:
        self.task_kwargs  # noqa: B018  (one clear error before any episode runs)
        if bool(self.checkpoint) == bool(self.baseline):
            raise ValueError("give exactly one of --checkpoint PATH or --baseline random|forward|oracle")
        if self.loop_escape and not (self.deterministic and self.checkpoint):
            raise ValueError("--loop-escape K changes a checkpoint's argmax actions: pass it with --checkpoint and "
                             "--deterministic (sampled actions and baselines do not loop that way)")


def evaluate_one(config: EvalConfig, name: str, actor_for, env_kwargs: dict, out: Path, videos: int,
                 agent: str = DEFAULT_AGENT) -> dict:
    """Run ``actor_for(env)`` on the fixed episodes of ``config`` in the env of agent kind
    ``agent``; write ``out/episodes.csv`` and ``out/summary.json``; return the summary."""
    # a start filter takes the scenes' next episodes (each scene has one per distance bin) in place of those it skips
    env = eval_env(config.task, config.split, config.episodes, env_kwargs, sounds=config.sounds,
                   episodes_per_scene=config.episodes_per_scene, agent=agent, meshes=config.meshes,
                   up_axis=config.up_axis, first_scene=config.first_scene)
    try:
        actor = actor_for(env)
        if config.constant_audio:
            actor = constant_audio_actor(actor, env.unwrapped.observer.audio_keys)
        rows = run_episodes(env, actor, episode_order(env, config.episodes, config.start), videos=videos, video_dir=out / "videos",
                            progress=config.progress, agent=agent, seed=config.seed)
    finally:
        env.close()
    summary = {**summarize(rows), "agent": name, "task": config.task, "split": config.split,
               "first_scene": config.first_scene,
               **({"meshes": list(config.meshes), "up_axis": config.up_axis} if config.meshes else {}), "start": config.start,
               "sounds": config.sounds,
               "deterministic": config.deterministic, "loop_escape": config.loop_escape, "temperature": config.temperature,
               "constant_audio": config.constant_audio, "task_options": config.task_kwargs}
    write_results(out, rows, summary)
    return summary


def _checkpoint_run(config: EvalConfig):
    """(name, actor_for, env_kwargs, agent) of the checkpoint being evaluated."""
    import torch

    from .checkpoints import imitation_steps_of, load_policy, ppo_steps_of, read_meta

    torch.manual_seed(config.seed)
    meta = read_meta(config.checkpoint)
    if config.task and meta["task"] != config.task:
        raise ValueError(f"the checkpoint was trained on {meta['task']}, not {config.task}; pass --task {meta['task']} "
                         "or leave --task out")
    device = "cuda" if config.device == "auto" and torch.cuda.is_available() else (
        "cpu" if config.device == "auto" else config.device)
    kind = agent_kind(meta["agent"])  # a checkpoint says which kind of agent it is

    def actor_for(env):
        from .checkpoints import simulator_differences

        policy, _ = load_policy(config.checkpoint, env.observation_space, env.action_space, device=device)
        for line in simulator_differences(meta, env):
            print(f"warning: {line}", flush=True)
        torch.manual_seed(config.seed)  # sampled actions: the same draws whatever building the policy took
        return kind.actor(policy, env, deterministic=config.deterministic, temperature=config.temperature,
                          loop_escape=config.loop_escape)

    ppo = ppo_steps_of(meta)  # this run's and those of the checkpoints it started from (--init)
    steps = f"{ppo:,} steps"  # in primitive actions, whatever the kind
    imitation = imitation_steps_of(meta)
    if imitation:
        steps = f"{imitation:,} imitation + {ppo:,} PPO steps"
    if config.deterministic:
        mode = f"argmax, loop escape {config.loop_escape}" if config.loop_escape else "argmax"
    else:
        mode = "sampled" if config.temperature == 1.0 else f"sampled, T={config.temperature:g}"
    return f"{meta['agent']} @ {steps} ({mode})", actor_for, meta.get("env_kwargs", {}), kind.name


def evaluate(config: EvalConfig) -> dict:
    """Evaluate the checkpoint or baseline of ``config`` (and with ``compare`` the random and
    oracle baselines) on the same fixed episodes; print a table; return each one's summary.
    A checkpoint's policy runs on one torch thread; the caller's thread count comes back after
    (a baseline needs no torch)."""
    if not config.checkpoint:
        return _evaluate(config)
    with jobs.torch_threads(1):
        return _evaluate(config)


def _evaluate(config: EvalConfig) -> dict:
    import dataclasses

    out = Path(config.out)
    results = {}
    if config.checkpoint:  # say what the checkpoint brings: its task (unless --task), agent kind, env settings
        import json

        from .checkpoints import read_meta

        meta = read_meta(config.checkpoint)
        task = config.task or meta["task"]
        source = "--task" if config.task else "the checkpoint's"
        print(f"checkpoint {config.checkpoint}: task {task} ({source}), "
              f"agent {meta['agent']}, env settings {json.dumps(meta.get('env_kwargs', {}), sort_keys=True)} "
              "(the checkpoint's)", flush=True)
        config = dataclasses.replace(config, task=task)
    elif not config.task:
        config = dataclasses.replace(config, task="earshot/AudioGoal-v0")
    if config.checkpoint:
        name, actor_for, env_kwargs, agent = _checkpoint_run(config)
        env_kwargs = {**env_kwargs, **config.task_kwargs}
        results[name] = evaluate_one(config, name, actor_for, env_kwargs, out, config.videos, agent)
    else:
        env_kwargs = dict(config.task_kwargs)
        results[config.baseline] = evaluate_one(config, config.baseline,
                                                lambda env: baseline_actor(config.baseline, env, config.seed),
                                                env_kwargs, out, config.videos)
    if config.compare:
        for b in ("random", "oracle"):
            if b != config.baseline:
                results[b] = evaluate_one(config, b, lambda env, b=b: baseline_actor(b, env, config.seed), env_kwargs,
                                          out / "baselines" / b, 0)
    where = f", {_START_PHRASES[config.start]}" if config.start != "any" else ""
    if config.meshes:
        where += f", on {len(config.meshes)} mesh{'es' if len(config.meshes) > 1 else ''} ({', '.join(Path(m).name for m in config.meshes)})"
    print(f"\n{config.task}, {config.split} split{where}, {config.sounds} sounds, {config.episodes} "
          "episodes (mean ± 95% CI):")
    print(format_table(results))
    print(f"\nwrote {out / 'episodes.csv'} and {out / 'summary.json'}"
          + (f", videos in {out / 'videos'}" if config.videos else ""))
    return results

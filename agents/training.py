"""The training loop: an agent of any kind (``earshot.agents.kinds``) trained with PPO on
earshot's train scenes (AV-Nav's recipe: per-modality CNNs, a recurrent state, PPO), with
SubprocVecEnv workers on disjoint scene subsets, an optional DAgger warm start, periodic
checkpoints and val evaluations (``earshot.agents.callbacks``). ``scripts/train.py`` is its CLI.

A run folder holds ``config.json`` (the resolved options), ``tb/`` (TensorBoard: SB3's
``train/…`` and ``rollout/…``, plus ``eval/success`` and ``eval/spl`` on the val split),
``checkpoints/step_NNNNNNNNN/`` and ``checkpoints/latest/`` (safe format, see
``earshot.agents.ppo``) and ``eval.csv``. Training an existing run folder again resumes from
``checkpoints/latest`` (weights, optimizer, step counter) up to ``total_steps``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..cli import option, save_config
from .evaluation import TASKS
from .kinds import AGENT_KINDS, DEFAULT_AGENT, agent_kind


@dataclass
class TrainConfig:
    task: str = option("earshot/AudioGoal-v0", "Gymnasium id of the task", choices=TASKS)
    agent: str = option(DEFAULT_AGENT, "policy: recurrent (LSTM, AV-Nav's GRU analogue), feed-forward PPO, or "
                        "waypoint (AV-WaN-style: MaskablePPO over a 9x9 grid of waypoints on the agent's own map, a "
                        "planner walking there; see earshot.agents.waypoint)",
                        choices=(DEFAULT_AGENT, *(k for k in AGENT_KINDS if k != DEFAULT_AGENT)))
    total_steps: int = option(500_000, "PPO env steps to train for, over all workers, in primitive actions (the waypoint "
                                       "agent's macro steps count the primitive steps they took; 0 with "
                                       "--imitation-steps: the warm start only)", low=0)
    n_envs: int = option(2, "SubprocVecEnv workers, each on its own part of the train scenes", low=1, high=256)
    run_dir: str = option("runs/audiogoal", "run folder (an existing one is resumed)", nonempty=True)
    seed: int = option(0, "seed of the model, the workers and their episode order", low=0)
    device: str = option("auto", "torch device: auto (CUDA when present), cpu, cuda", choices=("auto", "cpu", "cuda"))
    scenes: int = option(100, "train scenes to use", low=1)
    env_kwargs: str = option("{}", "JSON object of extra env kwargs, e.g. '{\"resolution\": 64, \"sensors\": [\"depth\", \"spectrogram\"]}'")
    learning_rate: float = option(2.5e-4, "Adam learning rate (AV-Nav: 2.5e-4)", low=0.0)
    n_steps: int = option(150, "rollout length per worker (AV-Nav: 150)", low=2)
    n_epochs: int = option(4, "PPO epochs per rollout (AV-Nav: 4)", low=1)
    minibatches: int = option(1, "minibatches per epoch (AV-Nav: 1)", low=1)
    gamma: float = option(0.99, "discount", low=0.0, high=1.0)
    gae_lambda: float = option(0.95, "GAE lambda", low=0.0, high=1.0)
    clip_range: float = option(0.1, "PPO clip (AV-Nav: 0.1)", low=0.0)
    ent_coef: float = option(0.2, "entropy bonus (AV-Nav: 0.2; keeps the policy from collapsing onto STOP)", low=0.0)
    vf_coef: float = option(0.5, "value loss weight", low=0.0)
    max_grad_norm: float = option(0.5, "gradient clipping", low=0.0)
    stop_prior: float = option(0.0, "initial probability of STOP (0: uniform over the actions, as SB3 starts); "
                                    "0.02 makes the first episodes ~50 steps long", low=0.0, high=0.99)
    hidden: int = option(128, "features per visual/audio encoder (AV-Nav: 512)", low=8)
    lstm_hidden: int = option(256, "LSTM state size (recurrent-ppo; AV-Nav's GRU: 512)", low=8)
    init: str = option("", "fresh runs: start from this checkpoint's policy weights (e.g. RUN/checkpoints/imitation, or "
                           "a shipped agent's name) with this run's hyper-parameters")
    imitation_steps: int = option(0, "warm start (fresh runs, --agent ppo or waypoint): primitive env steps of DAgger "
                                     "from the shortest-path oracle (waypoint: the waypoint oracle) before PPO "
                                     "(see earshot.agents.imitation; 0: none)", low=0)
    imitation_rounds: int = option(6, "DAgger rounds of the warm start", low=1)
    imitation_epochs: int = option(3, "epochs over all DAgger data after each round (the waypoint agent makes ~5x "
                                      "fewer decisions per primitive step, so it needs more to see as many batches)",
                                   low=1)
    imitation_every_primitive: bool = option(True, "waypoint agent: DAgger also labels the states it walks through "
                                                   "between decisions (~5.5x the samples at the same primitive steps)")
    eval_every: int = option(50_000, "evaluate on the val split every this many steps (0: never)", low=0)
    eval_episodes: int = option(20, "val episodes per evaluation", low=1)
    checkpoint_every: int = option(50_000, "write a checkpoint every this many steps", low=1)
    torch_threads: int = option(1, "torch threads of the learner (more were up to 100x slower on 2 cores)", low=1)
    progress: bool = True  # a progress bar

    def check(self) -> None:
        try:
            kwargs = json.loads(self.env_kwargs)
        except json.JSONDecodeError as exc:
            raise ValueError(f"argument --env-kwargs: not JSON ({exc}): {self.env_kwargs!r}") from None
        if not isinstance(kwargs, dict):
            raise ValueError(f"argument --env-kwargs: must be a JSON object, got {self.env_kwargs!r}")
        if self.total_steps == 0 and self.imitation_steps == 0:
            raise ValueError("argument --total-steps: 0 trains nothing; give PPO steps, or --imitation-steps for the "
                             "warm start alone")
        self.kind.check_options(kwargs, self.stop_prior)
        if self.imitation_steps:
            self.kind.check_imitation("argument --imitation-steps: ")
        for reserved in ("split", "scenes", "scene_shard"):
            if reserved in kwargs:
                raise ValueError(f"argument --env-kwargs: {reserved!r} is set by train.py (use --scenes)")

    @property
    def kind(self):
        """The agent kind (``earshot.agents.kinds.AgentKind``) trained."""
        return agent_kind(self.agent)

    @property
    def hyperparameters(self) -> dict:
        return dict(learning_rate=self.learning_rate, n_steps=self.n_steps, batch_size=self.n_steps * self.n_envs // self.minibatches,
                    n_epochs=self.n_epochs, gamma=self.gamma, gae_lambda=self.gae_lambda, clip_range=self.clip_range,
                    ent_coef=self.ent_coef, vf_coef=self.vf_coef, max_grad_norm=self.max_grad_norm)

    @property
    def extractor(self) -> dict:
        return self.kind.extractor_settings(self.hidden, self.lstm_hidden)


def command_line(config: TrainConfig) -> str:
    """The command that trains this config (options that differ from the defaults)."""
    import dataclasses
    import shlex

    parts = ["python scripts/train.py"]
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "progress" or value == f.default:
            continue
        parts.append(f"--{f.name.replace('_', '-')} {shlex.quote(str(value))}")
    return " ".join(parts)


def make_worker(task: str, split: str, scenes: int, shard: tuple[int, int] | None, env_kwargs: dict,
                agent: str = DEFAULT_AGENT):
    """One env (called inside a worker process), wrapped as the agent kind ``agent`` acts in it."""
    import torch

    torch.set_num_threads(1)
    import gymnasium as gym

    import earshot.av_env  # noqa: F401  (registers the ids)

    return agent_kind(agent).wrap(gym.make(task, split=split, scenes=scenes, scene_shard=shard, **env_kwargs))


def make_vec_env(config: TrainConfig):
    """The training workers: ``n_envs`` envs on disjoint parts of the train scenes, monitored."""
    import functools

    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

    kwargs = json.loads(config.env_kwargs)
    n = config.n_envs
    if n > config.scenes:
        raise ValueError(f"--n-envs {n} needs at least as many --scenes ({config.scenes}): each worker gets its own")
    fns = [functools.partial(make_worker, config.task, "train", config.scenes, (k, n) if n > 1 else None, kwargs,
                             config.agent) for k in range(n)]
    venv = SubprocVecEnv(fns, start_method="forkserver") if n > 1 else DummyVecEnv(fns)
    venv.seed(config.seed)
    return VecMonitor(venv)


def init_from(model, checkpoint: str, meta: dict) -> None:
    """Load a checkpoint's policy weights into a fresh model (same agent, task observations and
    extractor); the checkpoint's own warm start is carried into this run's meta."""
    from .ppo import load_weights, read_meta

    src = read_meta(checkpoint)
    for key in ("agent", "extractor"):
        if src[key] != meta[key]:
            raise ValueError(f"argument --init: {checkpoint!r} has {key} {src[key]!r}, this run {meta[key]!r}")
    load_weights(model, checkpoint)
    meta["init"] = {"checkpoint": str(checkpoint), "num_timesteps": src["num_timesteps"],
                    "training_command": src.get("training_command")}
    if src.get("imitation"):
        meta["imitation"] = src["imitation"]
    print(f"initialised from {checkpoint} ({src['num_timesteps']:,} PPO steps"
          + (f", {src['imitation']['steps']:,} imitation steps)" if src.get("imitation") else ")"), flush=True)


def warm_start(config: TrainConfig, model, run: Path) -> dict:
    """DAgger from the kind's oracle (``earshot.agents.imitation``) in this process, on all train scenes."""
    from stable_baselines3.common.logger import configure

    from .imitation import ImitationConfig, imitate

    env = make_worker(config.task, "train", config.scenes, None, json.loads(config.env_kwargs), config.agent)
    try:
        settings = ImitationConfig(config.imitation_steps, rounds=config.imitation_rounds, epochs=config.imitation_epochs,
                                   seed=config.seed, every_primitive=config.imitation_every_primitive)
        out = imitate(config.kind, model, env, settings, logger=configure(str(run / "tb" / "imitation"), ["tensorboard"]),
                      progress=config.progress)
    finally:
        env.close()
    last = out["rounds"][-1]
    print(f"imitation: {out['steps']:,} steps ({out['decisions']:,} decisions, {out['samples']:,} labelled states) in "
          f"{len(out['rounds'])} rounds; last round: success {last['success']:.2f} "
          f"with the oracle acting {last['oracle_share']:.0%} of the steps, action accuracy {last['accuracy']:.2f}", flush=True)
    return out


def _check_resumable(config: TrainConfig, run: Path) -> None:
    saved = json.loads((run / "config.json").read_text()) if (run / "config.json").is_file() else {}
    for key in ("task", "agent", "env_kwargs", "n_envs"):
        if key in saved and saved[key] != getattr(config, key):
            raise ValueError(f"{run} was trained with --{key.replace('_', '-')} {saved[key]!r}, not "
                             f"{getattr(config, key)!r}; resume with the same options or use another --run-dir")


def _start(config: TrainConfig, venv, run: Path, meta: dict):
    """The model a run starts from: the latest checkpoint when resuming, else a new model (its
    weights from ``--init``, then the warm start, when asked)."""
    from .callbacks import evaluate_on, record_eval
    from .ppo import make_model, primitive_steps, resume_model, save_checkpoint

    latest = run / "checkpoints" / "latest"
    if latest.is_dir():
        model, saved_meta = resume_model(latest, venv, device=config.device, tensorboard_log=str(run / "tb"))
        meta.update({k: saved_meta[k] for k in ("init", "imitation") if k in saved_meta})  # how it started
        print(f"resuming {run} at step {primitive_steps(model):,}", flush=True)
        return model
    model = make_model(config.agent, venv, config.hyperparameters, config.extractor, seed=config.seed,
                       device=config.device, tensorboard_log=str(run / "tb"), stop_prior=config.stop_prior or None)
    if config.init:
        init_from(model, config.init, meta)
    if config.imitation_steps:
        meta["imitation"] = warm_start(config, model, run)
        save_checkpoint(model, run / "checkpoints" / "imitation", meta)
        save_checkpoint(model, latest, meta)
        if config.eval_every:
            record_eval(run, 0, evaluate_on(config, model.policy))
    return model


def _learn(config: TrainConfig, model, run: Path, meta: dict) -> dict:
    """PPO up to ``total_steps`` primitive steps; its rate and time split (empty when none were left)."""
    from .callbacks import PeriodicCallback
    from .ppo import primitive_steps

    remaining = config.total_steps - primitive_steps(model)
    if remaining <= 0:
        return {}
    t = time.perf_counter()
    start, start_macro = primitive_steps(model), model.num_timesteps
    callback = PeriodicCallback(config, run, meta)
    # SB3 counts decisions; each takes >= 1 primitive step, so ``remaining`` bounds them, and the
    # callback ends training after the rollout in which the primitive budget was spent
    model.learn(remaining, callback=callback, reset_num_timesteps=False, tb_log_name="run")
    steps = primitive_steps(model) - start
    rate = steps / (time.perf_counter() - t)
    share = callback.time_split["rollouts"]
    # SB3's counter includes the decision per worker taken after the budget was spent
    decisions = model.num_timesteps - start_macro - (config.n_envs if callback.spent else 0)
    macro = f" ({decisions:,} {config.kind.decisions} trained on)" if config.kind.macro_actions else ""
    print(f"trained {steps:,} steps{macro} at {rate:.0f} steps/s; {share:.0%} of the time collecting "
          f"rollouts (env steps and policy forward passes), {1 - share:.0%} in PPO updates, evaluations and "
          "checkpoints", flush=True)
    return {"steps": steps, "steps_per_s": rate, "rollout_share": share}


def train(config: TrainConfig) -> dict:
    """Train (or resume) as configured; returns the checkpoint folder and, when steps were
    trained, their rate and the share of wall time spent collecting rollouts."""
    import torch

    from .ppo import primitive_steps, save_checkpoint

    torch.set_num_threads(config.torch_threads)
    run = Path(config.run_dir)
    latest = run / "checkpoints" / "latest"
    if latest.is_dir():
        _check_resumable(config, run)
    save_config(config, run)
    meta = {"agent": config.agent, "task": config.task, "env_kwargs": json.loads(config.env_kwargs),
            "training_command": command_line(config),
            "hyperparameters": config.hyperparameters, "extractor": config.extractor, "seed": config.seed,
            "config": asdict(config)}
    venv = make_vec_env(config)
    try:
        model = _start(config, venv, run, meta)
        stats = _learn(config, model, run, meta)
        save_checkpoint(model, latest, meta)
        save_checkpoint(model, run / "checkpoints" / f"step_{primitive_steps(model):09d}", meta)
    finally:
        venv.close()
    print(f"checkpoint: {latest}", flush=True)
    return {"checkpoint": latest, **stats}


__all__ = ["TrainConfig", "command_line", "init_from", "make_vec_env", "make_worker", "train", "warm_start"]

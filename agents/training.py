"""Training: an agent of any kind (``earshot.agents.kinds``) trained on earshot's train scenes
with DD-PPO (``earshot.agents.ddppo``: one process is plain PPO; ``torchrun`` starts more, on one
machine or many), AV-Nav's recipe (per-modality CNNs, a GRU state, PPO), an optional DAgger warm
start (``earshot.agents.imitation``), checkpoints and val evaluations. ``scripts/train.py`` is
its CLI::

    python scripts/train.py --total-steps 200000 --run-dir runs/audiogoal                 # one process
    torchrun --nproc-per-node 2 scripts/train.py --total-steps 200000 --run-dir runs/ag2  # two ranks

A run folder holds ``config.json`` (the resolved options), ``tb/`` (TensorBoard: ``train/…``
losses, ``rollout/…`` episode stats, ``time/steps_per_s``, ``imitation/…`` and ``eval/…`` on the
val split), ``checkpoints/step_NNNNNNNNNN/`` (the newest few), ``checkpoints/latest/``,
``checkpoints/best/`` (the best val SPL so far, with a console line per val evaluation) and
(after a warm start) ``checkpoints/imitation/`` (``earshot.agents.checkpoints``), ``eval.csv``
and ``videos/val_step_NNNNNNNNNN.mp4`` (one val episode filmed per evaluation, also a small GIF
in TensorBoard's ``eval/video``; ``--no-eval-videos``: none). Training an existing run folder
again resumes from its newest checkpoint (weights, optimizer, step and update counters), with
the same or another number of ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..cli import json_object, option
from .evaluation import TASKS
from .kinds import AGENT_KINDS, DEFAULT_AGENT, agent_kind


@dataclass
class TrainConfig:
    task: str = option("earshot/AudioGoal-v0", "Gymnasium id of the task", choices=TASKS)
    agent: str = option(DEFAULT_AGENT, "policy: recurrent-ppo (AV-Nav's GRU state), ppo (feed-forward), waypoint "
                        "(AV-WaN-style: a policy over a 9x9 grid of waypoints on the agent's own map, invalid ones "
                        "masked, a planner walking there; see earshot.agents.waypoint), or recurrent-waypoint (the waypoint "
                        "agent with a GRU stepping through every state it passes; DAgger only)",
                        choices=(DEFAULT_AGENT, *(k for k in AGENT_KINDS if k != DEFAULT_AGENT)))
    total_steps: int = option(500_000, "PPO env steps to train for, over all ranks, in primitive actions (the waypoint "
                                       "agent's decisions count the primitive steps they took; 0 with "
                                       "--imitation-steps: the warm start only)", low=0)
    n_envs: int = option(2, "envs per rank, stepped in turn in the rank's process, each on its own part of the train "
                            "scenes where there are enough", low=1, high=256)
    run_dir: str = option("runs/audiogoal", "run folder (an existing one is resumed)", nonempty=True)
    seed: int = option(0, "seed of the model, the envs, their episode order and the sampling (rank r: seed and r)",
                       low=0)
    device: str = option("auto", "torch device: auto (cuda:LOCAL_RANK when CUDA is there, NCCL; else the CPU, gloo), "
                                 "cpu, cuda", choices=("auto", "cpu", "cuda"))
    scenes: int = option(100, "train scenes, sharded over the ranks and their envs", low=1)
    env_kwargs: str = option("{}", "JSON object of extra env kwargs, e.g. '{\"resolution\": 64, \"sensors\": "
                                   "[\"depth\", \"spectrogram\"]}'")
    learning_rate: float = option(2.5e-4, "Adam learning rate (AV-Nav: 2.5e-4)", low=0.0)
    n_steps: int = option(150, "rollout length per env (AV-Nav: 150; fewer when a straggler is preempted)", low=2)
    n_epochs: int = option(4, "PPO epochs per rollout (AV-Nav: 4)", low=1)
    minibatches: int = option(1, "minibatches per epoch (AV-Nav: 1; recurrent: at most --n-envs, whole env "
                                 "sequences each)", low=1)
    gamma: float = option(0.99, "discount", low=0.0, high=1.0)
    gae_lambda: float = option(0.95, "GAE lambda", low=0.0, high=1.0)
    clip_range: float = option(0.1, "PPO clip (AV-Nav: 0.1)", low=0.0)
    ent_coef: float = option(0.2, "entropy bonus (AV-Nav: 0.2; keeps the policy from collapsing onto STOP)", low=0.0)
    vf_coef: float = option(0.5, "value loss weight, in PPO and in the warm start's fit of the critic; PPO continuing a "
                                 "warm start (--init) kept and raised SPL only at 0 (the critic as DAgger fit it, "
                                 "the shared encoder moved by the policy loss alone; docs/agents.md)", low=0.0)
    anchor_coef: float = option(0.0, "PPO: weight of KL(anchor || policy), the anchor being the policy PPO starts from "
                                     "(this run's warm start, else --init): PPO may improve on it but not forget it "
                                     "(0: none)", low=0.0)
    max_grad_norm: float = option(0.5, "gradient clipping (of the gradient averaged over the ranks)", low=0.0)
    stop_prior: float = option(0.0, "initial probability of STOP (0: uniform over the actions); 0.02 makes the first "
                                    "episodes ~50 steps long", low=0.0, high=0.99)
    hidden: int = option(128, "features per visual/audio encoder (AV-Nav: 512)", low=8)
    gru_hidden: int = option(256, "GRU state size (recurrent-ppo, recurrent-waypoint; AV-Nav: 512)", low=8)
    init: str = option("", "fresh runs: start from this checkpoint's policy weights (e.g. RUN/checkpoints/imitation, or "
                           "a shipped agent's name) with this run's hyper-parameters")
    segmenter: str = option("", "a learned semantic sensor for the policy (scripts/train_segmenter.py's folder): it "
                                "labels each rgb + depth frame's pixels by object category, frozen, in place of the "
                                "privileged 'semantic' sensor (the env needs the 'rgb' and 'depth' sensors; fresh runs)")
    imitation_steps: int = option(0, "warm start (fresh runs): primitive env steps, over all ranks, of DAgger from the "
                                     "shortest-path oracle (waypoint: the waypoint oracle) before PPO (see "
                                     "earshot.agents.imitation; 0: none)", low=0)
    imitation_rounds: int = option(6, "DAgger rounds of the warm start", low=1)
    imitation_beta: float = option(0.5, "DAgger: in round r the oracle acts with probability beta^r (round 0: the "
                                        "oracle only); lower hands over to the policy sooner, e.g. after --init",
                                   low=0.0, high=1.0)
    imitation_greedy: float = option(0.0, "DAgger: share of episodes in which the policy acts by its argmax instead of "
                                          "sampling, so the states an argmax policy loops in are labelled too",
                                     low=0.0, high=1.0)
    imitation_stop_penalty: float = option(0.0, "DAgger: weight of an extra loss -log(1 - p(STOP)) on the states the "
                                                "oracle does not stop in (a STOP away from the goal fails the "
                                                "episode; earshot.agents.imitation; 0: none)", low=0.0)
    imitation_goal_coef: float = option(0.0, "DAgger: weight of a goal-location loss: a head on the policy's state "
                                             "predicts where the goal (its sound source) is from the agent, taught "
                                             "on every labelled state, so the GRU keeps where a sound came from "
                                             "after it stops (SAVi's goal descriptor; flat agents; 0: none, no head)",
                                        low=0.0)
    imitation_stored_state: bool = option(False, "DAgger, recurrent agents: fit each training sequence from the GRU "
                                                 "state the policy acted with at its first state (stored while "
                                                 "collecting) instead of from zeros, so states deep in long episodes "
                                                 "are fitted with the memory they were acted on with")
    imitation_decision_weight: float = option(1.0, "DAgger, waypoint agents: weight of the states where the agent "
                                                   "decides in the actor loss, against 1 for those it walks through "
                                                   "(the waypoint head acts only at its decisions)", low=0.0)
    imitation_epochs: int = option(3, "epochs over all DAgger data after each round (the waypoint agent makes ~5x "
                                      "fewer decisions per primitive step, so it needs more to see as many batches)",
                                   low=1)
    imitation_every_primitive: bool = option(True, "waypoint agent: DAgger also labels the states it walks through "
                                                   "between decisions (~5.5x the samples at the same primitive steps)")
    eval_every: int = option(50_000, "rank 0 evaluates on the val split every this many steps (0: never)", low=0)
    eval_episodes: int = option(20, "val episodes per evaluation", low=1)
    eval_videos: bool = option(True, "each val evaluation also films one val episode: RUN/videos/val_step_N.mp4 "
                                     "and a small GIF in TensorBoard (eval/video)")
    checkpoint_every: int = option(50_000, "write a checkpoint every this many steps (and at the end)", low=1)
    keep_checkpoints: int = option(2, "step_ checkpoints kept (the newest; latest/ is a copy of the newest)", low=1)
    preempt: bool = option(False, "DD-PPO's straggler preemption: a rank stops collecting once --sync-fraction of the "
                                  "ranks have finished (faster on uneven machines; the run is then no longer the same "
                                  "for the same seed)")
    sync_fraction: float = option(0.6, "preemption: stop collecting once this fraction of the ranks has finished",
                                  low=0.0, high=1.0)
    min_rollout_share: float = option(0.25, "preemption: but not before this share of the rank's own --n-steps",
                                      low=0.0, high=1.0)
    log_every: int = option(10, "report rates and losses every this many updates (TensorBoard; printed with "
                                "--no-progress)", low=1)
    torch_threads: int = option(1, "torch threads per rank (more were up to 100x slower on 2 cores)", low=1)
    progress: bool = option(True, "a progress bar (rank 0)")

    def check(self) -> None:
        kwargs = self.kwargs
        if self.total_steps == 0 and self.imitation_steps == 0:
            raise ValueError("argument --total-steps: 0 trains nothing; give PPO steps, or --imitation-steps for the "
                             "warm start alone")
        self.kind.check_options(kwargs, self.stop_prior)
        if self.imitation_goal_coef and self.kind.macro_actions:
            raise ValueError(f"argument --imitation-goal-coef: applies to flat agents, not to --agent {self.agent}")
        if self.imitation_goal_coef and not self.imitation_steps:
            raise ValueError("argument --imitation-goal-coef: the goal-location loss is part of the warm start: give "
                             "--imitation-steps too")
        if self.imitation_decision_weight != 1.0 and not (self.kind.macro_actions and self.imitation_steps
                                                          and self.imitation_every_primitive):
            raise ValueError("argument --imitation-decision-weight: weighs a waypoint agent's decisions against the "
                             "states it walks through in its warm start: use --agent waypoint or recurrent-waypoint "
                             "with --imitation-steps (and --imitation-every-primitive), or leave it out")
        if self.imitation_decision_weight <= 0.0:
            raise ValueError("argument --imitation-decision-weight: must be > 0")
        if self.imitation_stored_state and not (self.kind.recurrent and self.imitation_steps):
            raise ValueError("argument --imitation-stored-state: applies to a recurrent agent's warm start: use "
                             "--agent recurrent-ppo or recurrent-waypoint with --imitation-steps, or leave it out")
        if self.total_steps and self.kind.recurrent and self.kind.macro_actions:
            raise ValueError(f"argument --total-steps: --agent {self.agent} trains by DAgger only (its GRU steps "
                             "between decisions, which PPO's rollouts do not): use --total-steps 0 with "
                             "--imitation-steps")
        if self.imitation_stop_penalty and self.kind.macro_actions:
            raise ValueError(f"argument --imitation-stop-penalty: applies to primitive actions (STOP is action 0), "
                             f"not to --agent {self.agent}")
        if self.segmenter:
            from .segmenter import read_segmenter_meta

            meta = read_segmenter_meta(self.segmenter)
            resolution = kwargs.get("resolution")
            if resolution is not None and resolution != meta["resolution"]:
                raise ValueError(f"argument --segmenter: it was trained on {meta['resolution']}x{meta['resolution']} "
                                 f"frames, the env renders {resolution}x{resolution}; set the env's resolution to "
                                 f"{meta['resolution']} or train a segmenter at {resolution}")
        for reserved in ("split", "scenes", "scene_shard"):
            if reserved in kwargs:
                raise ValueError(f"argument --env-kwargs: {reserved!r} is set by train.py (use --scenes)")
        from ..av_env import ENV_IDS
        from ..av_env.config import EnvConfig

        try:  # every env argument checked now (cheap: no scene is built), not in the workers later
            EnvConfig.from_kwargs(ENV_IDS[self.task], **kwargs)
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"argument --env-kwargs: {exc}") from None
        if self.kind.recurrent and self.minibatches > self.n_envs:
            raise ValueError(f"argument --minibatches: a recurrent policy's minibatches are whole env sequences: at "
                             f"most --n-envs ({self.n_envs}), got {self.minibatches}")

    @property
    def kind(self):
        """The agent kind (``earshot.agents.kinds.AgentKind``) trained."""
        return agent_kind(self.agent)

    @property
    def kwargs(self) -> dict:
        """``env_kwargs`` parsed; one clear error when it is not a JSON object."""
        return json_object("--env-kwargs", self.env_kwargs)

    def command_line(self) -> str:
        """The command that trains this config (options that differ from the defaults)."""
        import dataclasses
        import shlex

        parts = ["python scripts/train.py"]
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "progress" or value == f.default:
                continue
            if isinstance(value, bool):
                parts.append(f"--{'' if value else 'no-'}{f.name.replace('_', '-')}")
            else:
                parts.append(f"--{f.name.replace('_', '-')} {shlex.quote(str(value))}")
        return " ".join(parts)


def train(config: TrainConfig) -> dict:
    """Train (or resume) as configured on this rank (``torchrun``'s environment says which; a
    world of 1 without it); returns the checkpoint folder, the steps, their rate over all ranks
    and per rank, and the parameters' hash."""
    from .ddppo.trainer import DDPPOTrainer

    return DDPPOTrainer(config).train()


__all__ = ["TrainConfig", "train"]

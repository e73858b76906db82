"""Agent training throughput: PPO and RecurrentPPO with 1 and 2 env workers, the DAgger warm
start, and the waypoint agent (its maps and planning per primitive step, and MaskablePPO's
primitive steps/s against flat PPO's), with the share of time spent collecting rollouts."""

from __future__ import annotations

import time

from ...cli import parse_config
from .common import pinned


def _train_rate(agent: str, n_envs: int, steps: int) -> dict:
    """Training (``scripts/train.py``'s ``earshot.agents.training.train``) for ``steps``
    (primitive) env steps on AudioGoal (20 train scenes, 64² depth + spectrogram, default
    hyper-parameters) on ``n_envs`` cores; its rate and time split."""
    import tempfile

    from ..training import TrainConfig, train

    with pinned(n_envs):
        with tempfile.TemporaryDirectory() as run:
            config = parse_config(TrainConfig, "", [
                "--task", "earshot/AudioGoal-v0", "--agent", agent, "--n-envs", str(n_envs),
                "--total-steps", str(steps), "--scenes", "20", "--eval-every", "0",
                "--checkpoint-every", str(10 * steps), "--run-dir", run, "--no-progress",
                "--env-kwargs", '{"resolution": 64, "sensors": ["depth", "spectrogram"]}'])
            return train(config)


def bench_agents(cfg) -> list[dict]:
    """PPO training throughput on AudioGoal (AV-Nav extractor, 64² depth + spectrogram, train
    scenes) with 1 and 2 env workers, and the share of wall time spent collecting rollouts (env
    steps and policy forward passes) rather than in PPO updates. Uses as many cores as workers."""
    rows = []
    for agent in ("ppo", "recurrent-ppo"):
        for n_envs in (1, 2):
            r = _train_rate(agent, n_envs, cfg.agent_steps)
            rows.append(dict(section="agents", name=f"{agent} training, {n_envs} env worker{'s' if n_envs > 1 else ''}",
                             value=r["steps_per_s"], unit="steps/s", reference="(none: see the detail)",
                             reference_value=None, reference_unit="steps/s", ratio=None,
                             detail=(f"{r['steps']} steps on AudioGoal, 20 train scenes, 64² depth + spectrogram, AV-Nav "
                                     f"hyper-parameters; {r['rollout_share']:.0%} of the time collecting rollouts, "
                                     f"{1 - r['rollout_share']:.0%} in PPO updates"), raw=r | {"checkpoint": None}))
    rows.append(_imitation_rate(cfg.agent_steps))
    return rows


def _imitation_rate(steps: int) -> dict:
    """The shipped recipe's warm start (DAgger from the oracle), in one process on one core."""
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    from ... import av_env  # noqa: F401  (registers the ids)
    from ..imitation import ImitationConfig, imitate
    from ..kinds import agent_kind
    from ..ppo import make_model

    kw = {"resolution": 64, "sensors": ["depth", "spectrogram"]}
    with pinned(1):
        venv = DummyVecEnv([lambda: gym.make("earshot/AudioGoal-v0", scenes=2, **kw)])
        model = make_model("ppo", venv, {"n_steps": 64, "batch_size": 64}, {"hidden": 128})
        env = gym.make("earshot/AudioGoal-v0", split="train", scenes=20, **kw)
        t = time.perf_counter()
        out = imitate(agent_kind("ppo"), model, env, ImitationConfig(steps, rounds=2), progress=False)
        seconds = time.perf_counter() - t
        env.close()
        venv.close()
    return dict(section="agents", name="imitation warm start (DAgger from the oracle), 1 process",
                value=out["steps"] / seconds, unit="steps/s", reference="(none: see the detail)", reference_value=None,
                reference_unit="steps/s", ratio=None,
                detail=(f"{out['steps']} steps on AudioGoal, 20 train scenes, 64² depth + spectrogram, 2 rounds; "
                        f"{out['collect_seconds'] / seconds:.0%} of the time stepping the env (policy and oracle "
                        f"acting), {out['fit_seconds'] / seconds:.0%} fitting the policy"),
                raw={k: v for k, v in out.items() if k != "rounds"})


def bench_waypoint(cfg) -> list[dict]:
    """The waypoint agent's own cost per primitive step (map update from depth, planning, masks,
    map crops), on one core, with the shortest-path waypoint oracle choosing: the wrapper's time
    besides the inner env's steps (and besides the oracle). Target <= 2 ms."""
    import gymnasium as gym

    from ... import av_env  # noqa: F401  (registers the ids)
    from ..waypoint import WaypointEnv

    env = WaypointEnv(gym.make("earshot/PointGoal-v0", split="test", scenes=5, resolution=64,
                               sensors=["depth", "pointgoal_with_gps_compass"]))
    inner_step, spent = env.env.step, [0.0, 0.0]

    def timed(action):
        t = time.perf_counter()
        out = inner_step(action)
        spent[0] += time.perf_counter() - t
        return out

    env.env.step = timed
    primitives, total = 0, 0.0
    for ep in range(45):
        if ep == 5:  # the first episodes warm up imports and scenes
            primitives, total, spent[:] = 0, 0.0, [0.0, 0.0]
        env.reset(options={"episode_index": ep})
        t0 = time.perf_counter()
        while True:
            t = time.perf_counter()
            action = env.oracle_action()
            spent[1] += time.perf_counter() - t
            _, _, terminated, truncated, info = env.step(action)
            primitives += info["primitive_steps"]
            if terminated or truncated:
                break
        total += time.perf_counter() - t0
    env.close()
    wrapper_ms = (total - spent[0] - spent[1]) / primitives * 1e3
    inner_ms = spent[0] / primitives * 1e3
    # training: MaskablePPO over waypoints against flat PPO, in primitive steps/s, one worker on one core
    flat = _train_rate("ppo", 1, cfg.agent_steps)
    wayp = _train_rate("waypoint", 1, cfg.agent_steps)
    train_row = dict(section="waypoint", name="waypoint agent training (MaskablePPO), 1 env worker", value=wayp["steps_per_s"],
                     unit="primitive steps/s", reference="flat PPO training, same settings", reference_value=flat["steps_per_s"],
                     reference_unit="steps/s", ratio=wayp["steps_per_s"] / flat["steps_per_s"],
                     detail=(f"{wayp['steps']} primitive steps on AudioGoal, 20 train scenes, 64² depth + spectrogram, "
                             f"default hyper-parameters (150 decisions per rollout); {wayp['rollout_share']:.0%} of the "
                             f"time collecting rollouts (flat: {flat['rollout_share']:.0%}); target ratio >= 0.5"),
                     raw={"waypoint": wayp | {"checkpoint": None}, "flat": flat | {"checkpoint": None}})
    return [train_row, dict(section="waypoint", name="waypoint maps + planning per primitive step", value=wrapper_ms, unit="ms",
                 reference="the inner env's own step (PointGoal, 64² GL depth)", reference_value=inner_ms,
                 reference_unit="ms", ratio=wrapper_ms / inner_ms,
                 detail=(f"{primitives} primitive steps of 40 test episodes, oracle waypoints; the oracle itself "
                         f"{spent[1] / primitives * 1e3:.2f} ms per primitive step; target <= 2 ms"),
                 raw={"primitive_steps": primitives, "wrapper_ms": wrapper_ms, "inner_ms": inner_ms})]


__all__ = ["bench_agents", "bench_waypoint"]

"""Fingerprints of what earshot computes, to prove a refactor changed no behaviour (the library
of ``scripts/fingerprint.py``, which says how to use it).

Each entry is a SHA-256 over the exact bytes of what a user gets, through public entry points
only (``gym.make`` with flat keyword arguments, ``compute_rirs``, the CLIs of a source checkout):

- env rollouts of every task (grid; AudioGoal also continuous, waveform, echoes, an RIR cache
  cold then warm, and a waypoint-wrapped env): every observation array, reward, flag and info
  value of 3 episodes per seed, actions from the oracle mixed with seeded random ones;
- RIRs: the binaural RIRs of a few source–receiver pairs at several headings, for each tail model;
- dataset shards of ``scripts/generate_dataset.py`` (binaural and echo): the shard bytes;
- evaluation summaries of ``scripts/evaluate.py`` (the shipped agent, sampled and argmax, and the
  oracle baseline): ``summary.json`` and ``episodes.csv``;
- a tiny training run of ``scripts/train.py`` per agent kind: the saved weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# the source checkout whose scripts/ the CLI entries run (earshot/agents -> the repository root)
ROOT = Path(__file__).resolve().parent.parent


class Hasher:
    def __init__(self):
        self.h = hashlib.sha256()

    def add(self, value) -> None:
        if isinstance(value, dict):
            for k in sorted(value):
                self.add(str(k))
                self.add(value[k])
        elif isinstance(value, (list, tuple)):
            self.add(f"seq{len(value)}")
            for v in value:
                self.add(v)
        elif isinstance(value, np.ndarray):
            a = np.ascontiguousarray(value)
            self.h.update(f"{a.dtype.str}{a.shape}".encode())
            self.h.update(a.tobytes())
        elif isinstance(value, (bool, np.bool_)):
            self.h.update(b"T" if value else b"F")
        elif isinstance(value, (int, np.integer)):
            self.h.update(f"i{int(value)}".encode())
        elif isinstance(value, (float, np.floating)):
            self.h.update(np.float64(value).tobytes())
        elif value is None:
            self.h.update(b"None")
        else:
            self.h.update(str(value).encode())

    def hexdigest(self) -> str:
        return self.h.hexdigest()


def rollout(env_id: str, kwargs: dict, seeds=(0, 1), episodes: int = 3, max_steps: int = 40, wrap=None) -> str:
    import gymnasium as gym

    import earshot.av_env  # noqa: F401

    env = gym.make(env_id, **kwargs)
    if wrap is not None:
        env = wrap(env)
    h = Hasher()
    try:
        for seed in seeds:
            rng = np.random.default_rng(seed)
            obs, info = env.reset(seed=seed)
            h.add(obs)
            h.add(info)
            done_eps, steps = 0, 0
            while done_eps < episodes:
                if wrap is not None:
                    masks = env.action_masks()
                    allowed = np.flatnonzero(masks)
                    action = int(env.oracle_action()) if rng.random() < 0.7 else int(allowed[rng.integers(len(allowed))])
                else:
                    action = int(env.unwrapped.oracle_action()) if rng.random() < 0.7 else int(rng.integers(4))
                obs, reward, terminated, truncated, info = env.step(action)
                steps += 1
                h.add([action, obs, reward, terminated, truncated, info])
                if terminated or truncated or steps >= max_steps:
                    done_eps += 1
                    steps = 0
                    obs, info = env.reset()
                    h.add(obs)
                    h.add(info)
    finally:
        env.close()
    return h.hexdigest()


def rirs() -> dict[str, str]:
    from earshot.acoustics import AudioConfig, compute_rirs
    from earshot.scenes import NavGraph, generate_apartment, split_seeds

    out = {}
    scene = generate_apartment(split_seeds("val")[3])
    graph = NavGraph.build(scene, spacing=0.5, agent_radius=0.2)
    rng = np.random.default_rng(0)
    nodes = rng.choice(len(graph), 6, replace=False)
    src = graph.positions[nodes[0]] + [0, 0, 1.5]
    rec = graph.positions[nodes[1:]] + [0, 0, 1.2]
    for tail in ("traced", "parametric"):
        cfg = AudioConfig(tail=tail)
        h = Hasher()
        for rir in compute_rirs(scene, src, rec, cfg):
            for heading in (0.0, np.pi / 4, 1.0, -2.5):
                h.add(rir.binaural(heading))
        out[f"rir/{tail}"] = h.hexdigest()
    return out


def run_cli(args: list[str], cwd: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def hash_files(folder: Path, pattern: str) -> str:
    h = Hasher()
    files = sorted(folder.rglob(pattern))
    if not files:
        raise RuntimeError(f"no {pattern} under {folder}")
    for f in files:
        h.add(str(f.relative_to(folder)))
        h.add(np.frombuffer(f.read_bytes(), np.uint8))
    return h.hexdigest()


def summary_hash(path: Path) -> str:
    """summary.json without its timing fields (wall time differs run to run)."""
    data = json.loads(path.read_text())
    for k in [k for k in data if "time" in k or "seconds" in k]:
        del data[k]
    h = Hasher()
    h.add(json.dumps(data, sort_keys=True))
    return h.hexdigest()


def clis(tmp: Path) -> dict[str, str]:
    out = {}
    scripts = ROOT / "scripts"
    if not (scripts / "train.py").is_file():
        raise RuntimeError(f"the CLI entries run the scripts of a source checkout, and {scripts} has none: "
                           "run from a clone (pip install -e .), or use --quick")
    d = tmp / "ds"
    run_cli([str(scripts / "generate_dataset.py"), "--split", "test", "--scenes", "2", "--samples", "40",
             "--shard-size", "20", "--receivers-per-source", "10", "--out", str(d), "--quiet"], tmp)
    out["dataset/binaural"] = hash_files(d, "*.tar")
    d = tmp / "ds_echo"
    run_cli([str(scripts / "generate_dataset.py"), "--kind", "echo", "--split", "test", "--scenes", "2", "--samples", "12",
             "--shard-size", "6", "--resolution", "32", "--out", str(d), "--quiet"], tmp)
    out["dataset/echo"] = hash_files(d, "*.tar")
    for name, extra in (("agent_sampled", []), ("agent_argmax", ["--deterministic"])):
        e = tmp / name
        run_cli([str(scripts / "evaluate.py"), "--checkpoint", "audiogoal", "--episodes", "4", "--out", str(e),
                 "--no-progress", *extra], tmp)
        out[f"evaluate/{name}/summary"] = summary_hash(e / "summary.json")
        out[f"evaluate/{name}/episodes"] = hash_files(e, "episodes.csv")
    e = tmp / "oracle"
    run_cli([str(scripts / "evaluate.py"), "--baseline", "oracle", "--episodes", "4", "--out", str(e), "--no-progress"], tmp)
    out["evaluate/oracle/summary"] = summary_hash(e / "summary.json")
    small = json.dumps({"resolution": 40, "sensors": ["depth", "spectrogram"]})
    for agent, extra in (("ppo", ["--imitation-steps", "96", "--imitation-rounds", "2"]), ("recurrent-ppo", []),
                         ("waypoint", ["--imitation-steps", "64", "--imitation-rounds", "2"])):
        r = tmp / f"run_{agent}"
        run_cli([str(scripts / "train.py"), "--agent", agent, "--total-steps", "64", "--n-envs", "1", "--n-steps", "32",
                 "--scenes", "2", "--eval-every", "0", "--hidden", "16", "--gru-hidden", "16", "--env-kwargs", small,
                 "--run-dir", str(r), "--device", "cpu", *extra], tmp)
        out[f"train/{agent}/weights"] = hash_files(r / "checkpoints" / "latest", "policy.pt")
    return out


def fingerprint(quick: bool = False) -> dict[str, str]:
    out: dict[str, str] = {}
    small = {"scenes": 2, "resolution": 32}
    for env_id in ("earshot/PointGoal-v0", "earshot/AudioGoal-v0", "earshot/AudioPointGoal-v0",
                   "earshot/SemanticAudioGoal-v0", "earshot/MovingSource-v0", "earshot/EchoDepth-v0"):
        out[f"env/{env_id}"] = rollout(env_id, dict(small))
    ag = "earshot/AudioGoal-v0"
    out["env/audiogoal/continuous"] = rollout(ag, {**small, "motion": "continuous"})
    out["env/audiogoal/waveform"] = rollout(ag, {**small, "audio": "waveform", "split": "val"})
    out["env/audiogoal/echoes"] = rollout(ag, {**small, "echoes": True, "sounds": "unheard"})
    out["env/audiogoal/sensors"] = rollout(ag, {**small, "sensors": ["spectrogram", "depth"], "scene_shard": (1, 2)})
    out["env/moving/options"] = rollout("earshot/MovingSource-v0", {**small, "p_move": 0.7, "num_distractors": 1,
                                                                    "failed_stop_reward": -1.0})
    with tempfile.TemporaryDirectory() as tmp:
        cache = {**small, "rir_cache": str(Path(tmp) / "rirs"), "scene_cache": str(Path(tmp) / "scenes")}
        out["env/audiogoal/cache_cold"] = rollout(ag, cache)
        out["env/audiogoal/cache_warm"] = rollout(ag, cache)

    def waypoint(env):
        from earshot.agents.waypoint import WaypointEnv

        return WaypointEnv(env)

    out["env/audiogoal/waypoint"] = rollout(ag, {**small, "sensors": ["depth", "spectrogram"]}, episodes=2,
                                            max_steps=12, wrap=waypoint)
    out.update(rirs())
    if not quick:
        with tempfile.TemporaryDirectory() as tmp:
            out.update(clis(Path(tmp)))
    return out


def compare(before: dict, after: dict) -> list[str]:
    """One line per entry (same / DIFFERENT / missing) and a count."""
    lines, bad = [], 0
    for k in sorted(set(before) | set(after)):
        state = "same" if before.get(k) == after.get(k) else ("missing" if k not in before or k not in after else "DIFFERENT")
        bad += state != "same"
        lines.append(f"{state:9s} {k}")
    lines.append(f"{len(set(before) | set(after)) - bad} same, {bad} different or missing")
    return lines

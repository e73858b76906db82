"""Checkpoints of every agent kind, in one safe format, and the shipped agents.

A checkpoint is a folder:

- ``meta.json``: the format, the agent kind, task and env kwargs, the policy's settings
  (``policy``: ``hidden``, ``gru_hidden``, and ``goal_head`` and ``skip``: true where set), env steps and updates so far, the world size that
  wrote it, the warm start it had, the training command and options, and the observation keys,
  shapes and actions the policy was built for;
- ``policy.pt``: the ``ActorCritic``'s ``state_dict`` (tensors only), read with
  ``torch.load(weights_only=True)``;
- ``optimizer.pt``: the optimizer's ``state_dict``, for resuming (shipped agents have none).

Nothing is unpickled. A folder is written under a temporary name and renamed into place
(``earshot.files.write_dir_atomic``), so a killed run leaves whole checkpoints or none.

A training run keeps ``RUN/checkpoints/step_NNNNNNNNNN/`` (the newest few), ``latest/`` (a copy
of the newest) and, after a warm start, ``imitation/``; it resumes from the newest readable
``step_`` folder with any world size. Shipped agents (``agents/pretrained/NAME/``) are
checkpoints too; wherever a checkpoint path is taken, a shipped agent's name (``audiogoal``)
works as well.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from ..files import write_dir_atomic
from .weights import load_tensors  # noqa: F401  (part of this module's interface)

# 3: DD-PPO's ActorCritic (extractor, optional GRU, action and value heads); 2 was an SB3 policy
FORMAT = "earshot-checkpoint-3"
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


def save_checkpoint(directory: str | Path, policy, optimizer, meta: dict) -> Path:
    """Write ``policy`` (an ``ActorCritic``) and ``optimizer`` (None: none) with ``meta`` (JSON
    values) as a checkpoint folder."""
    import torch

    info = {**meta, "format": FORMAT, "policy": policy_settings(policy),
            "observation": {k: [list(s.shape), str(s.dtype)] for k, s in policy.env_space.spaces.items()},
            "actions": int(policy.n_actions)}

    def fill(tmp: Path) -> None:
        torch.save({k: v.detach().cpu() for k, v in policy.state_dict().items()}, tmp / "policy.pt")
        if optimizer is not None:
            torch.save(_to_cpu(optimizer.state_dict()), tmp / "optimizer.pt")
        (tmp / "meta.json").write_text(json.dumps(info, indent=2, sort_keys=True))

    return write_dir_atomic(Path(directory), fill)


def policy_settings(policy) -> dict:
    """The settings an ``ActorCritic`` is rebuilt from (``policy`` in meta.json): ``hidden``,
    ``gru_hidden`` and, only where set, ``goal_head``, ``skip`` and ``segmenter`` (its width)."""
    out = {"hidden": policy.hidden, "gru_hidden": policy.gru_hidden}
    if getattr(policy, "goal_head", None) is not None:
        out["goal_head"] = True
    if getattr(policy, "skip", False):
        out["skip"] = True
    if getattr(policy, "segmenter_width", 0):
        out["segmenter"] = int(policy.segmenter_width)
    return out


def has_goal_head(meta: dict) -> bool:
    """Whether the policy of a checkpoint's ``meta`` has a goal head (``policy.goal_head``)."""
    return bool(meta.get("policy", {}).get("goal_head", False))


def step_dirs(run_dir: str | Path) -> list[Path]:
    """A run's ``step_`` checkpoint folders with a ``meta.json``, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("step_*") if p.is_dir() and (p / "meta.json").is_file())


def save_run_checkpoint(run_dir: str | Path, policy, optimizer, meta: dict, keep: int = 2) -> Path:
    """``RUN/checkpoints/step_N/`` (N: ``meta['steps']``) and its copy ``latest/``; ``step_``
    folders beyond the newest ``keep`` are removed. Returns ``latest``."""
    root = Path(run_dir) / "checkpoints"
    save_checkpoint(root / f"step_{int(meta['steps']):010d}", policy, optimizer, meta)
    latest = save_checkpoint(root / "latest", policy, optimizer, meta)
    for old in step_dirs(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return latest


def pretrained_agents() -> list[str]:
    """Names of the agents shipped with earshot (folders of ``agents/pretrained``)."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "meta.json").is_file())


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from what a user may pass: the folder itself, a file in it
    (``policy.pt``, ``meta.json``), a run folder (its ``checkpoints/latest``), or the name of a
    shipped agent."""
    import os

    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"checkpoint must be a checkpoint folder, a run folder, a file in one (policy.pt, meta.json) "
                         f"or a shipped agent's name ({', '.join(pretrained_agents()) or 'none'}), got {path!r}")
    p = Path(path)
    if p.is_file() and p.name in ("policy.pt", "meta.json", "optimizer.pt"):
        return p.parent
    if p.is_dir() and not (p / "meta.json").is_file() and (p / "checkpoints" / "latest" / "meta.json").is_file():
        return p / "checkpoints" / "latest"
    if p.is_dir() or str(path) not in pretrained_agents():
        return p
    return PRETRAINED_DIR / str(path)


def read_meta(path: str | Path) -> dict:
    """A checkpoint's ``meta.json``; one clear error for a folder that is not a checkpoint, a
    corrupt file or another format."""
    path = resolve_checkpoint(path)
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        shipped = ", ".join(pretrained_agents()) or "none"
        raise FileNotFoundError(f"{str(path)!r} is not an earshot checkpoint (no meta.json); pass a folder written "
                                "by scripts/train.py (RUN_DIR, RUN_DIR/checkpoints/latest or best, or its policy.pt), "
                                f"or a shipped agent's name ({shipped})")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{str(meta_path)!r} is corrupt ({exc}); use another checkpoint of the run") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{str(meta_path)!r} has format {found!r}, expected {FORMAT!r} (checkpoints of older "
                         "earshot versions were trained on other inputs or another policy: retrain with "
                         "scripts/train.py)")
    problem = meta_problem(meta)
    if problem is not None:
        raise ValueError(f"{str(meta_path)!r} is malformed: {problem}; use another checkpoint of the run (or the file "
                         "as scripts/train.py wrote it)")
    return meta


# budgets of a policy's shape: far above any earshot agent (4 actions, hidden 128-512, 128x128
# images), far below what would exhaust memory when the policy is built
MAX_ACTIONS = 1024
MAX_HIDDEN = 16_384
MAX_OBSERVATION_VALUES = 10_000_000


def _is_dtype(text: str) -> bool:
    import numpy as np

    try:
        np.dtype(text)
    except TypeError:
        return False
    return True


def _is_int(x, low: int = 0) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= low


def meta_problem(meta: dict) -> str | None:
    """What is wrong with the fields of a checkpoint's ``meta.json`` that loading and evaluating
    read (their types and ranges), or None."""
    from .kinds import AGENT_KINDS

    from ..av_env import ENV_IDS
    from ..av_env.config import FLAT_KWARGS

    if not isinstance(meta.get("task"), str) or meta["task"] not in ENV_IDS:
        return f"'task' must be an earshot env id ({', '.join(ENV_IDS)}), got {meta.get('task')!r}"
    if meta.get("agent") not in AGENT_KINDS:
        return f"'agent' must be one of {sorted(AGENT_KINDS)}, got {meta.get('agent')!r}"
    if not _is_int(meta.get("actions"), 1) or meta["actions"] > MAX_ACTIONS:
        return f"'actions' must be an integer between 1 and {MAX_ACTIONS}, got {meta.get('actions')!r}"
    if not _is_int(meta.get("steps"), 0):
        return f"'steps' must be an integer >= 0, got {meta.get('steps')!r}"
    obs = meta.get("observation")
    if not isinstance(obs, dict) or not obs:
        return f"'observation' must map observation keys to [shape, dtype], got {obs!r}"
    for key, spec in obs.items():
        if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], list)
                and all(_is_int(n, 0) for n in spec[0]) and isinstance(spec[1], str)):
            return f"'observation'[{key!r}] must be [shape (a list of integers), dtype], got {spec!r}"
        if not _is_dtype(spec[1]):
            return f"'observation'[{key!r}] has dtype {spec[1]!r}, which is not a numpy dtype"
        if math.prod(spec[0]) > MAX_OBSERVATION_VALUES:
            return (f"'observation'[{key!r}] has shape {spec[0]}: {math.prod(spec[0])} values, more than "
                    f"{MAX_OBSERVATION_VALUES} (an observation of any earshot env is far smaller)")
    policy = meta.get("policy")
    if (not isinstance(policy, dict) or not _is_int(policy.get("hidden"), 1) or not _is_int(policy.get("gru_hidden", 0), 0)
            or policy["hidden"] > MAX_HIDDEN or policy.get("gru_hidden", 0) > MAX_HIDDEN):
        return f"'policy' must hold integer 'hidden' (1 to {MAX_HIDDEN}) and 'gru_hidden' (0 to {MAX_HIDDEN}), got {policy!r}"
    for flag in ("goal_head", "skip"):
        if not isinstance(policy.get(flag, False), bool):
            return f"'policy'['{flag}'] must be true or false, got {policy[flag]!r}"
    if not _is_int(policy.get("segmenter", 0), 0) or policy.get("segmenter", 0) > 256:
        return f"'policy'['segmenter'] must be a segmenter's width (an integer, 0 to 256), got {policy.get('segmenter')!r}"
    if policy.get("skip", False) and not policy.get("gru_hidden", 0):
        return "'policy'['skip'] needs a GRU ('gru_hidden' > 0)"
    if not isinstance(meta.get("env_kwargs", {}), dict):
        return f"'env_kwargs' must be an object of env arguments, got {meta.get('env_kwargs')!r}"
    unknown = sorted(set(meta.get("env_kwargs", {})) - set(FLAT_KWARGS))
    if unknown:
        return f"'env_kwargs' has unknown env arguments {unknown}; the env takes {sorted(FLAT_KWARGS)}"
    for name in ("simulator", "imitation"):
        if meta.get(name) is not None and not isinstance(meta[name], dict):
            return f"{name!r} must be an object or absent, got {meta[name]!r}"
    imitation = meta.get("imitation")
    if isinstance(imitation, dict) and not _is_int(imitation.get("steps"), 0):
        return f"'imitation' must hold an integer 'steps' >= 0, got {imitation.get('steps')!r}"
    return None


def load_latest(run_dir: str | Path):
    """(meta, policy state, optimizer state, path) of a run's newest readable ``step_`` folder,
    or None; unreadable ones are reported and skipped."""
    for path in reversed(step_dirs(run_dir)):
        try:
            meta = read_meta(path)
            policy = load_tensors(path / "policy.pt")
            optimizer = load_tensors(path / "optimizer.pt")
        except (ValueError, OSError) as exc:
            print(f"skipping unreadable checkpoint {path} ({type(exc).__name__}: {exc})", flush=True)
            continue
        return meta, policy, optimizer, path
    return None


def check_compatible(meta: dict, observation_space, n_actions: int) -> None:
    """Raise ValueError when a checkpoint was made for other observations or actions."""
    want = {k: tuple(v[0]) for k, v in meta["observation"].items()}
    have = {k: tuple(s.shape) for k, s in observation_space.spaces.items()}
    if want != have or int(meta["actions"]) != int(n_actions):
        raise ValueError(f"the checkpoint was trained on observations {want} with {meta['actions']} actions, but the env "
                         f"gives {have} with {n_actions}; make the env with the checkpoint's env_kwargs "
                         f"({meta.get('env_kwargs')})")


def make_policy(meta: dict, observation_space, n_actions: int):
    """A fresh ``ActorCritic`` shaped as the checkpoint's (its observations checked first)."""
    from .ddppo.policy import ActorCritic

    check_compatible(meta, observation_space, n_actions)
    settings = meta["policy"]
    return ActorCritic(observation_space, int(n_actions), int(settings["hidden"]), int(settings["gru_hidden"]),
                       goal_head=has_goal_head(meta), skip=bool(settings.get("skip", False)),
                       segmenter=int(settings.get("segmenter", 0)))


def load_policy(path: str | Path, observation_space, action_space, device: str = "cpu"):
    """(policy, meta): the ``ActorCritic`` of a checkpoint (or shipped agent), for acting."""
    meta = read_meta(path)
    policy = make_policy(meta, observation_space, int(action_space.n))
    load_weights(policy, path)
    policy.to(device).eval()
    return policy, meta


def load_weights(policy, path: str | Path) -> None:
    """Load a checkpoint's ``policy.pt`` into ``policy`` (shaped as its meta.json says); one clear
    error when the weights do not fit."""
    file = resolve_checkpoint(path) / "policy.pt"
    state = load_tensors(file)
    if not isinstance(state, dict):
        raise ValueError(f"{str(file)!r} holds a {type(state).__name__}, not a state dict of named tensors; use another "
                         "checkpoint of the run")
    try:
        policy.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())  # torch's report spans lines: one sentence
        raise ValueError(f"{str(path)!r}: its weights do not fit the policy its meta.json describes ({detail})") from exc


def load_init_weights(policy, path: str | Path, meta: dict) -> list[str]:
    """Start ``policy`` from a checkpoint's weights (``--init``): the observation keys the
    policy has and the checkpoint had not (an opt-in sensor such as ``last_action``), which start
    with zero weight into the layers reading the extractor's features (the GRU, and with ``skip``
    the heads beside it), so that the policy acts exactly as the
    checkpoint's until training teaches it to use them. A goal head (``goal_head``, an auxiliary
    head acting never reads) that only one of them has starts fresh or is left out. A policy with
    a segmenter (``segmenter``) starts from a checkpoint that observed the ``semantic`` sensor
    with that sensor's encoder reading the segmenter's labels instead (the segmenter's own
    weights are not the checkpoint's to give). Every other key must match in shape; one clear
    error otherwise."""
    import numpy as np
    import torch

    want = {k: tuple(v[0]) for k, v in meta["observation"].items()}
    have = {k: tuple(s.shape) for k, s in policy.env_space.spaces.items()}
    if getattr(policy, "segmenter_width", 0):  # its segmenter makes what the semantic sensor would give
        have["semantic"] = (*have["rgb"][:2], 1)
    if meta.get("policy", {}).get("segmenter") and "rgb" in want:  # and the checkpoint's made it too
        want["semantic"] = (*want["rgb"][:2], 1)
    added = sorted(set(have) - set(want))
    if not added or any(have.get(k) != shape for k, shape in want.items()) or int(meta["actions"]) != policy.n_actions:
        check_compatible(meta, policy.env_space, policy.n_actions)  # the same keys: they must match, or its error
        if has_goal_head(meta) == (policy.goal_head is not None):
            load_weights(policy, path)
            return []
        added = []  # only the goal head differs: loaded below, key by key
    state = load_tensors(resolve_checkpoint(path) / "policy.pt")
    state = {k: v for k, v in state.items() if policy.goal_head is not None or not k.startswith("goal_head.")}
    sizes = policy.extractor.feature_sizes
    edges = np.cumsum([0] + list(sizes.values()))
    features = int(edges[-1])  # the extractor's output width
    kept = np.concatenate([np.arange(edges[i], edges[i + 1]) for i, k in enumerate(sizes) if k not in added])
    own = policy.state_dict()
    new_prefixes = tuple(f"extractor.encoders.{k}." for k in added) + ("goal_head.", "extractor.segmenter.")
    unknown = sorted(set(state) - set(own))
    missing = sorted(n for n in set(own) - set(state) if not n.startswith(new_prefixes))
    if unknown or missing:
        raise ValueError(f"{str(path)!r}: its weights do not fit this policy (unexpected {unknown}, missing {missing})")
    for name, value in state.items():
        target = own[name]
        if value.shape == target.shape:
            target.copy_(value)
        elif (value.ndim == 2 and target.ndim == 2 and target.shape[0] == value.shape[0]
              and target.shape[1] >= features and target.shape[1] - value.shape[1] == features - len(kept)):
            # a layer reading the features (the GRU's input; with ``skip``, the heads, which read the
            # GRU's output first, then the features): the new keys' columns stay zero
            lead = target.shape[1] - features
            target.zero_()
            target[:, torch.as_tensor(np.concatenate([np.arange(lead), lead + kept]))] = value
        else:
            raise ValueError(f"{str(path)!r}: {name} has shape {tuple(value.shape)}, this policy's "
                             f"{tuple(target.shape)}: the checkpoint was made with another policy size")
    return added


def simulator_record(env) -> dict | None:
    """What a checkpoint records of the simulator it was trained in (JSON values): earshot's
    version, the audio settings (acoustics, head, features), the echo settings, the sensors, the
    motion and the task's parameters (``task``: e.g. moving_source's ``distractor_mode``) of
    ``env`` (its innermost earshot env); None for an env that is not earshot's."""
    import dataclasses

    from .. import __version__
    from ..av_env.env import AVNavEnv

    u = env.unwrapped
    if not isinstance(u, AVNavEnv):
        return None
    record = {"earshot": __version__, "audio": dataclasses.asdict(u.cfg),
              "echo": dataclasses.asdict(u.sim.echo_config) if u.echoes else None,
              "sensors": dataclasses.asdict(u.config.sensors), "motion": dataclasses.asdict(u.config.motion),
              "task": {k: getattr(u.task_obj, k) for k in sorted(u.task_obj.defaults())}}
    return json.loads(json.dumps(record, default=str))


def imitation_steps_of(meta: dict) -> int:
    """Every DAgger step behind a checkpoint: its own warm start's and those of the checkpoints it
    was initialised from (``init.imitation_steps``)."""
    own = (meta.get("imitation") or {}).get("steps", 0)
    return int(own) + int((meta.get("init") or {}).get("imitation_steps", 0) or 0)


def ppo_steps_of(meta: dict) -> int:
    """Every PPO step behind a checkpoint: its own and those of the checkpoints it was initialised
    from (``init.ppo_steps``; a checkpoint written before that key records only its source's own,
    ``init.steps``)."""
    init = meta.get("init") or {}
    return int(meta.get("steps", 0)) + int(init.get("ppo_steps", init.get("steps", 0)) or 0)


def simulator_differences(meta: dict, env) -> list[str]:
    """How the simulator of ``env`` differs from the one a checkpoint was trained in, one line
    per differing setting (empty: the same; one line when the checkpoint records none)."""
    trained = meta.get("simulator")
    if not trained:
        return ["the checkpoint does not record the simulator it was trained in (it predates the record): its "
                "acoustics may differ from today's defaults"]
    now = simulator_record(env)
    if isinstance(trained.get("task"), dict):
        # a task parameter added after the checkpoint was written: it trained under its default, or
        # under the behaviour before it where the parameter's default changed the task
        trained = {**trained, "task": {**env.unwrapped.task_obj.unrecorded(), **trained["task"]}}
    out = []
    # the task's parameters are compared when recorded (checkpoints before 2026-12-06 lack them)
    for part in ("earshot", "audio", "echo", "sensors", "motion") + (("task",) if "task" in trained else ()):
        a, b = trained.get(part), now.get(part)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{part}.{k}: trained with {a.get(k)!r}, now {b.get(k)!r}" for k in sorted(set(a) | set(b))
                    if a.get(k) != b.get(k)]
        elif a != b:
            out.append(f"{part}: trained with {a!r}, now {b!r}")
    return out


def _to_cpu(value):
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


__all__ = ["FORMAT", "PRETRAINED_DIR", "check_compatible", "simulator_differences", "simulator_record", "load_latest", "load_policy", "load_tensors", "load_weights",
           "imitation_steps_of", "make_policy", "ppo_steps_of", "pretrained_agents", "read_meta", "resolve_checkpoint", "save_checkpoint",
           "save_run_checkpoint", "step_dirs"]

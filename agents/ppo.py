"""Models of every agent kind (``earshot.agents.kinds``: PPO on stable-baselines3, RecurrentPPO
and MaskablePPO on sb3-contrib) and their checkpoints in a safe format.

A checkpoint is a folder:

- ``meta.json``: the agent, task, env kwargs, hyper-parameters, extractor settings, step count
  and the observation keys and shapes the policy was built for;
- ``policy.pt``: the policy's ``state_dict`` (tensors only), read with ``torch.load(weights_only=True)``;
- ``optimizer.pt``: the optimizer's ``state_dict``, for resuming.

Nothing is unpickled: SB3's own ``.zip`` format stores cloudpickled objects (schedules, spaces)
and is not used. The folder is written under a temporary name and renamed into place
(``earshot.files.write_dir_atomic``).

Shipped agents (``agents/pretrained/NAME/``, without ``optimizer.pt``) are checkpoints too;
wherever a checkpoint path is taken, a shipped agent's name (``audiogoal``) works as well.
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym

from ..files import write_dir_atomic
from .kinds import agent_kind

# 2: the extractor log-compresses spectrograms (a format-1 policy was trained without it)
FORMAT = "earshot-checkpoint-2"
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


def make_model(agent: str, env, hyperparameters: dict, extractor: dict, *, seed: int = 0, device: str = "auto",
               tensorboard_log: str | None = None, stop_prior: float | None = None):
    """A new model of the agent kind ``agent`` (``earshot.agents.kinds``: PPO, RecurrentPPO or
    MaskablePPO) on ``env`` (an SB3 VecEnv) with the AV-Nav extractor.

    ``stop_prior``: the initial probability of STOP (action 0), the other actions equally
    likely, set through the bias of the action head (SB3 initialises its weights near zero, so
    the bias alone sets the first policy). A uniform policy stops after 4 steps on average, too
    soon to learn anything from the progress reward; 0.02 makes first episodes ~50 steps long.
    None keeps the uniform start."""
    kind = agent_kind(agent)
    cls, policy = kind.algorithm()
    model = cls(policy, env, seed=seed, device=device, verbose=0, tensorboard_log=tensorboard_log,
                policy_kwargs=kind.policy_kwargs(extractor), **hyperparameters)
    if stop_prior is not None:
        kind.set_stop_prior(model, stop_prior)
    return model


def _policy_space(space: gym.spaces.Dict) -> gym.spaces.Dict:
    """The observation space as SB3's policy sees it (uint8 images channels-first)."""
    from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first
    from stable_baselines3.common.vec_env import VecTransposeImage

    spaces = {}
    for key, sub in space.spaces.items():
        if is_image_space(sub) and not is_image_space_channels_first(sub):
            sub = VecTransposeImage.transpose_space(sub, key)
        spaces[key] = sub
    return gym.spaces.Dict(spaces)


def save_checkpoint(model, directory: str | Path, meta: dict) -> Path:
    """Write ``model`` (PPO or RecurrentPPO) as a checkpoint folder; ``meta`` holds agent, task,
    env_kwargs, hyperparameters and extractor (JSON values)."""
    import torch

    space = model.observation_space
    info = {**meta, "format": FORMAT, "num_timesteps": int(model.num_timesteps),
            # env steps of the primitive actions (the waypoint agent's macro steps are up to 10 each)
            "primitive_steps": int(primitive_steps(model)),
            "observation": {k: [list(s.shape), str(s.dtype)] for k, s in space.spaces.items()},
            "actions": int(model.action_space.n)}

    def fill(tmp: Path):
        torch.save(model.policy.state_dict(), tmp / "policy.pt")
        torch.save(model.policy.optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / "meta.json").write_text(json.dumps(info, indent=2, sort_keys=True))

    return write_dir_atomic(Path(directory), fill)


def pretrained_agents() -> list[str]:
    """Names of the agents shipped with earshot (folders of ``agents/pretrained``)."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "meta.json").is_file())


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder: ``path`` itself, or the shipped agent of that name."""
    p = Path(path)
    if p.is_dir() or str(path) not in pretrained_agents():
        return p
    return PRETRAINED_DIR / str(path)


def read_meta(path: str | Path) -> dict:
    path = resolve_checkpoint(path)
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        shipped = ", ".join(pretrained_agents()) or "none"
        raise FileNotFoundError(f"{str(path)!r} is not an earshot checkpoint (no meta.json); pass a folder written "
                                "by scripts/train.py, e.g. RUN_DIR/checkpoints/latest, or a shipped agent's name "
                                f"({shipped})")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(meta_path)!r} is corrupt ({exc}); use another checkpoint of the run") from exc
    if meta.get("format") != FORMAT:
        raise ValueError(f"{str(meta_path)!r} has format {meta.get('format')!r}, expected {FORMAT!r} (older "
                         "checkpoints were trained on other inputs: retrain with scripts/train.py)")
    return meta


def _load_tensors(path: Path, device) -> dict:
    import torch

    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {str(path)!r} is missing")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # truncated or tampered: weights_only refuses anything but tensors
        raise ValueError(f"{str(path)!r} could not be read as weights ({type(exc).__name__}: {exc}); "
                         "use another checkpoint of the run") from exc


def load_policy(path: str | Path, observation_space: gym.spaces.Dict, action_space, device: str = "cpu"):
    """(policy, meta): the SB3 policy of a checkpoint, for acting (``policy.predict``)."""
    import torch

    meta = read_meta(path)
    _check_spaces(meta, observation_space, action_space)
    kind = agent_kind(meta["agent"])
    cls, alias = kind.algorithm()
    policy_cls = cls.policy_aliases[alias]
    lr = float(meta["hyperparameters"]["learning_rate"])
    policy = policy_cls(_policy_space(observation_space), action_space, lambda _: lr,
                        **kind.policy_kwargs(meta["extractor"]))
    policy.load_state_dict(_load_tensors(resolve_checkpoint(path) / "policy.pt", torch.device(device)))
    policy.to(device)
    policy.set_training_mode(False)
    return policy, meta


def resume_model(path: str | Path, env, *, device: str = "auto", tensorboard_log: str | None = None):
    """A model that continues a checkpoint's training on ``env``: weights, optimizer state and
    step counter restored."""
    meta = read_meta(path)
    model = make_model(meta["agent"], env, meta["hyperparameters"], meta["extractor"], seed=int(meta.get("seed", 0)),
                       device=device, tensorboard_log=tensorboard_log)
    load_weights(model, path)
    model.policy.optimizer.load_state_dict(_load_tensors(resolve_checkpoint(path) / "optimizer.pt", model.device))
    model.num_timesteps = int(meta["num_timesteps"])
    model.primitive_steps = int(meta.get("primitive_steps", meta["num_timesteps"]))
    return model, meta


def primitive_steps(model) -> int:
    """The model's env steps in primitive actions: SB3's ``num_timesteps`` until training counts
    them (``model.primitive_steps``, kept by ``earshot.agents.training`` through
    ``AgentKind.primitive_steps``: an agent whose actions are macro actions takes several each)."""
    return int(getattr(model, "primitive_steps", model.num_timesteps))


def load_weights(model, path: str | Path) -> dict:
    """Load a checkpoint's policy weights into ``model`` (built for the same agent and extractor)
    after checking its observation spaces; returns the checkpoint's meta."""
    meta = read_meta(path)
    _check_spaces(meta, model.observation_space, model.action_space)
    model.policy.load_state_dict(_load_tensors(resolve_checkpoint(path) / "policy.pt", model.device))
    return meta


def _check_spaces(meta: dict, observation_space, action_space) -> None:
    want = {k: tuple(v[0]) for k, v in meta["observation"].items()}
    have = {k: tuple(s.shape) for k, s in observation_space.spaces.items()}
    # the policy's space may be the transposed (channels-first) one
    same = set(want) == set(have) and all(sorted(want[k]) == sorted(have[k]) for k in want)
    if not same or int(meta["actions"]) != int(action_space.n):
        raise ValueError(f"the checkpoint was trained on observations {want} with {meta['actions']} actions, but the env "
                         f"gives {have} with {action_space.n}; make the env with the checkpoint's env_kwargs "
                         f"({meta.get('env_kwargs')})")

"""earshot's envs with stable-baselines3: any SB3 algorithm trains on them as on any Gymnasium
env. This trains SB3's PPO with earshot's AV-Nav encoders (``AVNavExtractor``, an SB3 features
extractor) on AudioGoal, on 2 SubprocVecEnv workers with disjoint train scenes, then reports its
val success rate. earshot's own trainer (``scripts/train.py``: DD-PPO on torch.distributed, the
DAgger warm start, GRU and waypoint agents, safe checkpoints) is the one the docs' results use.

    python examples/sb3_ppo.py --steps 20000
"""

from __future__ import annotations

import argparse
import functools


def make_env(rank: int, workers: int, split: str = "train"):
    import gymnasium as gym

    import earshot.av_env  # noqa: F401  (registers the ids in the worker)

    shard = (rank, workers) if workers > 1 else None
    return gym.make("earshot/AudioGoal-v0", split=split, scenes=20, scene_shard=shard, resolution=64,
                    sensors=["depth", "spectrogram"])


def main(steps: int, workers: int, episodes: int) -> float:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from earshot.agents.extractor import AVNavExtractor

    check_env(make_env(0, 1).unwrapped)  # SB3's own checks pass on earshot's envs
    fns = [functools.partial(make_env, k, workers) for k in range(workers)]
    venv = SubprocVecEnv(fns, start_method="spawn") if workers > 1 else DummyVecEnv(fns)
    model = PPO("MultiInputPolicy", venv, n_steps=128, batch_size=128, learning_rate=2.5e-4, clip_range=0.1, seed=0,
                policy_kwargs={"features_extractor_class": AVNavExtractor, "features_extractor_kwargs": {"hidden": 64},
                               "net_arch": []}, verbose=0)
    model.learn(steps)
    venv.close()
    env = make_env(0, 1, split="val")
    successes = 0
    for ep in range(episodes):
        obs, _ = env.reset(seed=ep)
        while True:
            action, _ = model.predict(obs, deterministic=False)
            obs, _, terminated, truncated, info = env.step(int(action))
            if terminated or truncated:
                successes += info["success"]
                break
    env.close()
    print(f"SB3 PPO, {steps} steps on {workers} workers: val success {successes / episodes:.2f} over {episodes} episodes")
    return successes / episodes


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="PPO env steps (default: 20000)")
    parser.add_argument("--workers", type=int, default=2, help="SubprocVecEnv workers (default: 2)")
    parser.add_argument("--episodes", type=int, default=10, help="val episodes (default: 10)")
    args = parser.parse_args()
    main(args.steps, args.workers, args.episodes)

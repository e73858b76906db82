"""Echo-depth data on one core: EchoDepth-v0 steps/s under a random policy and echo dataset
samples/s (``scripts/generate_dataset.py --kind echo``, a fresh process)."""

from __future__ import annotations

import time

import numpy as np

from .datasets import generate_cli


def bench_echo(cfg) -> list[dict]:
    """Echo-depth data on one core: EchoDepth-v0 steps/s under a random policy (each new pose
    computes its echo RIR: no cache) and echo dataset samples/s (scripts/generate_dataset.py
    --kind echo, 32 px rgb + depth, fresh process)."""
    import tempfile

    import gymnasium as gym

    from ... import av_env  # noqa: F401  (registers the ids)

    env = gym.make("earshot/EchoDepth-v0", split="test", scenes=5, resolution=128, max_steps=100)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    steps, t = 0, time.perf_counter()
    while steps < 600:
        _, _, terminated, truncated, _ = env.step(int(rng.integers(1, 4)))
        steps += 1
        if terminated or truncated:
            env.reset()
    env_rate = steps / (time.perf_counter() - t)
    env.close()
    with tempfile.TemporaryDirectory() as tmp:
        r = generate_cli(["--kind", "echo", "--split", "test", "--samples", "2000", "--shard-size", "100",
                           "--resolution", "32", "--renderer", "raycast", "--out", f"{tmp}/echo"], 1)
    return [dict(section="echo", name="EchoDepth-v0 random policy, 1 core", value=env_rate, unit="steps/s",
                 reference="(none: see the detail)", reference_value=None, reference_unit="steps/s", ratio=None,
                 detail="128² rgb + depth (auto renderer) + the 257x166x2 echo spectrogram, 5 test scenes, every new "
                        "pose's echo RIR computed (44.1 kHz, 0.1 s)", raw={"steps": steps, "steps_per_s": env_rate}),
            dict(section="echo", name="echo dataset samples, 1 core", value=r["samples_per_s"], unit="samples/s",
                 reference="(none: see the detail)", reference_value=None, reference_unit="samples/s", ratio=None,
                 detail=(f"2000 samples (echo waveform + 32² rgb + depth, raycast), {r['seconds']:.1f} s generating, "
                         f"{r['wall_s']:.1f} s for the whole command"), raw=r)]


__all__ = ["bench_echo"]

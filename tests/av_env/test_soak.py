"""A short soak: random actions over many scenes, every task, both motion modes (about a
minute on one core). The long soak (≥ 200k steps over ≥ 500 scenes) is scripts/soak.py."""

import pytest

from earshot.agents.benchmarks import soak

N_SCENES = 20  # two per (task, motion) pair, from the val, test and train splits in turn


@pytest.mark.parametrize("index", range(N_SCENES))
def test_random_actions_never_raise(index):
    split, seed = soak.scene_plan(N_SCENES)[index]
    record = soak.soak_scene(index, split, seed, steps=150, action_seed=index)
    assert record["error"] is None, record.get("traceback")
    assert record["steps"] == 150


def test_plan_covers_every_task_motion_and_split():
    plan = soak.scene_plan(N_SCENES)
    pairs = {(soak.TASK_IDS[i % 5], soak.MOTIONS[(i // 5) % 2]) for i in range(N_SCENES)}
    assert len(pairs) == 10 and {s for s, _ in plan} == {"train", "val", "test"}
    assert len({seed for _, seed in plan}) == N_SCENES

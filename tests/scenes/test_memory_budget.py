"""One memory setting bounds every in-memory cache (scenes.lru.Budgets.within, EARSHOT_MEMORY_MB)."""

import os
import subprocess
import sys

import pytest

from earshot.scenes.lru import ITEM_MB, MIN_COUNTS, MIN_MEMORY_MB, Budgets


def test_the_default_budgets_stand_for_their_stated_memory():
    b = Budgets()
    expected = sum(getattr(b, name) * mb for name, mb in ITEM_MB.items()) + b.cache_memory_mb
    assert b.nominal_mb() == pytest.approx(expected)
    assert 600 < b.nominal_mb() < 1000  # the ~770 MB the docstring states


@pytest.mark.parametrize("mb", [MIN_MEMORY_MB, 200.0, 256.0, 512.0, 765.0, 2000.0, 10_000.0])
def test_scaled_budgets_fit_the_memory_given_and_keep_their_floors(mb):
    b = Budgets().within(mb)
    assert b.nominal_mb() <= mb + 1e-9
    assert b.nominal_mb() >= 0.9 * mb  # the budget is used, not wasted
    for name, floor in MIN_COUNTS.items():
        assert getattr(b, name) >= floor
    assert b.cache_disk_mb == Budgets().cache_disk_mb  # disk is not memory


def test_more_memory_never_means_smaller_caches():
    small, large = Budgets().within(256.0), Budgets().within(1024.0)
    for name in ITEM_MB:
        assert getattr(large, name) >= getattr(small, name)
    assert large.scenes > small.scenes and large.step_spectra > small.step_spectra


@pytest.mark.parametrize("bad", [0, 10.0, -5, float("nan"), float("inf"), "256", True, None])
def test_a_meaningless_memory_budget_is_refused(bad):
    with pytest.raises(ValueError, match="memory budget"):
        Budgets().within(bad)


def _budgets_in_a_fresh_process(value):
    env = {**os.environ, "EARSHOT_MEMORY_MB": value}
    code = "from earshot.scenes.lru import BUDGETS; print(BUDGETS.nominal_mb(), BUDGETS.scenes)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_the_environment_variable_sets_the_process_budgets():
    ran = _budgets_in_a_fresh_process("300")
    assert ran.returncode == 0, ran.stderr
    nominal, scenes = ran.stdout.split()
    assert float(nominal) <= 300.0 and int(scenes) == Budgets().within(300.0).scenes
    bad = _budgets_in_a_fresh_process("lots")
    assert bad.returncode != 0
    assert "EARSHOT_MEMORY_MB='lots'" in bad.stderr and "unset it" in bad.stderr

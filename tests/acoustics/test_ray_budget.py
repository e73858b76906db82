"""The traced tail's ray budget: its error against a many-ray trace shrinks with rays, and the
budget is the smallest count within the tolerance (acoustics.validation.ray_budget_errors)."""

import numpy as np

from earshot.acoustics import AudioConfig, SceneAcoustics, raytrace
from earshot.acoustics.validation import RAY_BUDGET_TOLERANCE, choose_ray_budget, ray_budget_errors
from earshot.scenes import generate_apartment, split_seeds


def test_tail_error_shrinks_with_rays_and_the_budget_is_the_smallest_count_within_tolerance():
    errors = ray_budget_errors(counts=(100, 800), scenes=1, repeats=1, reference_rays=3200,
                               config=AudioConfig(rir_seconds=0.5))
    assert set(errors) == {100, 800}
    for key in ("db_mean", "edt_mid_mean"):
        assert errors[800][key] < errors[100][key], (key, errors)
    assert errors[800]["cells"] == errors[100]["cells"] > 0
    loose = {k: np.inf for k in RAY_BUDGET_TOLERANCE}
    assert choose_ray_budget(errors, loose) == 100
    assert choose_ray_budget(errors, {"db_mean": errors[800]["db_mean"]}) == 800
    assert choose_ray_budget(errors, {"db_mean": -1.0}) is None


def test_a_field_is_kept_per_seed_text():
    """Fields traced with other seeds (other configs) are other fields: what a process returns
    never depends on what it traced before."""
    scene = generate_apartment(split_seeds("val")[1])
    acoustics = SceneAcoustics(scene)
    x0, y0, x1, y1 = scene.rooms[0].bounds
    origin = raytrace.trace_origin(acoustics, np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1.5]))
    kw = dict(rays=200, seconds=0.3, ism_order=3, speed_of_sound=343.0)
    a = raytrace.energy_field(acoustics, origin, seed_text="a", **kw)
    b = raytrace.energy_field(acoustics, origin, seed_text="b", **kw)
    assert a is not b and not np.array_equal(a.density, b.density)
    assert raytrace.energy_field(acoustics, origin, seed_text="a", **kw) is a
    fresh = raytrace.energy_field(SceneAcoustics(scene), origin, seed_text="b", **kw)
    np.testing.assert_array_equal(fresh.density, b.density)

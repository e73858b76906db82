import numpy as np
import pytest
from pyroomacoustics.parameters import materials_data

from earshot.scenes import OCTAVE_BANDS_HZ, Material, get_material, material_library, uniform_material


def _pra(key):
    for category in materials_data["absorption"].values():
        if key in category:
            return np.asarray(category[key]["coeffs"][:6])


def test_library_uses_measured_pyroomacoustics_absorption():
    lib = material_library()
    for name, key in [("plaster", "hard_surface"), ("carpet", "carpet_cotton"), ("glass", "glass_window"),
                      ("concrete", "rough_concrete"), ("brick", "brick_wall_rough"), ("wood_floor", "stage_floor")]:
        coeffs = _pra(key)
        np.testing.assert_allclose(lib[name].absorption[: len(coeffs)], coeffs)
    assert len(OCTAVE_BANDS_HZ) == 6
    # soft furnishings absorb far more than hard walls at 1 kHz
    assert lib["carpet"].absorption[3] > 10 * lib["plaster"].absorption[3]
    assert lib["fabric"].absorption[3] > lib["wood"].absorption[3]


def test_material_validation():
    with pytest.raises(ValueError, match="absorption"):
        Material("x", (0.5, 0.5, 0.5), [0.1] * 5)
    with pytest.raises(ValueError, match="rgb"):
        Material("x", (2.0, 0.5, 0.5), [0.1] * 6)
    with pytest.raises(ValueError, match="scattering"):
        Material("x", (0.5, 0.5, 0.5), [0.1] * 6, scattering=1.5)
    with pytest.raises(ValueError, match="unknown material"):
        get_material("unobtainium")


def test_material_accepts_8bit_colour_and_scalar_absorption():
    m = Material("red", (255, 0, 0), 0.3)
    np.testing.assert_allclose(m.rgb, [1.0, 0.0, 0.0])
    np.testing.assert_allclose(m.absorption, [0.3] * 6)


def test_uniform_material_and_equality():
    m = uniform_material(0.3)
    assert np.all(m.absorption == 0.3)
    assert m == Material.from_dict(m.to_dict())
    assert hash(m) == hash(Material.from_dict(m.to_dict()))
    assert m.with_rgb((0.1, 0.2, 0.3)) != m

import colorsys

import numpy as np
import pytest
import trimesh

from earshot.scenes import Material, Scene, get_material, shoebox
from earshot.scenes.render import make_renderer
from tests.conftest import gl_or_skip

BACKENDS = ["raycast", "gl"]


def _renderer(backend, scene, **kw):
    if backend == "gl":
        gl_or_skip()
    return make_renderer(backend, scene, **kw)


def _centre(img):
    h, w = img.shape[:2]
    return img[h // 2 - 1: h // 2 + 1, w // 2 - 1: w // 2 + 1]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("x, y, heading, expected", [
    (1.0, 2.0, 0.0, 5.0),           # facing +x: wall at x = 6
    (4.5, 2.0, 0.0, 1.5),
    (3.0, 1.0, np.pi / 2, 3.0),     # facing +y: wall at y = 4
    (2.0, 3.0, np.pi, 2.0),         # facing -x: wall at x = 0
    (5.0, 2.5, -np.pi / 2, 2.5),    # facing -y: wall at y = 0
    (0.5, 0.5, 0.0, 5.5),
])
def test_centre_depth_is_distance_to_wall(backend, room, x, y, heading, expected):
    renderer = _renderer(backend, room, width=128, height=128)
    rgb, depth = renderer.render([x, y, 0.0], heading)
    assert rgb.shape == (128, 128, 3) and rgb.dtype == np.uint8
    assert depth.shape == (128, 128) and depth.dtype == np.float32
    np.testing.assert_allclose(_centre(depth), expected, atol=0.01)


@pytest.mark.parametrize("backend", BACKENDS)
def test_depth_is_planar_z_depth_and_floor_is_below(backend, room):
    """A wall facing the camera has the same z-depth in every pixel; the bottom row sees the floor
    at depth camera_height / tan(angle below the axis)."""
    renderer = _renderer(backend, room, width=64, height=64, hfov_deg=90)
    _, depth = renderer.render([1.0, 2.0, 0.0], 0.0)
    np.testing.assert_allclose(depth[24:40, 24:40], 5.0, atol=0.01)
    f = renderer.camera.focal
    row = 63
    below = (row + 0.5 - 32) / f  # tangent of the angle below the optical axis
    assert depth[row, 32] == pytest.approx(1.5 / below, abs=0.01)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rgb_has_material_hue(backend):
    red_wall = Material("red_paint", (0.8, 0.1, 0.1), get_material("plaster").absorption)
    floor = get_material("carpet").with_rgb((0.1, 0.2, 0.8))
    scene = shoebox(6.0, 4.0, 3.0, {"walls": red_wall, "floor": floor, "ceiling": "ceiling"})
    renderer = _renderer(backend, scene, width=64, height=64)
    rgb, _ = renderer.render([2.0, 2.0, 0.0], 0.0)

    def hue(pixel):
        return colorsys.rgb_to_hsv(*(np.asarray(pixel, float) / 255))[0]

    assert hue(rgb[32, 32]) == pytest.approx(hue(red_wall.rgb), abs=0.02)
    assert hue(rgb[63, 32]) == pytest.approx(hue(floor.rgb), abs=0.02)
    # Lambertian headlight: the wall seen head-on is brighter than the same wall seen obliquely
    assert rgb[32, 32].sum() > rgb[32, 0].sum()


@pytest.mark.parametrize("backend", BACKENDS)
def test_open_mesh_misses_have_zero_depth(backend):
    floor = trimesh.Trimesh([[-50, -50, 0], [50, -50, 0], [50, 50, 0], [-50, 50, 0]], [[0, 1, 2], [0, 2, 3]])
    scene = Scene(floor, np.zeros(2, np.int32), [get_material("wood_floor")])
    renderer = _renderer(backend, scene, width=32, height=32)
    rgb, depth = renderer.render([0.0, 0.0, 0.0], 0.3)
    assert np.all(depth[:16] == 0.0)  # sky: nothing hit above the horizon
    assert np.all(depth[20:] > 0.0)
    assert np.all(rgb[0, 0] == rgb[0, -1])


def test_backends_agree(apartment, apartment_graph):
    """Both sample pixel centres: depth within 1 cm on ≥ 99.5% of pixels (only exact silhouette ties
    may differ), colours within rounding."""
    gl_or_skip()
    ray = make_renderer("raycast", apartment)
    gl = make_renderer("gl", apartment)
    g = apartment_graph
    for node, heading in [(0, 0.0), (len(g) // 2, 1.2), (len(g) - 1, -2.0), (len(g) // 3, np.pi / 2)]:
        rgb_r, depth_r = ray.render(g.positions[node], heading)
        rgb_g, depth_g = gl.render(g.positions[node], heading)
        assert np.mean(np.abs(depth_r - depth_g) < 0.01) >= 0.995
        assert np.median(np.abs(rgb_r.astype(int) - rgb_g.astype(int))) <= 1


def test_auto_picks_a_working_backend(room):
    renderer = make_renderer("auto", room, width=32, height=32)
    assert renderer.backend in ("gl", "raycast")
    _, depth = renderer.render([1.0, 2.0, 0.0], 0.0)
    np.testing.assert_allclose(_centre(depth), 5.0, atol=0.01)


def test_gl_missing_egl_is_one_clear_error(monkeypatch, room):
    import earshot.scenes.render.gl as glmod

    def broken(*args, **kwargs):
        raise RuntimeError("eglGetDisplay failed")

    import moderngl

    monkeypatch.setattr(moderngl, "create_standalone_context", broken)
    monkeypatch.setattr(glmod, "_contexts", {})
    with pytest.raises(RuntimeError, match="libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri"):
        make_renderer("gl", room)
    assert make_renderer("auto", room).backend == "raycast"


def test_habitat_backend_names_its_install(room):
    # habitat-sim is conda-only; without it the error must say how to get it
    try:
        import habitat_sim  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="conda install habitat-sim"):
            make_renderer("habitat", room)
    else:  # pragma: no cover - only where habitat-sim is installed
        rgb, depth = make_renderer("habitat", room).render([1.0, 2.0, 0.0], 0.0)
        np.testing.assert_allclose(_centre(depth), 5.0, atol=0.05)


def test_renderers_work_at_graph_nodes(apartment, apartment_graph):
    renderer = make_renderer("raycast", apartment, width=48, height=32)
    rgb, depth = renderer.render(apartment_graph.positions[0], 0.7)
    assert rgb.shape == (32, 48, 3) and depth.shape == (32, 48)
    assert np.all(depth > 0)  # a closed apartment: every ray hits something
    assert np.all(depth < np.linalg.norm(apartment.bounds[1] - apartment.bounds[0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_scene_and_renderer_pickle_after_use(backend, room):
    """Vectorized envs ship scenes and renderers to worker processes: both survive pickling
    after use (Embree and GL state are rebuilt on the other side)."""
    import pickle

    renderer = _renderer(backend, room, width=32, height=32)
    before = renderer.render([1.0, 2.0, 0.0], 0.0)
    clone = pickle.loads(pickle.dumps(renderer))
    after = clone.render([1.0, 2.0, 0.0], 0.0)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])

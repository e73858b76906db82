import colorsys

import numpy as np
import pytest
import trimesh

from earshot.scenes import Material, Scene, get_material, shoebox
from earshot.scenes.render import make_renderer
from tests.conftest import gl_or_skip, room_with_sofa

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


# The GL renderer before one-pass read-back: colour in an RGBA8 attachment (the driver quantizes it)
# and depth in an R32F attachment, two reads per frame. The packed single attachment must give the
# same bytes on this driver.
_TWO_ATTACHMENT_FRAGMENT_SHADER = """
#version 330
uniform vec3 eye;
in vec3 v_world;
in vec3 v_normal;
in vec3 v_color;
in float v_depth;
layout(location = 0) out vec4 out_color;
layout(location = 1) out float out_depth;
void main() {{
    vec3 to_eye = normalize(eye - v_world);
    float shade = {ambient} + {diffuse} * abs(dot(v_normal, to_eye));
    out_color = vec4(clamp(v_color * shade, 0.0, 255.0) / 255.0, 1.0);
    out_depth = v_depth;
}}
"""


def _two_attachment_render(glmod, renderer, objects):
    """Draw what ``renderer`` drew last (same uniforms) the old way and read it back in two reads."""
    import moderngl

    ctx, program, vao, _, _ = renderer._gl
    old_program, old_vao, old_fbo = objects
    for name in ("view", "proj", "eye"):
        old_program[name].write(program[name].read())
    old_fbo.use()
    old_fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
    ctx.enable(moderngl.DEPTH_TEST)
    ctx.disable(moderngl.CULL_FACE)
    old_vao.render(moderngl.TRIANGLES)
    h, w = renderer.camera.height, renderer.camera.width
    rgb = np.frombuffer(old_fbo.read(components=4, attachment=0), np.uint8).reshape(h, w, 4)[::-1, :, :3]
    depth = np.frombuffer(old_fbo.read(components=1, attachment=1, dtype="f4"), np.float32).reshape(h, w)[::-1]
    rgb = np.array(rgb)
    rgb[depth <= 0] = glmod.BACKGROUND_RGB
    return rgb, np.ascontiguousarray(depth)


@pytest.mark.parametrize("width, height", [(128, 128), (48, 32)])
def test_gl_one_read_back_is_bit_identical_to_two_attachments(apartment, apartment_graph, width, height):
    gl_or_skip()
    import earshot.scenes.render.gl as glmod

    renderer = make_renderer("gl", apartment, width=width, height=height)
    renderer.render(apartment_graph.positions[0], 0.0)
    ctx = renderer._gl[0]
    scene = apartment
    data = np.hstack([scene.triangles.astype(np.float32).reshape(-1, 3),
                      np.repeat(scene.face_normals.astype(np.float32), 3, axis=0),
                      np.repeat(scene.face_colors.astype(np.float32), 3, axis=0)]).astype(np.float32)
    program = ctx.program(vertex_shader=glmod._VERTEX_SHADER, fragment_shader=_TWO_ATTACHMENT_FRAGMENT_SHADER.format(
        ambient=glmod.AMBIENT, diffuse=glmod.DIFFUSE))
    vbo = ctx.buffer(np.ascontiguousarray(data).tobytes())
    vao = ctx.vertex_array(program, [(vbo, "3f 3f 3f", "in_pos", "in_normal", "in_color")])
    color = ctx.renderbuffer((width, height), components=4)
    depth_out = ctx.renderbuffer((width, height), components=1, dtype="f4")
    zbuffer = ctx.depth_renderbuffer((width, height))
    fbo = ctx.framebuffer(color_attachments=[color, depth_out], depth_attachment=zbuffer)
    rng = np.random.default_rng(0)
    g = apartment_graph
    poses = [(g.positions[k], float(h)) for k, h in zip(rng.integers(len(g), size=40), rng.uniform(-np.pi, np.pi, 40))]
    outside = apartment.bounds[1] + np.array([3.0, 3.0, 0.0])  # looking at the apartment from outside: background
    outside[2] = apartment.floor_height
    poses += [(outside, float(h)) for h in np.linspace(-np.pi, np.pi, 8)]
    backgrounds = 0
    try:
        for position, heading in poses:
            rgb, depth = renderer.render(position, heading)
            old_rgb, old_depth = _two_attachment_render(glmod, renderer, (program, vao, fbo))
            assert rgb.dtype == old_rgb.dtype and depth.dtype == old_depth.dtype
            np.testing.assert_array_equal(rgb, old_rgb)
            np.testing.assert_array_equal(depth, old_depth)
            backgrounds += bool(np.any(depth == 0))
    finally:
        for obj in (vao, fbo, program, vbo, color, depth_out, zbuffer):
            obj.release()
        renderer.close()
    assert backgrounds >= 4  # the background replacement was exercised too


@pytest.mark.parametrize("size", [1, 16])
def test_gl_frames_do_not_share_the_read_back_buffer(room, size):
    """The renderer reuses one read-back buffer: the arrays it returned stay as they were."""
    renderer = _renderer("gl", room, width=size, height=size)
    rgb, depth = renderer.render([1.0, 2.0, 0.0], 0.0)
    kept = rgb.copy(), depth.copy()
    renderer.render([4.5, 2.0, 0.0], np.pi)
    np.testing.assert_array_equal(rgb, kept[0])
    np.testing.assert_array_equal(depth, kept[1])
    renderer.close()


def test_semantic_camera_labels_the_object_a_pixel_sees_with_its_category():
    """Facing the sofa from 1.75 m: the pixels whose depth is the sofa's face are labelled sofa
    (1 + its CATEGORIES index) and every other pixel (wall, floor, ceiling) 0; facing away, none."""
    from earshot.scenes import CATEGORIES
    from earshot.scenes.render.raycast import SemanticCamera

    scene = room_with_sofa()
    renderer = make_renderer("raycast", scene, width=64, height=64)
    semantic = SemanticCamera(scene, renderer.camera)
    labels = semantic.render([2.0, 3.0, 0.0], 0.0)
    _, depth = renderer.render([2.0, 3.0, 0.0], 0.0)
    assert labels.shape == (64, 64) and labels.dtype == np.uint8
    sofa = CATEGORIES.index("sofa") + 1
    assert set(np.unique(labels)) == {0, sofa}
    on_sofa = np.isclose(depth, 1.75, atol=1e-3)  # the sofa's face at x = 3.75; the far wall is at 6 m
    assert on_sofa.sum() > 100
    np.testing.assert_array_equal(labels == sofa, on_sofa)
    # the sofa is 2 m high, the eye at 1.5 m: its top edge is 0.5 m above the axis at 1.75 m, so
    # the rows above r = 32 - 0.5 / 1.75 * focal see the wall behind it
    top = 32 - 0.5 / 1.75 * renderer.camera.focal
    rows = np.flatnonzero((labels == sofa).any(axis=1))
    assert rows.min() == int(np.ceil(top - 0.5))
    assert not semantic.render([2.0, 3.0, 0.0], np.pi).any()  # facing the wall at x = 0


def test_semantic_camera_refuses_a_category_it_cannot_label_and_a_mesh_without_objects():
    from earshot.scenes import SemanticObject
    from earshot.scenes.render.raycast import SemanticCamera

    scene = room_with_sofa()
    scene.objects[0] = SemanticObject("piano", scene.objects[0].center, scene.objects[0].bbox_min, scene.objects[0].bbox_max)
    with pytest.raises(ValueError, match="piano.*CATEGORIES"):
        SemanticCamera(scene, make_renderer("raycast", scene, width=8, height=8).camera)
    bare = shoebox(4.0, 3.0, 2.5, "plaster")
    with pytest.raises(ValueError, match="no objects.*semantic"):
        SemanticCamera(bare, make_renderer("raycast", bare, width=8, height=8).camera)

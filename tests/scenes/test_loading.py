import numpy as np
import pytest
import trimesh
from PIL import Image

from earshot.scenes import NavGraph, generate_apartment, load_scene, material_library
from earshot.scenes.render import make_renderer


def _canonical(triangles, decimals=4):
    """Triangles as a sorted array of rounded rows, so files that reorder faces compare equal."""
    rows = np.round(triangles.reshape(-1, 9), decimals)
    return rows[np.lexsort(rows.T[::-1])]


def test_glb_round_trip_keeps_geometry_colours_and_materials(tmp_path):
    scene = generate_apartment(4)
    loaded = load_scene(scene.export(tmp_path / "apartment.glb"))
    assert len(loaded.mesh.faces) == len(scene.mesh.faces)
    np.testing.assert_allclose(_canonical(loaded.triangles), _canonical(scene.triangles), atol=1e-4)
    # per-face colours and acoustic materials come back with the faces
    key = lambda s: {tuple(r): (tuple(c), tuple(s.materials[m].absorption))  # noqa: E731
                     for r, c, m in zip(np.round(s.triangles.reshape(-1, 9), 4), s.face_colors, s.face_materials)}
    assert key(loaded) == key(scene)
    assert loaded.floor_height == pytest.approx(0.0, abs=1e-6)
    assert len(NavGraph.build(loaded)) == len(NavGraph.build(scene))


def test_ply_round_trip(tmp_path):
    scene = generate_apartment(9)
    loaded = load_scene(scene.export(tmp_path / "apartment.ply"))
    np.testing.assert_allclose(loaded.triangles, scene.triangles, atol=1e-5)
    np.testing.assert_array_equal(loaded.face_colors, scene.face_colors)
    assert {m.name for m in loaded.materials} == {"plaster"}  # PLY has no materials: the default


def _replica_like_y_up(floor_y: float) -> trimesh.Scene:
    """A y-up scan: a 8 m x 6 m floor at height ``floor_y`` with a few boxes and one wall, no ceiling,
    as several glTF nodes with transforms."""
    s = trimesh.Scene()
    # wound with its normal down (-y), as scans often are
    floor = trimesh.Trimesh([[0, 0, 0], [8, 0, 0], [8, 0, -6], [0, 0, -6]], [[0, 2, 1], [0, 3, 2]])
    s.add_geometry(floor, node_name="floor", geom_name="floor",
                   transform=trimesh.transformations.translation_matrix([0, floor_y, 0]))
    box = trimesh.creation.box((1.0, 0.8, 1.0))
    for k, (x, z) in enumerate([(2.0, -2.0), (6.0, -4.0)]):
        s.add_geometry(box, node_name=f"box{k}", geom_name="box",
                       transform=trimesh.transformations.translation_matrix([x, floor_y + 0.4, z]))
    wall = trimesh.creation.box((0.1, 2.5, 6.0))
    s.add_geometry(wall, node_name="wall", geom_name="wall",
                   transform=trimesh.transformations.translation_matrix([8.0, floor_y + 1.25, -3.0]))
    return s


def test_y_up_open_scan_with_floor_not_at_zero(tmp_path):
    path = tmp_path / "scan.glb"
    path.write_bytes(_replica_like_y_up(-1.3).export(file_type="glb"))
    scene = load_scene(path, up_axis="y")
    assert scene.floor_height == pytest.approx(-1.3, abs=1e-4)
    # y-up -> z-up maps glTF (x, y, z) to (x, -z, y): the scan spans x 0..8, y 0..6
    np.testing.assert_allclose(scene.bounds[0, :2], [0, 0], atol=1e-6)
    np.testing.assert_allclose(scene.bounds[1, :2], [8.05, 6], atol=1e-6)
    graph = NavGraph.build(scene)
    np.testing.assert_allclose(graph.positions[:, 2], -1.3, atol=1e-4)
    # boxes (flattened from node transforms) at (2, 2) and (6, 4) block the nodes under them
    for cx, cy in [(2.0, 2.0), (6.0, 4.0)]:
        near = np.max(np.abs(graph.positions[:, :2] - [cx, cy]), axis=1) <= 0.5
        assert not near.any()
    # open edges of the floor keep the agent radius too
    assert graph.positions[:, 0].min() >= 0.2 and graph.positions[:, 1].max() <= 5.8
    # rendering uses the detected floor: the wall at x = 7.95 is 5.95 m from a camera at x = 2
    node = graph.nearest_node([2.0, 3.0])
    _, depth = make_renderer("raycast", scene, width=32, height=32).render(graph.positions[node], 0.0)
    assert depth[15:17, 15:17] == pytest.approx(7.95 - graph.positions[node, 0], abs=0.01)
    # an (x, y) position stands on the detected floor, not on z = 0
    _, depth_xy = make_renderer("raycast", scene, width=32, height=32).render(graph.positions[node, :2], 0.0)
    np.testing.assert_allclose(depth_xy, depth, atol=1e-4)
    # loaded with the wrong up axis, the floor is vertical: a clear error names up_axis
    with pytest.raises(ValueError, match="up_axis"):
        load_scene(path, up_axis="z")


def test_scale_converts_units(tmp_path):
    scene = generate_apartment(2)
    cm = trimesh.Trimesh(scene.mesh.vertices * 100.0, scene.mesh.faces, process=False)
    cm.export(tmp_path / "cm.ply")
    loaded = load_scene(tmp_path / "cm.ply", scale=0.01)
    np.testing.assert_allclose(loaded.bounds, scene.bounds, atol=1e-4)


def test_obj_with_named_materials_and_textured_gltf(tmp_path):
    (tmp_path / "room.mtl").write_text("newmtl carpet\nKd 0.2 0.3 0.7\nnewmtl mystery\nKd 0.9 0.9 0.1\n")
    (tmp_path / "room.obj").write_text(
        "mtllib room.mtl\n"
        "v 0 0 0\nv 4 0 0\nv 4 4 0\nv 0 4 0\nv 0 0 2\nv 4 0 2\n"
        "usemtl carpet\nf 1 2 3\nf 1 3 4\n"
        "usemtl mystery\nf 1 2 6\nf 1 6 5\n"
    )
    scene = load_scene(tmp_path / "room.obj")
    names = {m.name for m in scene.materials}
    assert "carpet" in names and "plaster" in names  # unknown 'mystery' gets the default acoustics
    carpet = next(m for m in scene.materials if m.name == "carpet")
    np.testing.assert_allclose(carpet.absorption, material_library()["carpet"].absorption)
    assert scene.floor_height == pytest.approx(0.0)

    # a textured floor: the texture's colour reaches the faces
    floor = trimesh.Trimesh([[0, 0, 0], [4, 0, 0], [4, 4, 0], [0, 4, 0]], [[0, 1, 2], [0, 2, 3]], process=False)
    texture = Image.new("RGB", (8, 8), (10, 200, 30))
    floor.visual = trimesh.visual.TextureVisuals(
        uv=[[0, 0], [1, 0], [1, 1], [0, 1]],
        material=trimesh.visual.material.PBRMaterial(baseColorTexture=texture))
    path = tmp_path / "textured.glb"
    path.write_bytes(floor.export(file_type="glb"))
    textured = load_scene(path)
    assert np.all(np.abs(textured.face_colors.astype(int) - [10, 200, 30]) <= 2)


def test_bad_files_raise_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_scene(tmp_path / "nope.glb")
    (tmp_path / "empty.glb").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_scene(tmp_path / "empty.glb")
    (tmp_path / "junk.glb").write_bytes(b"this is not a gltf file at all" * 10)
    with pytest.raises(ValueError, match="could not read"):
        load_scene(tmp_path / "junk.glb")
    (tmp_path / "model.stl").write_text("solid x\nendsolid x\n")
    with pytest.raises(ValueError, match="unsupported extension"):
        load_scene(tmp_path / "model.stl")
    wall = trimesh.Trimesh([[0, 0, 0], [4, 0, 0], [4, 0, 3], [0, 0, 3]], [[0, 1, 2], [0, 2, 3]])
    wall.export(tmp_path / "wall.ply")
    with pytest.raises(ValueError, match="no walkable floor"):
        load_scene(tmp_path / "wall.ply")
    with pytest.raises(ValueError, match="up_axis"):
        load_scene(tmp_path / "wall.ply", up_axis="x")
    (tmp_path / "points.ply").write_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n"
                                         "property float y\nproperty float z\nend_header\n0 0 0\n")
    with pytest.raises(ValueError, match="no triangles"):
        load_scene(tmp_path / "points.ply")


def _slab_room(floor_top: float = 0.0, slab: float = 0.25) -> trimesh.Trimesh:
    """An artist-style room: floor and ceiling modelled as slabs (boxes with thickness), four
    walls as boxes, a table; 6 m x 4 m inside, 2.6 m high."""
    parts = [
        trimesh.creation.box(bounds=[[-0.2, -0.2, floor_top - slab], [6.2, 4.2, floor_top]]),  # floor slab
        trimesh.creation.box(bounds=[[-0.2, -0.2, floor_top + 2.6], [6.2, 4.2, floor_top + 2.6 + slab]]),  # ceiling slab
        trimesh.creation.box(bounds=[[-0.2, -0.2, floor_top], [0.0, 4.2, floor_top + 2.6]]),
        trimesh.creation.box(bounds=[[6.0, -0.2, floor_top], [6.2, 4.2, floor_top + 2.6]]),
        trimesh.creation.box(bounds=[[0.0, -0.2, floor_top], [6.0, 0.0, floor_top + 2.6]]),
        trimesh.creation.box(bounds=[[0.0, 4.0, floor_top], [6.0, 4.2, floor_top + 2.6]]),
        trimesh.creation.box(bounds=[[2.5, 1.5, floor_top + 0.7], [3.5, 2.5, floor_top + 0.75]]),  # table top
    ]
    return trimesh.util.concatenate(parts)


@pytest.mark.parametrize("floor_top", [0.0, 1.3, -0.8])
def test_slab_floor_detected_at_its_walkable_top(tmp_path, floor_top):
    path = tmp_path / "slab_room.glb"
    path.write_bytes(_slab_room(floor_top).export(file_type="glb"))
    scene = load_scene(path)
    assert scene.floor_height == pytest.approx(floor_top, abs=1e-6)
    graph = NavGraph.build(scene, spacing=0.5)
    z = graph.positions[:, 2]
    np.testing.assert_allclose(z, floor_top, atol=1e-5)
    # the whole free floor is walkable (6 x 4 m, 0.2 m clearance from the walls, the table is
    # high enough to walk under in plan but blocks the agent's body)
    assert len(graph) >= 50
    far = graph.distances_from(0)
    assert np.isfinite(far).all()


def test_slab_floor_scene_navigates_in_an_env(tmp_path):
    import gymnasium as gym

    import earshot.av_env as av_env  # noqa: F401

    path = tmp_path / "slab_room.glb"
    path.write_bytes(_slab_room(0.0).export(file_type="glb"))
    env = gym.make("earshot/AudioGoal-v0", split="test", scenes=[str(path)], renderer="raycast", resolution=32,
                   episodes_per_scene=2)
    try:
        env.reset(seed=0)
        for _ in range(200):
            _, _, terminated, truncated, info = env.step(env.unwrapped.oracle_action())
            if terminated or truncated:
                break
        assert info["success"] == 1.0 and info["spl"] == pytest.approx(1.0)
    finally:
        env.close()

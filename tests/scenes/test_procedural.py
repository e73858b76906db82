import subprocess
import sys

import numpy as np
import pytest

from earshot.scenes import CATEGORIES, ROOM_TYPES, NavGraph, generate_apartment, shoebox, split_of, split_seeds

SEEDS = [0, 1, 2, 3, 11, 42, 2_000_000, 2_000_017]


def _hash_in_subprocess(seed: int) -> str:
    code = f"from earshot.scenes import generate_apartment; print(generate_apartment({seed}).content_hash)"
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def test_same_seed_same_hash_across_processes():
    assert _hash_in_subprocess(5) == generate_apartment(5).content_hash == _hash_in_subprocess(5)
    assert generate_apartment(5).content_hash != generate_apartment(6).content_hash


@pytest.mark.parametrize("seed", SEEDS)
def test_apartment_structure(seed):
    scene = generate_apartment(seed)
    assert 2 <= len(scene.rooms) <= 6
    assert all(r.kind in ROOM_TYPES for r in scene.rooms)
    height = scene.bounds[1, 2]
    assert 2.4 <= height <= 3.0
    assert scene.floor_height == 0.0 and abs(scene.bounds[0, 2]) < 1e-9
    for obj in scene.objects:
        assert obj.category in CATEGORIES
        assert np.all(obj.bbox_min <= obj.center) and np.all(obj.center <= obj.bbox_max)
        assert obj.bbox_min[2] >= 0 and obj.bbox_max[2] <= height
        x0, y0, x1, y1 = scene.rooms[obj.room].bounds  # furniture stays inside its room's walls
        assert obj.bbox_min[0] >= x0 and obj.bbox_min[1] >= y0 and obj.bbox_max[0] <= x1 and obj.bbox_max[1] <= y1
    # every face of an object carries its index
    for index, obj in enumerate(scene.objects):
        faces = np.flatnonzero(scene.face_objects == index)
        assert len(faces) > 0
        tri = scene.triangles[faces]
        assert np.all(tri >= obj.bbox_min - 1e-9) and np.all(tri <= obj.bbox_max + 1e-9)


def test_apartments_span_many_categories_and_room_counts():
    scenes = [generate_apartment(s) for s in range(12)]
    categories = {o.category for s in scenes for o in s.objects}
    assert len(categories) >= 10
    assert len({len(s.rooms) for s in scenes}) >= 3
    # materials and colours vary with the seed
    wall_colors = {tuple(m.rgb) for s in scenes for m in s.materials}
    assert len(wall_colors) > 20


def test_n_rooms_parameter_and_bad_params():
    for n in range(2, 7):
        assert len(generate_apartment(3, n_rooms=n).rooms) == n
    with pytest.raises(ValueError, match="n_rooms"):
        generate_apartment(0, n_rooms=9)
    with pytest.raises(TypeError, match="unknown parameters"):
        generate_apartment(0, bedrooms=2)
    with pytest.raises(ValueError, match="seed"):
        generate_apartment(-1)
    with pytest.raises(ValueError, match="door_width"):
        generate_apartment(0, door_width=(0.6, 0.8))


@pytest.mark.parametrize("seed", SEEDS)
def test_doors_are_at_least_90cm_wide(seed):
    """Every graph edge that crosses a wall line passes through an opening ≥ 0.9 m wide,
    measured by casting rays along the wall from the crossing point to the opening's jambs."""
    scene = generate_apartment(seed)
    graph = NavGraph.build(scene)
    crossings = 0
    for a, b in graph.edges:
        pa, pb = graph.positions[a], graph.positions[b]
        ra = [i for i, r in enumerate(scene.rooms) if r.contains(pa[:2])[0]]
        rb = [i for i, r in enumerate(scene.rooms) if r.contains(pb[:2])[0]]
        on_wall = pa if len(ra) > 1 else pb if len(rb) > 1 else None
        if on_wall is None:
            continue
        direction = pb[:2] - pa[:2]
        along = np.array([-direction[1], direction[0], 0.0]) / np.linalg.norm(direction)
        origin = np.r_[on_wall[:2], 1.0][None]
        left = scene.ray_caster.first_hit_distance(origin, along[None])[0]
        right = scene.ray_caster.first_hit_distance(origin, -along[None])[0]
        assert left + right >= 0.9 - 1e-3
        crossings += 1
    assert crossings >= len(scene.rooms) - 1
    # the recorded doors agree: each joins two adjacent rooms through an opening >= 0.9 m
    assert len(scene.doors) >= len(scene.rooms) - 1
    for door in scene.doors:
        assert door.width >= 0.9
        i, j = door.rooms
        assert scene.room_at(door.center) in (i, j)
        probe = np.r_[door.center[:2], 1.0][None]
        axis = np.eye(3)[door.normal_axis][None]
        assert scene.ray_caster.first_hit_distance(probe, axis)[0] > 0.5  # open both ways
        assert scene.ray_caster.first_hit_distance(probe, -axis)[0] > 0.5


@pytest.mark.parametrize("spacing", [0.5, 1.0])
@pytest.mark.parametrize("seed", SEEDS)
def test_every_room_reachable(seed, spacing):
    """Every room has nodes in the graph's single connected component (furniture cuts nothing off),
    for Replica-style 0.5 m and MP3D-style 1 m graphs of the same default apartment."""
    scene = generate_apartment(seed)
    graph = NavGraph.build(scene, spacing=spacing)
    for room in scene.rooms:
        assert room.contains(graph.positions[:, :2]).any(), f"room {room.kind} has no reachable node"
    if spacing == 0.5:  # furniture leaves a good part of the floor walkable
        assert len(graph) * spacing**2 > 0.3 * sum(r.area for r in scene.rooms)


def test_shoebox_spans_its_box():
    scene = shoebox(5.0, 3.0, 2.5, "carpet")
    np.testing.assert_allclose(scene.bounds, [[0, 0, 0], [5, 3, 2.5]])
    assert len(scene.mesh.faces) == 12
    assert np.isclose(scene.mesh.area, 2 * (5 * 3 + 5 * 2.5 + 3 * 2.5))
    # normals point into the room
    centre = np.array([2.5, 1.5, 1.25])
    to_centre = centre - scene.mesh.triangles_center
    assert np.all(np.einsum("ij,ij->i", scene.face_normals, to_centre) > 0)
    mixed = shoebox(4, 4, 3, {"walls": "brick", "floor": "carpet", "ceiling": "ceiling"})
    assert {m.name for m in mixed.materials} == {"brick", "carpet", "ceiling"}
    with pytest.raises(ValueError, match="width"):
        shoebox(0, 3, 3)
    with pytest.raises(ValueError):
        shoebox(3, 3, 3, "nonexistent")


def test_splits_are_disjoint():
    train, val, test, extra = (set(split_seeds(s)) for s in ("train", "val", "test", "extra"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert not (extra & train) and not (extra & val) and not (extra & test)
    assert len(test) >= 50 and len(train) > len(test)
    assert split_of(split_seeds("test")[3]) == "test"
    with pytest.raises(ValueError, match="unknown split"):
        split_seeds("holdout")


def _wall_hits_by_room(scene, rng, points_per_room=6, directions=48):
    """Horizontal rays from points inside every room: per room, the (material, colour) of each
    wall face hit whose air just in front (along its normal) lies in that room (not seen through a door)."""
    angles = np.linspace(0, 2 * np.pi, directions, endpoint=False)
    dirs = np.c_[np.cos(angles), np.sin(angles), np.zeros(directions)]
    seen: dict[int, set] = {i: set() for i in range(len(scene.rooms))}
    structural = scene.face_objects < 0
    for index, room in enumerate(scene.rooms):
        x0, y0, x1, y1 = room.bounds
        pts = np.c_[rng.uniform(x0 + 0.2, x1 - 0.2, points_per_room), rng.uniform(y0 + 0.2, y1 - 0.2, points_per_room),
                    rng.uniform(0.3, 2.3, points_per_room)]
        origins = np.repeat(pts, directions, axis=0)
        d = np.tile(dirs, (points_per_room, 1))
        t, face = scene.ray_caster.intersect(origins, d)
        hit = (face >= 0) & np.isfinite(t)
        face, t, origins, d = face[hit], t[hit], origins[hit], d[hit]
        vertical = np.abs(scene.mesh.face_normals[face, 2]) < 0.1
        keep = vertical & structural[face]
        normal = scene.mesh.face_normals[face[keep]]
        normal = normal * -np.sign(np.einsum("ij,ij->i", normal, d[keep]))[:, None]  # towards the viewer
        front = origins[keep] + d[keep] * t[keep, None] + normal * 0.02  # air in front of the surface
        mine = (front[:, 0] > x0 + 0.01) & (front[:, 0] < x1 - 0.01) & (front[:, 1] > y0 + 0.01) & (front[:, 1] < y1 - 0.01)
        for f in face[keep][mine]:
            seen[index].add((int(scene.face_materials[f]), tuple(int(c) for c in scene.face_colors[f])))
    return seen


@pytest.mark.parametrize("seed", [0, 1, 4, 2_000_000, 2_000_003, 2_000_017, 1_000_005])
def test_each_room_sees_one_wall_material(seed, rng):
    """From inside every room, every wall surface (door jambs included) carries that room's
    material and colour: walls are split where rooms meet, so no quad straddles two rooms."""
    scene = generate_apartment(seed)
    seen = _wall_hits_by_room(scene, rng)
    for index, kinds in seen.items():
        assert len(kinds) == 1, (seed, index, scene.rooms[index].kind, kinds)
    # and rooms that differ in wall material really show different ones
    materials = {next(iter(k))[0] for k in seen.values() if k}
    assert len(materials) >= 2

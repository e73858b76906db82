"""Loading user meshes (.glb/.gltf/.obj/.ply) into Scenes.

Multi-geometry glTF scenes are flattened with their node transforms. Colours come from face or
vertex colours, textures (sampled at the vertices) or the material's base colour. A geometry's
material name that matches a built-in material (``earshot.scenes.material_library``; a ``#suffix`` is
ignored) gets that material's acoustics; anything else gets ``default_material``. The scene keeps
the file's coordinates (after ``up_axis`` and ``scale``); its floor height is detected.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import trimesh

from .checks import check_number
from .materials import DEFAULT_MATERIAL_NAME, Material, get_material, material_library
from .scene import Scene

SUPPORTED_EXTENSIONS = (".glb", ".gltf", ".obj", ".ply")

# y-up (glTF, Replica, habitat) to z-up: (x, y, z) -> (x, -z, y), a +90° rotation about x
_Y_UP_TO_Z_UP = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


def load_scene(path: str | os.PathLike, up_axis: str = "z", scale: float = 1.0, materials: dict | None = None,
               default_material: "str | Material" = DEFAULT_MATERIAL_NAME, floor_height: float | None = None,
               name: str | None = None) -> Scene:
    """Load a mesh file as a Scene.

    Args:
        path: a .glb, .gltf, .obj or .ply file.
        up_axis: the file's up axis, "z" (earshot, Blender/MP3D .ply) or "y" (glTF, Replica, habitat).
        scale: multiply coordinates by this to get metres (e.g. 0.01 for centimetres).
        materials: optional map from the file's material/geometry names to a built-in material
            name or a ``Material``.
        default_material: acoustics for faces whose material is not recognised.
        floor_height: override the detected floor height (metres, after up_axis and scale).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unsupported extension, unreadable or empty file, or no walkable floor.
    """
    floor_height = check_load_arguments(up_axis=up_axis, scale=scale, materials=materials,
                                        default_material=default_material, floor_height=floor_height,
                                        name=name)["floor_height"]
    path = _check_file(path, up_axis, scale)
    try:
        loaded = trimesh.load(str(path), force="scene", process=False)
    except Exception as exc:  # trimesh raises many types for corrupt files
        raise ValueError(f"could not read scene file {str(path)!r} as {path.suffix.lower()}: {type(exc).__name__}: {exc}") from exc
    default = get_material(default_material)
    mesh, colors, names = _flatten(loaded, path, up_axis, scale, default)
    face_materials, table = _material_table(names, colors, dict(materials or {}), default)

    floor = detect_floor_height(mesh) if floor_height is None else floor_height
    if floor is None:
        raise ValueError(
            f"scene file {str(path)!r} has no walkable floor: no horizontal surface of at least "
            f"{_MIN_FLOOR_AREA} m² with {_FLOOR_HEADROOM} m of free space above it was found; check up_axis "
            f"(now {up_axis!r}) and scale (now {scale}), or pass floor_height"
        )
    return Scene(mesh, face_materials, table, face_colors=colors, floor_height=floor, name=name or path.stem)


def check_load_arguments(up_axis: str = "z", scale: float = 1.0, materials: dict | None = None,
                         default_material: "str | Material" = DEFAULT_MATERIAL_NAME, floor_height: float | None = None,
                         name: str | None = None) -> dict:
    """``load_scene``'s arguments other than the path, checked (types, finite, ranges; built-in
    material names); returns them with ``floor_height`` as a float. Envs check their
    ``mesh_kwargs`` with it when they are made, before any mesh is read."""
    if not isinstance(up_axis, str) or up_axis not in ("z", "y"):
        raise ValueError(f"up_axis must be 'z' or 'y', got {up_axis!r}")
    check_number("scale", scale, low=0.0, low_open=True, unit="metres per file unit")
    if materials is not None and not isinstance(materials, dict):
        raise ValueError(f"materials must be a dict from the file's material names to built-in material names or "
                         f"Materials, got {materials!r}")
    if not isinstance(default_material, (str, Material)):
        raise ValueError(f"default_material must be a built-in material name or a Material, got {default_material!r}")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"name must be a string or None, got {name!r}")
    for key, value in (materials or {}).items():
        try:
            get_material(value)
        except ValueError as exc:
            raise ValueError(f"materials[{key!r}]: {exc}") from None
    floor_height = None if floor_height is None else check_number("floor_height", floor_height, low=-_MAX_EXTENT,
                                                                   high=_MAX_EXTENT, unit="m")
    return {"up_axis": up_axis, "scale": scale, "materials": materials, "default_material": default_material,
            "floor_height": floor_height, "name": name}


def _check_file(path, up_axis: str, scale: float) -> Path:
    """``path`` as a Path, after checking it names a non-empty mesh file of a supported kind and
    that ``up_axis`` and ``scale`` are valid."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"path must be the path of a .glb, .gltf, .obj or .ply file, got {path!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"scene file {str(path)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"scene path {str(path)!r} is a directory; pass a .glb, .gltf, .obj or .ply file")
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise ValueError(f"cannot load {path.name!r}: unsupported extension {ext!r}; use one of {', '.join(SUPPORTED_EXTENSIONS)}")
    if path.stat().st_size == 0:
        raise ValueError(f"scene file {str(path)!r} is empty (0 bytes)")
    return path


def _flatten(loaded, path: Path, up_axis: str, scale: float, default: Material):
    """(mesh in metres z up, face colours (F, 3) uint8, face material names (F,)) of a trimesh
    Scene: every geometry placed by its node's transform, degenerate triangles dropped."""
    vertices, faces, face_mat_names, face_colors = [], [], [], []
    offset = 0
    for node in loaded.graph.nodes_geometry:
        transform, geom_name = loaded.graph[node]
        geom = loaded.geometry[geom_name]
        if not isinstance(geom, trimesh.Trimesh) or len(geom.faces) == 0:
            continue
        v = trimesh.transformations.transform_points(np.asarray(geom.vertices, dtype=np.float64), transform)
        f = np.asarray(geom.faces, dtype=np.int64)
        vertices.append(v)
        faces.append(f + offset)
        offset += len(v)
        mat_name = _material_name(geom, geom_name)
        face_mat_names.append(np.full(len(f), mat_name, dtype=object))
        face_colors.append(_face_colors(geom, default))
    if not faces:
        raise ValueError(f"scene file {str(path)!r} contains no triangles")
    v = np.concatenate(vertices)
    f = np.concatenate(faces)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"scene file {str(path)!r} has non-finite vertex coordinates")
    if up_axis == "y":
        v = trimesh.transformations.transform_points(v, _Y_UP_TO_Z_UP)
    v = v * float(scale)
    extent = float(np.ptp(v, axis=0).max()) if np.isfinite(v).all() else np.inf
    if extent > _MAX_EXTENT:
        raise ValueError(f"scene file {str(path)!r} spans {extent:.3g} m after scale={scale!r}, more than {_MAX_EXTENT:g} m: "
                         "no indoor scene is that large; check scale (e.g. 0.01 for centimetres, 0.001 for millimetres)")
    mesh = trimesh.Trimesh(v, f, process=False)
    colors = np.concatenate(face_colors)
    names = np.concatenate(face_mat_names)

    # drop degenerate triangles (zero area): they confuse ray casting and normals
    keep = mesh.area_faces > 1e-12
    if not keep.any():
        raise ValueError(f"scene file {str(path)!r} has only degenerate (zero-area) triangles")
    if not keep.all():
        mesh = trimesh.Trimesh(v, f[keep], process=False)
        colors, names = colors[keep], names[keep]
    return mesh, colors, names


def _material_table(names: np.ndarray, colors: np.ndarray, materials: dict, default: Material):
    """(face material index (F,) int32, material table): one Material per distinct name, its
    acoustics from ``materials``, else the built-in material of that name, else ``default``; its
    colour the mean of its faces'."""
    library = material_library()
    table: list[Material] = []
    face_materials = np.empty(len(names), np.int32)
    for key in sorted(set(names.tolist())):
        base = materials.get(key) or library.get(key.split("#")[0]) or default
        base = get_material(base)
        sel = names == key
        rgb = colors[sel].mean(axis=0) / 255.0
        face_materials[sel] = len(table)
        table.append(base.with_rgb(np.round(rgb, 3)))
    return face_materials, table


_MIN_FLOOR_AREA = 1.0  # m²
# m: the largest extent a scene may have after scaling. Buildings, campuses and the largest
# scanned spaces (Gibson, HM3D: < 100 m) fit easily; a model in millimetres read as metres does not.
_MAX_EXTENT = 2000.0
_FLOOR_HEADROOM = 1.0  # m of free space above a surface for it to count as floor


def detect_floor_height(mesh: trimesh.Trimesh, bin_size: float = 0.05, min_area: float = _MIN_FLOOR_AREA,
                        headroom: float = _FLOOR_HEADROOM) -> float | None:
    """z of the lowest large walkable horizontal surface, or None if there is none.

    A surface is walkable where there is free space above it: an upward ray from just above it
    travels at least ``headroom`` metres (or leaves the mesh) before hitting anything. That
    rejects the underside of a slab floor (a box with thickness: its top is the floor), the
    bottom of furniture and ceilings seen from below, whatever way the mesh's normals point
    (scans often have flipped ones). Near-horizontal triangles are sampled at up to 16 points
    each, the walkable area is binned by height, and the floor is the lowest bin holding at
    least ``min_area`` m² and a quarter of the largest bin's walkable area.
    """
    from .rays import RayCaster

    normals = np.asarray(mesh.face_normals)
    area = np.asarray(mesh.area_faces)
    up = np.flatnonzero(np.abs(normals[:, 2]) > 0.9)
    if len(up) == 0:
        return None
    # stratified barycentric samples: 1, 4, 9 or 16 per triangle by its area (~0.25 m² each)
    tris = np.asarray(mesh.triangles)[up]
    a = area[up]
    k = np.clip(np.ceil(np.sqrt(a / 0.25)), 1, 4).astype(np.int64)
    points, owner, weight = [], [], []
    for level in np.unique(k):
        sel = np.flatnonzero(k == level)
        i, j = np.meshgrid(np.arange(level), np.arange(level), indexing="ij")
        keep = i + j < level
        u = (i[keep] + 1 / 3) / level
        v = (j[keep] + 1 / 3) / level
        bary = np.c_[1 - u - v, u, v]  # points inside the triangle, spread over it
        p = np.einsum("sk,tkd->tsd", bary, tris[sel]).reshape(-1, 3)
        points.append(p)
        owner.append(np.repeat(sel, len(bary)))
        weight.append(np.repeat(a[sel] / len(bary), len(bary)))
    points, owner, weight = np.concatenate(points), np.concatenate(owner), np.concatenate(weight)
    lift = 0.02
    caster = RayCaster(np.asarray(mesh.triangles))
    free = caster.first_hit_distance(points + [0.0, 0.0, lift], np.tile([0.0, 0.0, 1.0], (len(points), 1)))
    walkable = free >= headroom - lift
    if not walkable.any():
        return None
    z = points[walkable, 2]
    w = weight[walkable]
    bins = np.floor(z / bin_size).astype(np.int64)
    uniq, inverse = np.unique(bins, return_inverse=True)
    totals = np.bincount(inverse, weights=w)
    # merge each bin with its neighbours so a floor split across a bin edge still counts once
    adjacent = (uniq[1:] - uniq[:-1]) == 1
    smoothed = totals.copy()
    smoothed[1:] += np.where(adjacent, totals[:-1], 0.0)
    smoothed[:-1] += np.where(adjacent, totals[1:], 0.0)
    good = (smoothed >= min_area) & (smoothed >= 0.25 * smoothed.max())
    if not good.any():
        return None
    lowest = uniq[np.flatnonzero(good)[0]]
    near = np.abs(bins - lowest) <= 1
    return float(np.average(z[near], weights=w[near]))


def _material_name(geom: trimesh.Trimesh, geom_name: str) -> str:
    material = getattr(geom.visual, "material", None)
    name = getattr(material, "name", None)
    return str(name) if name else str(geom_name)


def _face_colors(geom: trimesh.Trimesh, default: Material) -> np.ndarray:
    """(F, 3) uint8 colours of a geometry's faces from whatever colour information it carries."""
    n = len(geom.faces)
    visual = geom.visual
    fallback = np.broadcast_to(np.round(default.rgb * 255).astype(np.uint8), (n, 3))
    try:
        kind = visual.kind
        if kind == "face":
            return np.asarray(visual.face_colors)[:, :3].astype(np.uint8)
        if kind == "vertex":
            vc = np.asarray(visual.vertex_colors)[:, :3].astype(np.float64)
            return np.round(vc[geom.faces].mean(axis=1)).astype(np.uint8)
        if kind == "texture":
            material = visual.material
            image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
            if image is not None and visual.uv is not None and len(visual.uv) == len(geom.vertices):
                vc = np.asarray(visual.to_color().vertex_colors)[:, :3].astype(np.float64)
                return np.round(vc[geom.faces].mean(axis=1)).astype(np.uint8)
            main = np.asarray(material.main_color)[:3]
            return np.broadcast_to(main.astype(np.uint8), (n, 3)).copy()
        if isinstance(getattr(visual, "material", None), trimesh.visual.material.Material):
            return np.broadcast_to(np.asarray(visual.material.main_color)[:3].astype(np.uint8), (n, 3)).copy()
    except Exception:  # colour is cosmetic: fall back to the default material's colour
        return fallback.copy()
    return fallback.copy()

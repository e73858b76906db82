"""earshot.scenes — 3D indoor scenes, navigation graphs and RGB-D rendering.

Coordinates everywhere: metres, z up, heading = yaw in radians counter-clockwise from +x.
Procedural scenes have their floor at z = 0; loaded meshes keep their own coordinates and
record the detected ``Scene.floor_height``. The camera sits 1.5 m above the agent's floor
position by default.
"""

from .loading import load_scene
from .materials import OCTAVE_BANDS_HZ, Material, get_material, material_library, uniform_material
from .navigation import Action, NavGraph
from .procedural import CATEGORIES, ROOM_TYPES, generate_apartment, polygon_room_mesh, shoebox
from .scene import Door, Room, Scene, SemanticObject
from .splits import load_split_file, split_of, split_seeds

__all__ = [
    "Action",
    "CATEGORIES",
    "Door",
    "Material",
    "NavGraph",
    "OCTAVE_BANDS_HZ",
    "ROOM_TYPES",
    "Room",
    "Scene",
    "SemanticObject",
    "generate_apartment",
    "get_material",
    "load_scene",
    "load_split_file",
    "material_library",
    "shoebox",
    "polygon_room_mesh",
    "split_of",
    "split_seeds",
    "uniform_material",
]

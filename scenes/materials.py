"""Surface materials: colour for rendering, octave-band absorption and scattering for acoustics.

Absorption coefficients come from pyroomacoustics' table of measured materials
(``pyroomacoustics.parameters.materials_data``, after Vorländer, *Auralization*, 2008),
restricted to the six octave bands 125 Hz – 4 kHz. Tables that stop at 2 kHz are extended by
repeating their last band. pyroomacoustics' scattering table only covers purpose-built diffusers,
so scattering is a single broadband value per material class (smooth hard surfaces 0.1,
furniture 0.3–0.5, soft furnishings 0.6), the usual choice in room-acoustic simulation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Octave-band centre frequencies (Hz) of every ``Material.absorption`` array.
OCTAVE_BANDS_HZ = (125, 250, 500, 1000, 2000, 4000)


@dataclass(frozen=True, eq=False)
class Material:
    """A surface material.

    Attributes:
        name: identifier, e.g. ``"plaster"``.
        rgb: (3,) float64 in [0, 1], the diffuse colour (integers are read as 0–255).
        absorption: (6,) float64 in [0, 1], energy absorption per octave band
            (``OCTAVE_BANDS_HZ``); a single number means the same in every band.
        scattering: broadband scattering coefficient in [0, 1].
    """

    name: str
    rgb: np.ndarray
    absorption: np.ndarray
    scattering: float = 0.1
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        rgb = np.asarray(self.rgb).reshape(-1)
        if np.issubdtype(rgb.dtype, np.integer):
            rgb = rgb / 255.0  # integer 0-255 colour
        rgb = rgb.astype(np.float64)
        if rgb.shape != (3,) or np.any(rgb < 0) or np.any(rgb > 1):
            raise ValueError(f"Material {self.name!r}: rgb must be 3 values in [0, 1], got {self.rgb!r}")
        absorption = np.asarray(self.absorption, dtype=np.float64).reshape(-1)
        if absorption.shape == (1,):
            absorption = np.repeat(absorption, len(OCTAVE_BANDS_HZ))
        if absorption.shape != (len(OCTAVE_BANDS_HZ),) or np.any(absorption < 0) or np.any(absorption > 1):
            raise ValueError(
                f"Material {self.name!r}: absorption must be {len(OCTAVE_BANDS_HZ)} values in [0, 1] "
                f"(octave bands {OCTAVE_BANDS_HZ} Hz), got {self.absorption!r}"
            )
        if not 0.0 <= float(self.scattering) <= 1.0:
            raise ValueError(f"Material {self.name!r}: scattering must be in [0, 1], got {self.scattering!r}")
        rgb.setflags(write=False)
        absorption.setflags(write=False)
        object.__setattr__(self, "rgb", rgb)
        object.__setattr__(self, "absorption", absorption)
        object.__setattr__(self, "scattering", float(self.scattering))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Material):
            return NotImplemented
        return (
            self.name == other.name
            and np.array_equal(self.rgb, other.rgb)
            and np.array_equal(self.absorption, other.absorption)
            and self.scattering == other.scattering
        )

    def __hash__(self) -> int:
        return hash((self.name, self.rgb.tobytes(), self.absorption.tobytes(), self.scattering))

    def with_rgb(self, rgb) -> "Material":
        """A copy with another colour (same acoustics)."""
        return Material(self.name, rgb, self.absorption, self.scattering, self.description)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "rgb": [float(v) for v in self.rgb],
            "absorption": [float(v) for v in self.absorption],
            "scattering": self.scattering,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Material":
        return cls(d["name"], d["rgb"], d["absorption"], d.get("scattering", 0.1))


def _measured_absorption(key: str) -> tuple[np.ndarray, str]:
    """Octave-band absorption 125 Hz–4 kHz of a material in pyroomacoustics' measured table."""
    from pyroomacoustics.parameters import materials_data

    for category in materials_data["absorption"].values():
        if key in category:
            entry = category[key]
            coeffs = list(entry["coeffs"])[: len(OCTAVE_BANDS_HZ)]
            coeffs += [coeffs[-1]] * (len(OCTAVE_BANDS_HZ) - len(coeffs))
            return np.asarray(coeffs, dtype=np.float64), entry.get("description", "")
    raise KeyError(f"pyroomacoustics has no measured material {key!r}")


# name -> (pyroomacoustics table key, default rgb, scattering)
_LIBRARY_SPEC: dict[str, tuple[str, tuple[float, float, float], float]] = {
    # walls
    "plaster": ("hard_surface", (0.86, 0.84, 0.80), 0.1),
    "brick": ("brick_wall_rough", (0.62, 0.33, 0.25), 0.2),
    "concrete": ("rough_concrete", (0.60, 0.60, 0.58), 0.1),
    "plasterboard": ("plasterboard", (0.90, 0.90, 0.88), 0.1),
    "wood_panel": ("wooden_lining", (0.62, 0.45, 0.28), 0.1),
    "ceramic_tile": ("ceramic_tiles", (0.85, 0.88, 0.90), 0.1),
    # floors
    "wood_floor": ("stage_floor", (0.55, 0.38, 0.22), 0.1),
    "carpet": ("carpet_cotton", (0.45, 0.40, 0.50), 0.3),
    "tile_floor": ("marble_floor", (0.80, 0.78, 0.74), 0.1),
    "linoleum": ("linoleum_on_concrete", (0.55, 0.60, 0.55), 0.1),
    # ceiling
    "ceiling": ("ceiling_plasterboard", (0.95, 0.95, 0.94), 0.1),
    # openings and glazing
    "glass": ("glass_window", (0.70, 0.82, 0.88), 0.05),
    "wooden_door": ("wooden_door", (0.50, 0.33, 0.20), 0.1),
    # furniture and soft furnishings
    "wood": ("wood_16mm", (0.58, 0.42, 0.26), 0.3),
    "fabric": ("chairs_upholstered_cloth", (0.35, 0.42, 0.55), 0.6),
    "leather": ("chairs_upholstered_leather", (0.40, 0.25, 0.15), 0.5),
    "curtain": ("curtains_velvet", (0.55, 0.20, 0.25), 0.6),
    "ceramic": ("ceramic_tiles", (0.95, 0.95, 0.95), 0.2),
    "metal": ("hard_surface", (0.75, 0.76, 0.78), 0.2),
    "plant": ("curtains_cotton_0.33", (0.20, 0.55, 0.22), 0.7),
    "screen": ("glass_3mm", (0.08, 0.08, 0.10), 0.05),
}

_library_cache: dict[str, Material] = {}


def material_library() -> dict[str, Material]:
    """Every built-in material by name (a fresh dict; the Materials are immutable)."""
    if not _library_cache:
        for name, (key, rgb, scattering) in _LIBRARY_SPEC.items():
            absorption, description = _measured_absorption(key)
            _library_cache[name] = Material(name, rgb, absorption, scattering, description)
    return dict(_library_cache)


def get_material(name_or_material: "str | Material") -> Material:
    """A built-in material by name, or the given Material unchanged."""
    if isinstance(name_or_material, Material):
        return name_or_material
    library = material_library()
    if not isinstance(name_or_material, str) or name_or_material not in library:
        raise ValueError(
            f"unknown material {name_or_material!r}; built-in materials are: {', '.join(sorted(library))} "
            "(or pass a earshot.scenes.Material)"
        )
    return library[name_or_material]


def uniform_material(absorption: float, scattering: float = 0.1, rgb=(0.8, 0.8, 0.8), name: str | None = None) -> Material:
    """A material with the same absorption in every band (for physics tests, e.g. Eyring RT60)."""
    return Material(name or f"uniform_{absorption:g}", rgb, np.full(len(OCTAVE_BANDS_HZ), float(absorption)), scattering)


#: Material used for faces of a loaded mesh that carries no material information.
DEFAULT_MATERIAL_NAME = "plaster"

"""Convert the MIT KEMAR HRIR set shipped inside slab 1.8.2's wheel into ``acoustics/data/kemar.npz``.

Where the data come from
------------------------
The measurements are the MIT KEMAR HRTFs of Bill Gardner and Keith Martin (MIT Media Lab,
Perceptual Computing Section, 1994): a KEMAR manikin (DB-4004 "normal" pinna) in MIT's
anechoic chamber, a Realistic Optimus Pro 7 loudspeaker at 1.4 m, 710 directions from
-40 to +90 degrees of elevation (10 degree steps; 56 to 72 azimuths per ring, 1 at the zenith),
44.1 kHz, 512-tap HRIRs (the "full" set). The right ear of the "normal pinna" set is the left
ear's measurement at the mirrored azimuth (the original right ear wore the large red pinna),
so the set is exactly left/right symmetric; this script checks that.

    Gardner, W. G., & Martin, K. D. (1995). HRTF measurements of a KEMAR.
        J. Acoust. Soc. Am. 97(6), 3907-3908.
    Gardner, W. G., & Martin, K. D. (1994). HRTF measurements of a KEMAR dummy-head microphone.
        MIT Media Lab Perceptual Computing Technical Report #280.

The copy we convert is the one the ``slab`` package (Marc Schönwiesner, MIT licence) ships in
its wheel as ``slab/data/mit_kemar_normal_pinna.bz2``: a bz2-compressed pickle of a
``slab.hrtf.HRTF`` object, made by slab's authors from the SOFA conversion of the "normal pinna"
set (``mit_kemar_normal_pinna.sofa``, sofaconventions.org). Verified input (slab 1.8.2 from PyPI):

    slab-1.8.2-py3-none-any.whl                 sha256 2ac0a1fcb4ddfaceadaa57606a7ef3ab934ad0b9b833ba53217c275571cb27c3
    slab/data/mit_kemar_normal_pinna.bz2        sha256 61f562a68284ba40899fd66b9d9e976351a41def04e3e826ae4cb3d5c3a7d975

Inside the pickle: ``HRTF.samplerate`` 44100.0, ``HRTF.sources`` (710, 3) float64 (azimuth deg,
elevation deg, distance 1.4 m; SOFA's spherical convention: azimuth counter-clockwise from the
front, 90 = left; elevation up), ``HRTF.listener`` (position/view/up vectors: view +x, up +z),
and ``HRTF.data``: 710 ``slab.filter.Filter`` objects whose ``.data`` is (512 taps, 2 channels)
float64, channel 0 = left ear. The script checks the conventions physically (a source at
azimuth 90 is louder and earlier at channel 0).

Why a pickle is read here, once
-------------------------------
slab distributes the data only as this pickle. Reading it once, in this script, from the
documented and hash-checked source is the accepted route; the result is shipped as a plain
``.npz`` that earshot loads with ``np.load(..., allow_pickle=False)``. The unpickler below is
restricted: it resolves only slab's two classes (to inert stand-ins that just hold attributes;
slab itself is never imported or installed) and numpy's array reconstruction, and refuses any
other global, so the pickle cannot run code. The hashes are checked before unpickling.

Output
------
``acoustics/data/kemar.npz`` (written with ``np.savez_compressed``; 1.25 MB) holding

    hrir          float32 (710, 2, 512)  HRIRs, ear 0 = left, 1 = right, as measured (no equalisation)
    sample_rate   float64 ()             44100.0
    azimuth_deg   float64 (710,)         SOFA convention: counter-clockwise from the front, 90 = left
    elevation_deg float64 (710,)         up positive, -40 .. 90
    distance_m    float64 (710,)         1.4
    receivers     <U5 (2,)               "left", "right"
    name, source, citation, license      <U () strings (provenance)
    wheel_sha256, member_sha256          <U () strings

How to rerun
------------
    python scripts/convert_kemar.py --out outputs/kemar.npz
    python scripts/convert_kemar.py --out acoustics/data/kemar.npz path/to/slab-1.8.2-py3-none-any.whl

Without a wheel it runs ``pip download slab==1.8.2 --no-deps`` into a temporary folder. The
default output is ``outputs/kemar.npz`` under the working directory; replacing the shipped copy
takes ``--out acoustics/data/kemar.npz``.

The output is deterministic (same arrays; the zip container's timestamps may differ).
"""

from __future__ import annotations

import bz2
import hashlib
import importlib
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from earshot.cli import parser_for

WHEEL_NAME = "slab-1.8.2-py3-none-any.whl"
WHEEL_SHA256 = "2ac0a1fcb4ddfaceadaa57606a7ef3ab934ad0b9b833ba53217c275571cb27c3"
MEMBER = "slab/data/mit_kemar_normal_pinna.bz2"
MEMBER_SHA256 = "61f562a68284ba40899fd66b9d9e976351a41def04e3e826ae4cb3d5c3a7d975"
# under the working directory: a script writes into the package only when asked (--out acoustics/data/kemar.npz)
DEFAULT_OUT = Path("outputs") / "kemar.npz"

CITATION = (
    "Gardner, W. G., & Martin, K. D. (1995). HRTF measurements of a KEMAR. "
    "J. Acoust. Soc. Am. 97(6), 3907-3908. "
    "Gardner, W. G., & Martin, K. D. (1994). HRTF measurements of a KEMAR dummy-head microphone. "
    "MIT Media Lab Perceptual Computing Technical Report #280."
)
SOURCE = (
    "MIT KEMAR HRTF measurements, normal pinna, full 512-tap set, 710 directions, 44.1 kHz "
    "(Gardner & Martin, MIT Media Lab, 1994), as shipped in slab 1.8.2 (PyPI wheel "
    f"{WHEEL_NAME}, member {MEMBER}); converted by scripts/convert_kemar.py"
)
LICENSE = (
    "MIT KEMAR data: free to use for any purpose provided the source is cited (Gardner & Martin); "
    "slab: MIT licence, Copyright (c) 2019 Marc Schoenwiesner. See acoustics/data/KEMAR_LICENSE.md."
)


class _Inert:
    """Stand-in for slab's classes: keeps the pickled attributes, has no behaviour."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"unexpected state of type {type(state).__name__}")
        self.__dict__.update(state)


class _HRTF(_Inert):
    pass


class _Filter(_Inert):
    pass


def _numpy_reconstruct():
    for name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(name)._reconstruct
        except (ImportError, AttributeError):
            continue
    raise ImportError("numpy's multiarray._reconstruct not found")


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves slab's HRTF/Filter to inert stand-ins and numpy's array reconstruction; nothing else."""

    def find_class(self, module, name):
        if (module, name) == ("slab.hrtf", "HRTF"):
            return _HRTF
        if (module, name) == ("slab.filter", "Filter"):
            return _Filter
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _numpy_reconstruct()
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in the KEMAR pickle")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(folder: Path) -> Path:
    """``pip download slab==1.8.2 --no-deps`` into ``folder``; the wheel's path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "slab==1.8.2", "--no-deps", "--only-binary=:all:",
                    "-d", str(folder)], check=True)
    return folder / WHEEL_NAME


def read_kemar(wheel: Path) -> dict:
    """The arrays of the KEMAR set inside slab's ``wheel`` (hashes checked before unpickling)."""
    blob = Path(wheel).read_bytes()
    if _sha256(blob) != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 {_sha256(blob)} is not slab 1.8.2's ({WHEEL_SHA256})")
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        member = z.read(MEMBER)
    if _sha256(member) != MEMBER_SHA256:
        raise SystemExit(f"{MEMBER}: unexpected sha256 {_sha256(member)}")
    hrtf = _RestrictedUnpickler(io.BytesIO(bz2.decompress(member))).load()
    if not isinstance(hrtf, _HRTF):
        raise SystemExit(f"the pickle holds a {type(hrtf).__name__}, not slab's HRTF")
    fs = float(hrtf.samplerate)
    sources = np.asarray(hrtf.sources, dtype=np.float64)
    filters = list(hrtf.data)
    if not all(isinstance(f, _Filter) and float(f.samplerate) == fs for f in filters):
        raise SystemExit("HRTF.data must be Filters at the set's sample rate")
    ir = np.stack([np.asarray(f.data, dtype=np.float64).T for f in filters])  # (M, 2, N)
    listener = {k: np.asarray(v, dtype=np.float64) for k, v in hrtf.listener.items()}
    return {"ir": ir, "fs": fs, "sources": sources, "listener": listener}


def check(k: dict) -> None:
    """The facts the docstring states, checked on the data."""
    ir, fs, src, lis = k["ir"], k["fs"], k["sources"], k["listener"]
    assert fs == 44100.0, fs
    assert ir.shape == (710, 2, 512), ir.shape
    assert src.shape == (710, 3), src.shape
    assert np.isfinite(ir).all() and np.isfinite(src).all()
    assert np.allclose(src[:, 2], 1.4), "distance 1.4 m"
    assert src[:, 1].min() == -40 and src[:, 1].max() == 90
    assert np.allclose(lis["view"], [1, 0, 0]) and np.allclose(lis["up"], [0, 0, 1])
    az, el = src[:, 0], src[:, 1]
    assert len({(round(a, 6), round(e, 6)) for a, e in zip(az % 360, el)}) == 710, "distinct directions"

    def at(a, e):
        return int(np.argmin(np.abs((az - a + 180) % 360 - 180) + 10 * np.abs(el - e)))

    # azimuth 90 is left (SOFA, counter-clockwise) and channel 0 is the left ear: louder and earlier there
    left = ir[at(90, 0)]
    energy = (left ** 2).sum(axis=1)
    onset = [int(np.argmax(np.abs(x) > 0.1 * np.abs(x).max())) for x in left]
    assert energy[0] > 10 * energy[1] and onset[0] < onset[1], (energy, onset)
    # the normal-pinna set is left/right symmetric by construction (mirrored left-ear measurements)
    mirror = np.array([at(-a, e) for a, e in zip(az, el)])
    assert np.array_equal(ir[mirror][:, ::-1], ir)


def write(k: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    src = k["sources"]
    np.savez_compressed(
        out,
        hrir=k["ir"].astype(np.float32),
        sample_rate=np.float64(k["fs"]),
        azimuth_deg=src[:, 0].astype(np.float64),
        elevation_deg=src[:, 1].astype(np.float64),
        distance_m=src[:, 2].astype(np.float64),
        receivers=np.array(["left", "right"]),
        name=np.array("MIT KEMAR (normal pinna)"),
        source=np.array(SOURCE),
        citation=np.array(CITATION),
        license=np.array(LICENSE),
        wheel_sha256=np.array(WHEEL_SHA256),
        member_sha256=np.array(MEMBER_SHA256),
    )


def main(argv: list[str] | None = None) -> None:
    how = __doc__.split("How to rerun\n------------\n")[1].split("\n\nThe output is")[0]
    parser = parser_for(__doc__.splitlines()[0] + "\n\n" + how)
    parser.add_argument("wheel", nargs="?", help=f"path to {WHEEL_NAME} (default: pip download it)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output .npz file (default: %(default)s)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = Path(args.wheel) if args.wheel else download_wheel(Path(tmp))
        kemar = read_kemar(wheel)
    check(kemar)
    out = Path(args.out)
    write(kemar, out)
    back = np.load(out, allow_pickle=False)
    assert np.array_equal(back["hrir"], kemar["ir"].astype(np.float32))
    print(f"wrote {out}: {back['hrir'].shape[0]} directions x 2 ears x {back['hrir'].shape[2]} taps at "
          f"{float(back['sample_rate']):.0f} Hz, {out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

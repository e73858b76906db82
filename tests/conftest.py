import atexit
import os
import shutil
import tempfile

import numpy as np
import pytest

# the tests' traced tails go to a folder of this test session, not the user's ~/.cache/earshot (a
# run starts cold and leaves nothing behind); subprocesses inherit it. EARSHOT_CACHE set outside wins.
if "EARSHOT_CACHE" not in os.environ:
    os.environ["EARSHOT_CACHE"] = tempfile.mkdtemp(prefix="earshot-tests-cache-")
    atexit.register(shutil.rmtree, os.environ["EARSHOT_CACHE"], True)

from earshot.scenes import NavGraph, generate_apartment, shoebox


@pytest.fixture(scope="session")
def apartment():
    return generate_apartment(7)


@pytest.fixture(scope="session")
def apartment_graph(apartment):
    return NavGraph.build(apartment)


@pytest.fixture(scope="session")
def room():
    return shoebox(6.0, 4.0, 2.8, "plaster")


def room_with_sofa():
    """An 8 x 6 x 3 m plaster room with one box object, a "sofa", filling x 3.75–4.25, y 2–4,
    z 0–2 (its faces carry the object's index, the room's -1)."""
    import trimesh

    from earshot.scenes import Scene, SemanticObject, get_material

    room = shoebox(8.0, 6.0, 3.0, "plaster")
    sofa = trimesh.creation.box((0.5, 2.0, 2.0), trimesh.transformations.translation_matrix([4.0, 3.0, 1.0]))
    mesh = trimesh.util.concatenate([room.mesh, sofa])
    fo = np.r_[np.full(len(room.mesh.faces), -1), np.zeros(len(sofa.faces), int)]
    obj = SemanticObject("sofa", np.array([4.0, 3.0, 1.0]), np.array([3.75, 2.0, 0.0]), np.array([4.25, 4.0, 2.0]))
    return Scene(mesh, np.zeros(len(mesh.faces), np.int32), [get_material("plaster")], objects=[obj], face_objects=fo)


def gl_or_skip():
    """Skip GL cases where this machine cannot create an EGL context (the reason is shown)."""
    from earshot.scenes.render.gl import egl_available

    ok, detail = egl_available()
    if not ok:
        pytest.skip(f"EGL unavailable here: {detail}")


@pytest.fixture
def rng():
    return np.random.default_rng(0)

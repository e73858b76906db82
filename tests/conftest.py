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


def gl_or_skip():
    """Skip GL cases where this machine cannot create an EGL context (the reason is shown)."""
    from earshot.scenes.render.gl import egl_available

    ok, detail = egl_available()
    if not ok:
        pytest.skip(f"EGL unavailable here: {detail}")


@pytest.fixture
def rng():
    return np.random.default_rng(0)

"""earshot: an audio-visual embodied simulator.

One import namespace over five layers (imports point down only):
``earshot.agents`` → ``earshot.datasets`` → ``earshot.av_env`` → ``earshot.acoustics`` → ``earshot.scenes``.
``import earshot.av_env`` registers the Gymnasium ids ``earshot/...-v0``.
"""

import os as _os

__version__ = "0.1.0"
__all__ = ["__version__"]

# In a source checkout the layers live in the folders beside this one (scenes/, acoustics/,
# av_env/, agents/, datasets/); an installed wheel puts them inside it. Look beside it when they are not.
_here = _os.path.dirname(_os.path.abspath(__file__))
_beside = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "scenes")) and _os.path.isfile(_os.path.join(_beside, "scenes", "__init__.py")):
    __path__.append(_beside)  # noqa: F821 - a package's __path__

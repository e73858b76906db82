"""Compatibility name: the scripts' option helper now lives in ``earshot.cli`` (import it from
there; scripts no longer put this folder on ``sys.path``)."""

from earshot.cli import option, parse_config, run_script, save_config  # noqa: F401

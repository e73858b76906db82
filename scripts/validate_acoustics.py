"""Validate earshot's acoustics.

1. RIRs against pyroomacoustics' hybrid ray tracer on the same geometry (the default)::

    python scripts/validate_acoustics.py --out outputs/acoustics_validation --apartments 4 --rays 20000

For every room of ``--apartments`` held-out test apartments (one source, two receivers per room:
coupled rooms behind doors included) and for the single reference rooms (tiled bathroom,
carpeted room, absorption 0.6, an L-shaped room loaded from a bare mesh file), it measures T30
and EDT at 500 Hz and 1 kHz on earshot's RIRs (the default ray-traced tail, and the older
statistical tail for comparison) and on pyroomacoustics' hybrid RIRs (image sources + rays),
averaged over the room's receivers. Writes ``results.json``, ``table.md``, and two figures:
``t30_edt.png`` (earshot against the reference per room) and ``echograms.png`` (receivers that
cannot see the source: energy envelopes of both, with the shortest path through the doors marked).
Takes ~2 minutes per apartment on one core (the reference is the slow part).

2. The localisation check (``acoustics.localisation``, docs/localisation.md)::

    python scripts/validate_acoustics.py localisation --out outputs/localisation \\
        [--train-scenes 60] [--test-scenes 25] [--heads sphere,kemar] [--features all] [--epochs 12]

From single binaural observations (one env step of a heard sound, per head and audio feature),
small CNNs trained on train-split apartments decode, on held-out test apartments, the source's
azimuth in 8 bins and front/back with line of sight, and the direction of the first arrival (the
path through the door) in 8 bins without it. Writes ``results.json`` and ``table.md`` (accuracy
with 95% CIs bootstrapped over test scenes) and ``features.npz`` (the generated features, reused
by a rerun with the same sampling options; ``--no-cache-features`` to skip).
``python scripts/validate_acoustics.py localisation --help`` lists its options.
"""

import sys

from earshot.cli import parse_config

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "localisation":
        from earshot.acoustics.localisation import LocalisationConfig, run_localisation

        run_localisation(parse_config(LocalisationConfig, description=__doc__, argv=sys.argv[2:]))
    else:
        from earshot.acoustics.validation import ValidateConfig, validate

        validate(parse_config(ValidateConfig, description=__doc__))

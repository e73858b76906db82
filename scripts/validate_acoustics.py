"""Validate earshot's RIRs against pyroomacoustics' hybrid ray tracer on the same geometry.

    python scripts/validate_acoustics.py --out outputs/acoustics_validation [--apartments 4] [--rays 20000]

For every room of ``--apartments`` held-out test apartments (one source, two receivers per room:
coupled rooms behind doors included) and for the single reference rooms (tiled bathroom,
carpeted room, absorption 0.6, an L-shaped room loaded from a bare mesh file), it measures T30
and EDT at 500 Hz and 1 kHz on earshot's RIRs (the default ray-traced tail, and the older
statistical tail for comparison) and on pyroomacoustics' hybrid RIRs (image sources + rays),
averaged over the room's receivers. Writes ``results.json``, ``table.md``, and two figures:
``t30_edt.png`` (earshot against the reference per room) and ``echograms.png`` (receivers that
cannot see the source: energy envelopes of both, with the shortest path through the doors marked).
Takes ~2 minutes per apartment on one core (the reference is the slow part).
"""

from earshot.acoustics.validation import ValidateConfig, validate
from earshot.cli import parse_config

if __name__ == "__main__":
    validate(parse_config(ValidateConfig, description=__doc__))

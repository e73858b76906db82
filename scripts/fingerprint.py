"""Fingerprint what earshot computes, to prove a refactor changed no behaviour.

    python scripts/fingerprint.py --out outputs/fingerprint_before.json     # on the old commit
    python scripts/fingerprint.py --out outputs/fingerprint_after.json      # on the new one
    python scripts/fingerprint.py --compare outputs/fingerprint_before.json outputs/fingerprint_after.json

What is fingerprinted (env rollouts of every task, RIRs, dataset shards, evaluation summaries,
tiny training runs) is listed in ``earshot.agents.fingerprint``.

``--compare`` prints one line per entry (same / DIFFERENT / missing) and exits 1 on any
difference.
"""

import json
import sys
from pathlib import Path

from earshot.agents.fingerprint import compare, fingerprint
from earshot.cli import parser_for


def main() -> int:
    p = parser_for(__doc__)
    p.add_argument("--out", help="write the fingerprint as JSON to this file (default: print it only)")
    p.add_argument("--quick", action="store_true", help="envs and RIRs only (no CLI runs; seconds instead of minutes)")
    p.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="compare two fingerprint JSON files (exit status 1 on any difference)")
    args = p.parse_args()
    if args.compare:
        lines = compare(*(json.loads(Path(f).read_text()) for f in args.compare))
        print("\n".join(lines))
        return 0 if lines[-1].endswith(" 0 different or missing") else 1
    result = fingerprint(args.quick)
    text = json.dumps(result, indent=1, sort_keys=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

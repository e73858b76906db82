"""Every script's ``--help`` (issue 30 item 1): it starts with one example command of that
script, and every option has a help text (not just its default)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from earshot.cli import example_first

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    """{script name: its --help}, all scripts started at once (they are independent)."""
    env = {**os.environ, "COLUMNS": "100"}
    procs = {p.stem: subprocess.Popen([sys.executable, str(p), "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=env, cwd=ROOT) for p in SCRIPTS}
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}.py --help failed: {stderr}"
        out[name] = stdout
    return out


def _options(text: str) -> dict[str, str]:
    """{flags: help text} of the option lists of an argparse --help."""
    entries: dict[str, str] = {}
    current = None
    for line in text.split("\n\n", 1)[1].splitlines():  # past the usage block
        m = re.match(r"^  (-\S.*?)(?:\s{2,}(.*))?$", line)
        if m:
            current = m.group(1)
            entries[current] = m.group(2) or ""
        elif current is not None and line.startswith(" " * 6) and line.strip():
            entries[current] = (entries[current] + " " + line.strip()).strip()
        elif not line.strip() or not line.startswith(" "):
            current = None
    return entries


def test_every_script_help_starts_with_an_example_of_itself(helps):
    assert set(helps) == {p.stem for p in SCRIPTS} and len(helps) >= 10
    for name, text in helps.items():
        after_usage = text.split("\n\n", 1)[1].lstrip("\n").splitlines()
        assert after_usage[0] == "example:", f"{name}.py --help does not start with an example:\n{text[:600]}"
        command = after_usage[1].strip()
        assert re.match(rf"(python|torchrun .*) scripts/{name}\.py( |$)", command), f"{name}.py: {command!r}"
        assert "[" not in command and "#" not in command, f"{name}.py's example is not a runnable command: {command!r}"


def test_every_option_has_a_help_text(helps):
    missing = []
    for name, text in helps.items():
        options = _options(text)
        assert options, f"{name}.py: no options parsed from its --help"
        for flags, help_text in options.items():
            if flags.startswith("-h, --help"):
                continue
            if not help_text or help_text.startswith("(default"):
                missing.append(f"{name}.py {flags}: {help_text!r}")
    assert not missing, "options without a help text:\n" + "\n".join(missing)


def test_example_first_moves_the_first_command_to_the_top():
    doc = "Do a thing.\n\n    python scripts/x.py --a 1   # a comment\n    python scripts/x.py --b 2\n\nMore text.\n"
    text = example_first(doc)
    assert text.startswith("example:\n  python scripts/x.py --a 1\n\nDo a thing.")
    assert "--b 2" in text and text.count("--a 1") == 1
    assert example_first("No example here.") == "No example here."

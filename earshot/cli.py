"""Command-line options of earshot's scripts: a dataclass of options, overridable from the
command line (the one helper every script's thin CLI uses; stdlib only).

Fields declared with ``option(default, help, choices=..., low=..., high=...)`` are validated
as they are parsed: a bad value stops the script with one line naming the option, the value
and what is allowed (argparse's usual exit status 2), and ``--help`` lists the allowed values.
A dataclass may also define ``check(self)``, raising ValueError for rules that join options.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import textwrap
from pathlib import Path

from .files import write_text_atomic


def option(default, help: str = "", *, choices=None, low=None, high=None, nonempty: bool = False, metavar=None):
    """A dataclass field with its command-line help and allowed values (a tuple default: one or
    more strings on the command line)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "low": low,
                                                        "high": high, "nonempty": nonempty, "metavar": metavar})


def _typed(name: str, kind, low, high, nonempty):
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        if kind is float and not math.isfinite(value):  # NaN or ±inf: never a meaningful setting
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if kind is str and nonempty and not value.strip():
            raise argparse.ArgumentTypeError("must not be empty")
        if (low is not None and value < low) or (high is not None and value > high):
            allowed = f"between {low} and {high}" if low is not None and high is not None else (
                f">= {low}" if low is not None else f"<= {high}")
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text}")
        return value

    convert.__name__ = name
    return convert


# an example command in a script's docstring: an indented line that runs python or torchrun
_EXAMPLE = re.compile(r"^[ \t]+((?:python|torchrun) .*)$", re.M)


def json_object(flag: str, text: str) -> dict:
    """The JSON object an option such as ``--env-kwargs`` was given; one clear error naming
    ``flag`` when it is not JSON or not an object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"argument {flag}: not JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise ValueError(f"argument {flag}: must be a JSON object, got {text!r}")
    return value


def example_first(description: str | None) -> str | None:
    """A script's description for ``--help``, starting with its first example command: the first
    indented ``python ...``/``torchrun ...`` line of ``description`` moves to the top, under
    ``example:`` (the rest stays as written). Unchanged when it holds no example."""
    if not description:
        return description
    match = _EXAMPLE.search(description)
    if match is None:
        return description
    command = re.sub(r"\s+#.*$", "", match.group(1)).rstrip()  # without a trailing shell comment
    if command.endswith("\\"):  # a command continued on the next line: keep it whole
        end = description.find("\n", match.end() + 1)
        rest = description[match.end() + 1:end if end >= 0 else None].strip()
        command, stop = f"{command[:-1].rstrip()} {rest}", (end if end >= 0 else len(description))
    else:
        stop = match.end()
    before = description[:match.start()].rstrip()
    if before.endswith(":"):  # the text introduces this command where it stands: keep it there too
        body = description.strip("\n")
    else:
        body = re.sub(r"\n{3,}", "\n\n", (description[:match.start()] + description[stop:]).strip("\n"))
    return f"example:\n  {command}\n\n{body}"


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help with the description's layout kept: paragraphs (blank-line separated) and
    list items (``- ``, ``1. ``) are filled to the terminal width; indented command lines
    (``python ...``, ``torchrun ...``) are kept as written, so they can be copied."""

    def _fill_text(self, text, width, indent):
        out: list[str] = []
        prose: list[str] = []

        def flush():
            if prose:
                item = re.match(r"(- |\d+\. )", prose[0])  # a list item's lines hang under its text
                hang = indent + " " * (len(item.group(1)) if item else 0)
                out.extend(textwrap.wrap(" ".join(prose), width, initial_indent=indent, subsequent_indent=hang)
                           or [indent])
                prose.clear()

        verbatim = False
        for line in textwrap.dedent(text).splitlines():
            stripped = line.strip()
            if not stripped:
                flush()
                out.append("")
                verbatim = False
            elif verbatim or (line[:1].isspace() and _EXAMPLE.match(line)) or stripped == "example:":
                flush()
                out.append(indent + line.rstrip())
                verbatim = stripped.endswith("\\")
            else:
                if re.match(r"(- |\d+\. )", stripped):
                    flush()
                prose.append(stripped)
        flush()
        return "\n".join(out).strip("\n")


def parser_for(description: str | None = None, **kwargs) -> argparse.ArgumentParser:
    """An ``argparse.ArgumentParser`` laid out as every earshot script's: ``--help`` starts with
    the description's first example command (``example_first``) and keeps command lines whole."""
    return argparse.ArgumentParser(description=example_first(description), formatter_class=HelpFormatter, **kwargs)


def parse_config(cls, description: str, argv=None):
    """Build ``cls`` (a dataclass) from defaults overridden by ``--field value`` arguments."""
    parser = parser_for(description)
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        meta = f.metadata
        flag = f"--{f.name.replace('_', '-')}"
        kind = type(default)
        text = meta.get("help", "")
        allowed = ""
        if meta.get("choices"):
            allowed = f"; one of {', '.join(str(c) if c != '' else repr('') for c in meta['choices'])}"
        elif meta.get("low") is not None or meta.get("high") is not None:
            low, high = meta.get("low"), meta.get("high")
            allowed = f"; {low} to {high}" if low is not None and high is not None else (
                f"; >= {low}" if low is not None else f"; <= {high}")
        help_text = f"{text}{allowed} (default: {default if default != '' else repr('')})".lstrip("; ")
        if kind is bool:
            parser.add_argument(flag, dest=f.name, default=default, action=argparse.BooleanOptionalAction, help=help_text)
        elif kind is tuple:  # one or more values (strings), e.g. --meshes a.glb b.ply
            help_text = f"{text} (default: none)" if not default else help_text
            parser.add_argument(flag, dest=f.name, default=default, nargs="+", type=_typed(f.name, str, None, None, True),
                                metavar=meta.get("metavar") or f.name.upper(), help=help_text)
        else:
            converter = _typed(f.name, kind if kind in (int, float, str) else str, meta.get("low"), meta.get("high"),
                               meta.get("nonempty", False))
            parser.add_argument(flag, dest=f.name, default=default, type=converter, choices=meta.get("choices"),
                                help=help_text)
    values = vars(parser.parse_args(argv))
    config = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    check = getattr(config, "check", None)
    if check is not None:
        try:
            check()
        except ValueError as exc:
            parser.error(str(exc))
    return config


def save_config(config, directory: Path) -> Path:
    """Write the resolved config as JSON (``directory/config.json``) next to a run's outputs, atomically."""
    return write_text_atomic(Path(directory) / "config.json", json.dumps(dataclasses.asdict(config), indent=2) + "\n")


def run_script(main, cls, description: str, interrupted: str = "interrupted") -> None:
    """``main(parse_config(cls, description))`` as a command: Ctrl-C prints ``interrupted`` and
    exits 130; a ValueError, ImportError or FileNotFoundError (bad input, a missing optional
    dependency or file) prints one ``error:`` line and exits 2."""
    import sys

    try:
        main(parse_config(cls, description))
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        sys.exit(130)
    except (ValueError, ImportError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


__all__ = ["HelpFormatter", "example_first", "json_object", "option", "parse_config", "parser_for", "run_script", "save_config"]

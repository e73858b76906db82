"""Atomic writes: the one place earshot writes a file or folder so that a reader (another
process, or the next run after a kill) sees the whole old version or the whole new one, never a
part. The temporary name is ``.<name>.<pid>[.<tag>].tmp`` beside the target (so the rename stays
on one file system, and ``acoustics.cache`` can tell a dead process's leftovers by the pid)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_name(path: Path, tag: str = "") -> Path:
    """``.<name>.<pid>[.<tag>].tmp`` in ``path``'s folder."""
    return path.with_name(f".{path.name}.{os.getpid()}{'.' + tag if tag else ''}.tmp")


@contextmanager
def atomic_path(path: str | os.PathLike, tag: str = "", *, mkdir: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on leaving without an error it is renamed onto ``path``,
    on an error it is removed and ``path`` is left as it was.

    >>> with atomic_path("out/x.png") as tmp:
    ...     image.save(tmp, format="PNG")
    """
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path, tag)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, *, fsync: bool = True) -> Path:
    """``data`` to ``path`` through a (flushed and fsync'ed) temporary file and a rename."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    return path


def write_text_atomic(path: str | os.PathLike, text: str, *, fsync: bool = False) -> Path:
    """UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"), fsync=fsync)


def write_json_atomic(path: str | os.PathLike, value, *, indent: int | None = 2, sort_keys: bool = True) -> Path:
    """``value`` as JSON to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(value, indent=indent, sort_keys=sort_keys))


def write_dir_atomic(path: str | os.PathLike, fill: Callable[[Path], None]) -> Path:
    """A folder at ``path`` made whole by ``fill(tmp_folder)`` and renamed into place; an earlier
    folder of that name is moved aside (``.<name>.<pid>.old.tmp``) only once the new one is
    complete, and removed once the new one is in place."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(final)
    old = temporary_name(final, "old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        fill(tmp)
        # a folder cannot be renamed over a non-empty one: move the old aside first, so that a
        # kill between the two renames leaves it whole under the hidden name, never deleted
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


__all__ = ["atomic_path", "temporary_name", "write_bytes_atomic", "write_dir_atomic", "write_json_atomic",
           "write_text_atomic"]

"""Where every command's JSON goes (docs/cli.md: ``--json FILE``, or ``--json -`` for stdout).

Example::

    write_json("-", {"allocation": {"a": 3}})   # prints the JSON to stdout
    check_writable(args.json)                    # before a long run: fail now, not at its end
"""

from __future__ import annotations

import json
import os
import sys

from farod.errors import FarodError


def write_json(path: str, data) -> None:
    """Write ``data`` as indented JSON to ``path`` (``-``: stdout), creating its folder if needed."""
    text = json.dumps(data, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    try:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise _cannot_write("--json", path, exc) from None


def check_writable(path: str | None, flag: str = "--json") -> None:
    """Refuse now, in one line, an output path that could not be written at the end of a long run."""
    if not path or path == "-":
        return
    existed = os.path.exists(path)
    try:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
        if not existed:
            os.remove(path)
    except OSError as exc:
        raise _cannot_write(flag, path, exc) from None


def _cannot_write(flag: str, path: str, exc: OSError) -> FarodError:
    return FarodError(f"{flag}: cannot write {path}: {exc.strerror}")

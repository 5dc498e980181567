"""Where every command's JSON goes (docs/cli.md: ``--json FILE``, or ``--json -`` for stdout).

Example::

    write_json("-", {"allocation": {"a": 3}})   # prints the JSON to stdout
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
        raise FarodError(f"--json: cannot write {path}: {exc.strerror}") from None

"""YAML in, one-line errors out: how every farod config (daemon, simulator, ConfigMap edit) is read.

Example::

    >>> parse_yaml("quota: {cpu: 8}", source="farod.yaml")
    {'quota': {'cpu': 8}}
    >>> parse_yaml("jobs: [1", source="farod.yaml")
    Traceback (most recent call last):
    farod.errors.FarodError: farod.yaml:1: not valid YAML (expected ',' or ']', but got '<stream end>')

JSON is YAML, so JSON files read the same way. Errors name the file and line, never a traceback.
"""

from __future__ import annotations

import os

import yaml

from farod.errors import FarodError


def parse_yaml(text: str, *, source: str):
    """Parse YAML ``text``; a syntax error raises FarodError naming ``source`` and the line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FarodError(f"{where}: not valid YAML ({problem})") from None


def read_yaml(path: str | os.PathLike, *, what: str = "config"):
    """Read and parse a YAML (or JSON) file; unreadable files raise FarodError naming ``what``."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise FarodError(f"{path}: cannot read {what}: {exc.strerror}") from None
    return parse_yaml(text, source=str(path))

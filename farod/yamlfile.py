"""YAML and JSON in, one-line errors out: how every farod document (config, ConfigMap edit, plan) is read.

Example::

    >>> parse_yaml("quota: {cpu: 8}", source="farod.yaml")
    {'quota': {'cpu': 8}}
    >>> parse_yaml("jobs: [1", source="farod.yaml")
    Traceback (most recent call last):
    farod.errors.FarodError: farod.yaml:1: not valid YAML (expected ',' or ']', but got '<stream end>')
    >>> parse_yaml("quota: 1\\nquota: 2", source="farod.yaml")
    Traceback (most recent call last):
    farod.errors.FarodError: farod.yaml:2: duplicate key 'quota'

Whatever the bytes, the answer is a value or one :class:`FarodError` line naming the file: text that
is not UTF-8, a key given twice (YAML and JSON would silently keep the last one), nesting deeper than
:data:`MAX_DEPTH`, aliases expanding past :data:`MAX_NODES` values, numbers too long to read, and
JSON's ``NaN``/``Infinity`` or numbers beyond a float's range are all refused.
"""

from __future__ import annotations

import json
import os
import sys

import yaml

from farod.errors import FarodError

MAX_DEPTH = 32  # nesting levels; farod's documents need 6
MAX_NODES = 1_000_000  # values after alias expansion (a "billion laughs" document stops here)


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping key given twice."""

    def construct_mapping(self, node, deep=False):
        keys = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in keys
                keys.add(key)
            except TypeError:
                continue  # unhashable: the base class reports it
            if duplicate:
                raise FarodError(f"{self.name}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, *, source: str):
    """Parse YAML ``text``; any problem raises FarodError naming ``source`` and, when known, the line."""
    loader = None
    try:
        loader = _UniqueKeyLoader(text)  # reads the stream: a NUL or other unprintable character fails here
        loader.name = source
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FarodError(f"{where}: not valid YAML ({problem})") from None
    except RecursionError:
        raise FarodError(f"{source}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # int() of a number with thousands of digits
        raise FarodError(f"{source}: a value cannot be read ({str(exc).splitlines()[0][:80]})") from None
    finally:
        if loader is not None:
            loader.dispose()
    check_shape(data, source=source)
    return data


def parse_json(text: str, *, source: str):
    """Parse JSON ``text`` strictly: no duplicate keys, no NaN/Infinity, numbers within a float's range."""
    try:
        data = json.loads(text, object_pairs_hook=_unique_pairs(source), parse_constant=_no_constant(source),
                          parse_float=_finite(source), parse_int=_bounded_int(source))
    except json.JSONDecodeError as exc:
        raise FarodError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise FarodError(f"{source}: nested deeper than {MAX_DEPTH} levels") from None
    check_shape(data, source=source)
    return data


def read_text(path: str | os.PathLike, *, what: str) -> str:
    """A file's text (``-``: standard input); unreadable or non-UTF-8 files raise FarodError naming ``what``."""
    try:
        if str(path) == "-":
            stdin = getattr(sys.stdin, "buffer", None)  # a test's StringIO has no bytes underneath
            raw = stdin.read() if stdin is not None else sys.stdin.read().encode("utf-8", "surrogateescape")
        else:
            with open(path, "rb") as handle:
                raw = handle.read()
    except OSError as exc:
        raise FarodError(f"{path}: cannot read {what}: {exc.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FarodError(f"{path}:{line}: {what} is not UTF-8 text (byte 0x{raw[exc.start]:02x})") from None


def read_yaml(path: str | os.PathLike, *, what: str = "config"):
    """Read and parse a YAML (or JSON) file; any problem raises FarodError naming the file."""
    return parse_yaml(read_text(path, what=what), source=str(path))


def check_shape(data, *, source: str) -> None:
    """Refuse documents nested deeper than MAX_DEPTH or holding more than MAX_NODES values (iteratively)."""
    stack, nodes = [(data, 1)], 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise FarodError(f"{source}: nested deeper than {MAX_DEPTH} levels")
        if nodes > MAX_NODES:
            raise FarodError(f"{source}: more than {MAX_NODES} values (aliases expanding?)")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def _unique_pairs(source: str):
    def build(pairs):
        result = {}
        for key, value in pairs:
            if key in result:
                raise FarodError(f"{source}: duplicate key {key!r}")
            result[key] = value
        return result

    return build


def _no_constant(source: str):
    def refuse(name: str):
        raise FarodError(f"{source}: {name} is not a JSON number; give a finite number")

    return refuse


def _finite(source: str):
    def parse(text: str) -> float:
        value = float(text)
        if value in (float("inf"), float("-inf")):
            raise FarodError(f"{source}: {text[:40]} is beyond a float's range")
        return value

    return parse


def _bounded_int(source: str):
    def parse(text: str) -> int:
        if len(text.lstrip("-")) > 300:
            raise FarodError(f"{source}: an integer of {len(text)} digits is beyond a float's range")
        return int(text)

    return parse

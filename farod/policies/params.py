"""Policy parameters: declared once as a dataclass, validated at the boundary, named in every error.

Example::

    >>> @dataclasses.dataclass(frozen=True, kw_only=True)
    ... class Params:
    ...     upscale_delay_s: float = 30.0
    >>> parse("aiad", Params, {"upscale_delay_s": "45"})
    Params(upscale_delay_s=45.0)
    >>> parse("aiad", Params, {"upscale_delay": 45})
    Traceback (most recent call last):
    ...
    farod.errors.FarodError: policy aiad: unknown parameter 'upscale_delay' (known: upscale_delay_s)

Parameters arrive from YAML, JSON or ``--param key=value`` flags, so strings are converted to the type of
the field's default. A policy's ``Params`` dataclass is its documentation: every field has a default and
a comment, and its ``__post_init__`` checks ranges with :func:`farod.errors.require`, whose message names the field.
Policies derive from :class:`Configured`, which keeps the parameters and takes the cadence from them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, TypeVar

from farod.errors import FarodError
from farod.jobs import JobSpec
from farod.policies.base import Policy

P = TypeVar("P")


class Configured(Policy):
    """A policy built from a ``Params`` dataclass: keeps it (the daemon logs it) and takes its cadence."""

    def __init__(self, *, jobs: Mapping[str, JobSpec], params: Any):
        super().__init__(jobs=jobs)
        self.params = params
        self.tick_interval_s = params.tick_interval_s
        self.plan_interval_s = getattr(params, "plan_interval_s", None)


def parse(policy: str, params_class: type[P], values: Mapping[str, Any] | None) -> P:
    """Build ``params_class`` from ``values``; unknown names and bad values raise one FarodError line."""
    fields = {field.name: field for field in dataclasses.fields(params_class)}
    converted = {}
    for name, value in (values or {}).items():
        if name not in fields:
            raise FarodError(f"policy {policy}: unknown parameter {name!r} (known: {', '.join(sorted(fields))})")
        converted[name] = _convert(policy, name, value, _default(fields[name]))
    try:
        return params_class(**converted)
    except FarodError as exc:
        raise FarodError(f"policy {policy}: {exc}") from None




def _default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _convert(policy: str, name: str, value: Any, default: Any) -> Any:
    """Coerce ``value`` to the type of ``default`` (bool, int, float, str or a tuple of floats)."""
    try:
        if isinstance(default, bool):
            return _to_bool(value)
        if isinstance(default, tuple):
            items = [item for item in value.split(",") if item.strip()] if isinstance(value, str) else list(value)
            return tuple(float(item) for item in items)
        if isinstance(default, int):
            number = float(value)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if isinstance(default, float) or default is None:
            number = float(value)
            if math.isnan(number):
                raise ValueError
            return number
        return str(value)
    except (TypeError, ValueError):
        kind = "a comma-separated list of numbers" if isinstance(default, tuple) else type(default).__name__
        raise FarodError(f"policy {policy}: parameter {name} must be {kind}, got {value!r}") from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise ValueError(value)

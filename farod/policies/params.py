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
    farod.errors.FieldError: policy aiad: unknown parameter 'upscale_delay' (known: upscale_delay_s)

Parameters arrive from YAML, JSON or ``--param key=value`` flags, so strings are converted to the type of
the field (pydantic's lax mode; a list of numbers may be one comma-separated string). Every number is
finite and bounded: at most 1e6 in its unit, a day for a duration (a name ending in ``_s``), 10 000 for
an integer (steps, checks, replicas). A policy's ``Params`` dataclass is its documentation: every field has a default and
a comment, and its ``__post_init__`` checks ranges with :func:`farod.errors.require`, whose message names the field.
Policies derive from :class:`Configured`, which keeps the parameters and takes the cadence from them.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from farod.errors import FarodError, FieldError
from farod.jobs import JobSpec
from farod.policies.base import Policy
from farod.schema import DAY_S, validate

P = TypeVar("P")


class Configured(Policy):
    """A policy built from a ``Params`` dataclass: keeps it (the daemon logs it) and takes its cadence."""

    def __init__(self, *, jobs: Mapping[str, JobSpec], params: Any):
        super().__init__(jobs=jobs)
        self.params = params
        self.tick_interval_s = params.tick_interval_s
        self.plan_interval_s = getattr(params, "plan_interval_s", None)


def parse(policy: str, params_class: type[P], values: Mapping[str, Any] | None) -> P:
    """Build ``params_class`` from ``values``; unknown names and bad values raise one line naming the policy.

    The error is a :class:`~farod.errors.FieldError` whose ``field`` is the parameter (``quantile``,
    ``forecaster_params.window``), so a config file can report it under its own path instead.
    """
    fields = {field.name for field in dataclasses.fields(params_class)}
    for name in values or {}:
        if name not in fields:
            raise unknown_parameter(policy, name, fields)
    try:
        checked = validate(_schema(params_class), values or {})
        return params_class(**checked.model_dump(exclude_unset=True))
    except FarodError as exc:
        raise FieldError(*_field_and_problem(exc, fields), f"policy {policy}: {exc}") from None


def unknown_parameter(policy: str, name: str, known: Iterable[str]) -> FieldError:
    choices = ", ".join(sorted(known))
    return FieldError(name, f"unknown parameter of {policy} (known: {choices})",
                      f"policy {policy}: unknown parameter {name!r} (known: {choices})")


def _field_and_problem(exc: FarodError, fields: set[str]) -> tuple[str, str]:
    """The schema says ``field: problem``; a ``__post_init__`` check says ``field problem``."""
    if isinstance(exc, FieldError):
        return exc.field, exc.problem
    message = str(exc)
    for separator in (": ", " "):
        field, _, problem = message.partition(separator)
        if field.split("[")[0] in fields:
            return field, problem
    return "", message


@functools.cache
def _schema(params_class: type) -> type[BaseModel]:
    """A pydantic model of the dataclass's fields: lax types (strings convert), finite, bounded."""
    hints = typing.get_type_hints(params_class)
    fields = {field.name: (_bounded(field.name, hints[field.name]), None) for field in dataclasses.fields(params_class)}
    return create_model(f"{params_class.__name__}Schema", __config__=_LAX, **fields)


_LAX = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
MAX_NUMBER = 1e6  # any numeric parameter, in its own unit
MAX_COUNT = 10_000  # any integer parameter (steps, checks, replicas)
MAX_DURATION_S = DAY_S  # any parameter named ``*_s``


def _bounded(name: str, annotation: Any) -> Any:
    if annotation is float:
        top = MAX_DURATION_S if name.endswith("_s") else MAX_NUMBER
        return Annotated[float, Field(ge=-MAX_NUMBER, le=top)]
    if annotation is int:
        return Annotated[int, Field(ge=-MAX_COUNT, le=MAX_COUNT)]
    if typing.get_origin(annotation) is tuple:
        return Annotated[tuple[Annotated[float, Field(ge=-MAX_NUMBER, le=MAX_NUMBER)], ...],
                         BeforeValidator(_comma_separated)]
    return annotation


def _comma_separated(value: Any) -> Any:
    """``--param headroom_quantiles=0.7,0.8`` arrives as one string."""
    return [item for item in value.split(",") if item.strip()] if isinstance(value, str) else value

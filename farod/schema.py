"""The one way farod declares and checks its input documents: pydantic models, one-line errors.

Example::

    >>> class Server(Model):
    ...     port: integer(ge=1, le=65535) = 8080
    >>> validate(Server, {"port": 70000})
    Traceback (most recent call last):
    farod.errors.FarodError: port: must be <= 65535, got 70000
    >>> validate(Server, {"port": 80, "prot": 1}, where="server")
    Traceback (most recent call last):
    farod.errors.FarodError: server.prot: unknown field

Every reader (daemon config, ConfigMap edits, simulation config, policy parameters, plan files)
declares its document with :class:`Model` and the field types below, and :func:`validate` turns the
first problem into one :class:`FarodError` line: the field's path (``jobs[0].slo_ms``), what was
expected, and what was given. Numbers are finite and bounded; an upper bound (``le``) keeps absurd
values such as ``timeout_s: 1e300`` out of code that would overflow on them. Unknown keys are errors:
a typo must not silently fall back to a default. A ``null`` field means "not given" (the default).
This module imports nothing of farod but its errors, so every layer can use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from farod.errors import FarodError

M = TypeVar("M", bound=BaseModel)
DAY_S = 86400.0


class Model(BaseModel):
    """A frozen document section: unknown keys refused, ``null`` values treated as absent."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False,
                              arbitrary_types_allowed=True)

    @model_validator(mode="before")
    @classmethod
    def _absent_nulls(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if value is not None}
        if isinstance(data, BaseModel):
            return data
        raise PydanticCustomError("farod", "must be a mapping, got {kind}", {"kind": type(data).__name__})


def validate(model: type[M], data: Any, *, where: str = "") -> M:
    """``data`` as ``model``, or a one-line FarodError naming the first bad field under ``where``."""
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        raise FarodError(one_line(exc, where=where)) from None
    except RecursionError:
        raise FarodError(f"{where or 'document'}: nested too deeply") from None


def one_line(exc: ValidationError, *, where: str = "") -> str:
    """The first error of ``exc`` as ``path: expected, got value``."""
    error = exc.errors(include_url=False)[0]
    loc = [part for part in error["loc"] if not _is_branch_tag(part)]
    ctx = error.get("ctx") or {}
    if "field" in ctx:  # a check across fields, reported on the field it names
        loc.extend(ctx["field"] if isinstance(ctx["field"], tuple) else (ctx["field"],))
    return f"{path(where, *loc)}: {_expected(error)}"


def path(*parts: Any) -> str:
    """``jobs``, ``0``, ``slo_ms`` -> ``jobs[0].slo_ms`` (empty parts skipped)."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "":
            text += f".{part}" if text else str(part)
    return text or "document"


def _is_branch_tag(part: Any) -> bool:
    """pydantic names union branches and validator functions in the location; users never see them."""
    return isinstance(part, str) and (part.startswith(("function-", "json-or-python")) or part in ("none", "[key]"))


_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "bool_type": "must be true or false, got {shown}",
    "string_type": "must be a string, got {shown}",
    "dict_type": "must be a mapping, got {kind}",
    "model_type": "must be a mapping, got {kind}",
    "model_attributes_type": "must be a mapping, got {kind}",
    "list_type": "must be a list, got {kind}",
    "tuple_type": "must be a list, got {kind}",
    "too_short": "must be a non-empty list",
    "too_long": "must have at most {most} items",
    "literal_error": "must be one of {choices}, got {shown}",
    "string_too_short": "must be a non-empty string, got {shown}",
    "greater_than": "must be > {gt}, got {shown}",
    "greater_than_equal": "must be >= {ge}, got {shown}",
    "less_than": "must be < {lt}, got {shown}",
    "less_than_equal": "must be <= {le}, got {shown}",
    "finite_number": "must be a number, got {shown}",
    "float_type": "must be a number, got {shown}",
    "float_parsing": "must be a number, got {shown}",
    "int_type": "must be an integer, got {shown}",
    "int_parsing": "must be an integer, got {shown}",
    "int_from_float": "must be an integer, got {shown}",
    "bool_parsing": "must be true or false, got {shown}",
}


def _expected(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "farod":  # our own validators word their messages themselves
        return error["msg"]
    if kind not in _MESSAGES:
        return f"{error['msg'].replace('Input should be', 'must be')}, got {show(value)}"
    ctx = error.get("ctx") or {}
    choices = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
    bounds = {name: f"{ctx[name]:g}" if isinstance(ctx.get(name), (int, float)) else ctx.get(name)
              for name in ("gt", "ge", "lt", "le")}
    return _MESSAGES[kind].format(shown=show(value), kind=type(value).__name__, choices=choices,
                                  most=ctx.get("max_length"), **bounds)


def show(value: Any, *, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (a 400-digit integer or a huge list stays one short line)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        return f"an integer of {len(str(abs(value))) if value.bit_length() < 10_000 else 'over 3000'} digits"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail(message: str, value: Any) -> PydanticCustomError:
    return PydanticCustomError("farod", "{message}, got {shown}", {"message": message, "shown": show(value)})


def fail(message: str, *, field: str | tuple | None = None) -> PydanticCustomError:
    """An error for a check across fields (raise it from a model validator), reported on ``field``
    (a name, or a path such as ``("jobs", 1, "min_replicas")``)."""
    return PydanticCustomError("farod", "{message}", {"message": message, **({"field": field} if field else {})})


def _bound_words(gt: float | None, ge: float | None, le: float | None, lt: float | None = None) -> dict:
    schema: dict[str, Any] = {} if lt is None else {"exclusiveMaximum": lt}
    if gt is not None:
        schema["exclusiveMinimum"] = gt
    if ge is not None:
        schema["minimum"] = ge
    if le is not None:
        schema["maximum"] = le
    return schema


def _check_bounds(value: float, given: Any, *, gt=None, ge=None, le=None, lt=None, kind: str = "") -> None:
    """Raise naming the first bound ``value`` breaks; ``given`` is what the user wrote (shown as is)."""
    if gt is not None and lt is not None and not gt < value < lt:
        raise _fail(f"must be in ({gt:g}, {lt:g})", given)
    if gt is not None and not value > gt:
        raise _fail(f"must be {kind}> {gt:g}", given)
    if ge is not None and not value >= ge:
        raise _fail(f"must be {kind}>= {ge:g}", given)
    if le is not None and not value <= le:
        raise _fail(f"must be <= {le:g}", given)


def number(*, gt: float | None = None, ge: float | None = None, le: float | None = None,
           lt: float | None = None, optional: bool = False) -> Any:
    """A finite number (an int is fine) within the bounds, as a float; ``optional``: ``None`` allowed."""

    def check(value: Any) -> float | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail("must be a number" + _quoted_number_hint(value), value)
        try:
            number = float(value)
        except OverflowError:
            raise _fail("must be a number", value) from None
        if not math.isfinite(number):
            raise _fail("must be a number", value)
        _check_bounds(number, value, gt=gt, ge=ge, le=le, lt=lt)
        return number

    schema = {"type": ["number", "null"] if optional else "number", **_bound_words(gt, ge, le, lt)}
    return Annotated[float | None if optional else float, PlainValidator(check), WithJsonSchema(schema)]


def _quoted_number_hint(value: Any) -> str:
    """YAML 1.1 reads ``1e3`` (no dot) as text; say so instead of leaving the user puzzled."""
    if not isinstance(value, str) or "e" not in value.lower():
        return ""
    try:
        float(value)
    except ValueError:
        return ""
    return " (YAML reads 1e3 without a dot as text: write 1000 or 1.0e3)"


def integer(*, ge: int | None = None, le: int | None = None, optional: bool = False) -> Any:
    """A whole number within the bounds; ``optional``: ``None`` allowed."""

    def check(value: Any) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(f"must be an integer{f' >= {ge}' if ge is not None else ''}", value)
        _check_bounds(value, value, ge=ge, le=le, kind="an integer ")
        return value

    schema = {"type": ["integer", "null"] if optional else "integer", **_bound_words(None, ge, le)}
    return Annotated[int | None if optional else int, PlainValidator(check), WithJsonSchema(schema)]


def text(*, pattern_check=None, optional: bool = False, max_length: int = 253, schema: dict | None = None) -> Any:
    """A non-empty string without control characters; ``pattern_check(value)`` may add a rule (a message or None)."""

    def check(value: Any) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise _fail("must be a non-empty string", value)
        if len(value) > max_length:
            raise _fail(f"must be at most {max_length} characters", value)
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise _fail("must not contain control characters (NUL, newline, ...)", value)
        problem = pattern_check(value) if pattern_check else None
        if problem:
            raise _fail(problem, value)
        return value

    json_schema = {"type": ["string", "null"] if optional else "string", "minLength": 1, "maxLength": max_length,
                   "pattern": "^[^\\x00-\\x1f\\x7f]+$", **(schema or {})}
    return Annotated[str | None if optional else str, PlainValidator(check), WithJsonSchema(json_schema)]


def amounts(*, gt: float | None = None, ge: float | None = 0.0, le: float | None = None, optional: bool = False,
            allow_empty: bool = False, empty_message: str = "must name at least one resource") -> Any:
    """A mapping of resource names to amounts within the bounds, e.g. ``{cpu: 1, gpu: 0.5}``."""
    amount = number(gt=gt, ge=ge, le=le)

    def check(value: Any) -> dict[str, float] | None:
        if value is None and optional:
            return None
        if not isinstance(value, Mapping):
            raise _fail("must be a mapping of resource -> amount", value)
        if not value and not allow_empty:
            raise PydanticCustomError("farod", "{message}", {"message": empty_message})
        return {_resource_name(name): _amount(amount, name, item) for name, item in value.items()}

    schema = {"type": "object", "additionalProperties": _json_schema_of(amount),
              **({} if allow_empty else {"minProperties": 1})}
    return Annotated[dict[str, float] | None if optional else dict[str, float], PlainValidator(check),
                     WithJsonSchema(schema)]


def _resource_name(name: Any) -> str:
    if not isinstance(name, str) or not name or any(ord(c) < 33 for c in name):
        raise _fail("resource names must be non-empty strings without spaces", name)
    return name


def _amount(amount_type: Any, name: str, value: Any) -> float:
    check = amount_type.__metadata__[0].func
    try:
        return check(value)
    except PydanticCustomError as exc:
        raise PydanticCustomError("farod", "{message}", {"message": exc.message(), "field": name}) from None


def _json_schema_of(annotated: Any) -> dict:
    return next(item.json_schema for item in annotated.__metadata__ if isinstance(item, WithJsonSchema))


def nested(model: type[M], build: Any, result: type) -> Any:
    """A field checked as ``model`` (errors keep their path inside it), stored as ``build(checked)``.

    For document sections whose result is a type of another layer (e.g. a job spec).
    """

    def check(value: Any) -> Any:
        try:
            checked = model.model_validate(value)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            loc = tuple(part for part in error["loc"] if not _is_branch_tag(part))
            field = (error.get("ctx") or {}).get("field")
            loc += (field if isinstance(field, tuple) else (field,)) if field else ()
            raise PydanticCustomError("farod", "{message}", {"message": _expected(error), "field": loc}) from None
        return build(checked)

    return Annotated[result, PlainValidator(check), WithJsonSchema(model.model_json_schema())]


def first_duplicate(items: Sequence[Any]) -> tuple[int, int] | None:
    """``(earlier, later)`` indexes of the first repeated item, or None."""
    seen: dict[Any, int] = {}
    for index, item in enumerate(items):
        if item in seen:
            return seen[item], index
        seen[item] = index
    return None

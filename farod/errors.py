"""The one exception type a user is meant to read.

Anything wrong with user input (a config field, a trace line, a CLI flag, a plan file) raises
:class:`FarodError` with a single line that names what is wrong. The CLI prints that line and exits
non-zero; it never shows a traceback for bad input. Code that reacts to bad input at run time (the
daemon) holds the current replicas instead of guessing.
"""


class FarodError(Exception):
    """Bad input, explained in one line that names the offending field, flag or line."""


class FieldError(FarodError):
    """Bad input in one named field, the field and the problem kept apart: a reader that nests the
    field in a larger document (a config section) reports it under its own path."""

    def __init__(self, field: str, problem: str, message: str | None = None):
        super().__init__(message or f"{field}: {problem}")
        self.field = field
        self.problem = problem


def require(condition: bool, message: str) -> None:
    """Raise :class:`FarodError` with ``message`` unless ``condition`` holds (boundary checks)."""
    if not condition:
        raise FarodError(message)

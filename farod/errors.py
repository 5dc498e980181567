"""The one exception type a user is meant to read.

Anything wrong with user input (a config field, a trace line, a CLI flag, a plan file) raises
:class:`FarodError` with a single line that names what is wrong. The CLI prints that line and exits
non-zero; it never shows a traceback for bad input. Code that reacts to bad input at run time (the
daemon) holds the current replicas instead of guessing.
"""


class FarodError(Exception):
    """Bad input, explained in one line that names the offending field, flag or line."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`FarodError` with ``message`` unless ``condition`` holds (boundary checks)."""
    if not condition:
        raise FarodError(message)

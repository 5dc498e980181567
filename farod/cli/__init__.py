"""The ``farod`` command line: a thin dispatcher over the library.

Each subcommand lives in its own module with two functions, ``register(subparsers)`` (adds its
parser and sets ``handler``) and the handler itself. Handlers raise :class:`farod.errors.FarodError`
for bad input; :func:`main` turns that into one line on stderr and exit status 2. ``pip install farod``
is the daemon only; a command that needs an extra's package says which extra to install.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib import metadata

from farod.errors import FarodError

# Subcommand modules, imported lazily so `farod plan` does not pay for Ray or statsmodels.
COMMANDS = {
    "plan": "farod.cli.plan",
    "simulate": "farod.cli.simulate",
    "compare": "farod.cli.simulate",
    "forecast": "farod.cli.forecast",
    "run": "farod.cli.run",
    "validate": "farod.cli.run",
    "explain": "farod.cli.explain",
    "loadgen": "farod.cli.loadgen",
    "trace": "farod.cli.trace",
}


# Packages outside the daemon install, and the extra (pyproject.toml) that brings each.
EXTRAS = {"numba": "sim", "llvmlite": "sim", "matplotlib": "sim", "ray": "sim", "aiohttp": "loadgen"}


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags as one FarodError line instead of usage + exit."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise FarodError(f"{self.prog}: {message}")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = _Parser(prog="farod", description="SLO-aware autoscaling for Ray Serve under a fixed quota")
    parser.add_argument("--version", action="version", version=f"farod {metadata.version('farod')}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    wanted = argv[0] if argv and argv[0] in COMMANDS else None
    # Only import the module the user asked for; with no command, list them all.
    for module_name in dict.fromkeys([COMMANDS[wanted]] if wanted else COMMANDS.values()):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 2
        return int(args.handler(args) or 0)
    except FarodError as exc:
        print(f"farod: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        extra = EXTRAS.get((exc.name or "").partition(".")[0])
        if extra is None:
            raise
        print(f"farod: error: farod {argv[0]} needs {exc.name}, which the daemon install leaves out: "
              f"pip install 'farod[{extra}]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("farod: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""A one-line progress bar on stderr (one line per step when stderr is not a terminal).

Example::

    >>> progress = Progress(total=8, label="compare", unit="runs")
    >>> progress.advance(last="aiad 32 CPUs seed 42: 3.1 s")
    >>> progress.close()
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, *, total: int, label: str, unit: str):
        self.total = total
        self.label = label
        self.unit = unit
        self.done = 0
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        self._draw(last="")

    def advance(self, *, last: str = "", to: int | None = None) -> None:
        self.done = self.done + 1 if to is None else to
        self._draw(last=last or " ")

    def _draw(self, *, last: str) -> None:
        width = 24
        filled = width * self.done // max(self.total, 1)
        bar = "#" * filled + "." * (width - filled)
        line = f"{self.label} [{bar}] {self.done}/{self.total} {self.unit}, {time.monotonic() - self.started:.0f} s"
        line += f"  {last}" if last.strip() else ""
        if self.tty:
            sys.stderr.write("\r" + line[:120].ljust(120))
        elif last:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")

"""A ``run()`` loop on a daemon thread that stops through an Event: the Lease renewal and the
ConfigMap watch both run beside the daemon's scheduler this way.

Example::

    >>> class Ticker(Background):
    ...     def run(self):
    ...         while not self.stopping.wait(1.0):
    ...             print("tick")
    >>> ticker = Ticker(thread_name="ticker"); ticker.start(); ticker.stop_thread()
"""

from __future__ import annotations

import threading


class Background:
    """Subclasses implement :meth:`run`, return when :attr:`stopping` is set, and call ``super().__init__``."""

    def __init__(self, *, thread_name: str):
        self.thread_name = thread_name
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self.stopping.clear()
        self._thread = threading.Thread(target=self.run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop_thread(self, timeout_s: float = 5.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

"""A ``run()`` loop on a daemon thread that stops through an Event and outlives its own bugs: the
Lease renewal, the ConfigMap watch and the Event sender all run beside the daemon's scheduler this way.

Example::

    >>> class Ticker(Background):
    ...     def run(self):
    ...         while not self.stopping.wait(1.0):
    ...             print("tick")
    >>> ticker = Ticker(thread_name="ticker"); ticker.start(); ticker.alive
    True
    >>> ticker.stop_thread()

An exception that escapes :meth:`Background.run` is logged (``thread_failed``) and ``run`` starts
again after a jittered pause, so no exception ends the thread. A thread that ends anyway (``run``
returned without being stopped) is not :attr:`Background.alive`, which the daemon's ``/readyz``
reports: a dead thread is never a silent one.
"""

from __future__ import annotations

import random
import threading

import structlog

log = structlog.get_logger(__name__)


class Background:
    """Subclasses implement :meth:`run`, return when :attr:`stopping` is set, and call ``super().__init__``."""

    restart_pause_s = 1.0

    def __init__(self, *, thread_name: str):
        self.thread_name = thread_name
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        raise NotImplementedError

    @property
    def alive(self) -> bool:
        """True while the thread runs (False before :meth:`start` and after it ended)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self.stopping.clear()
        self._thread = threading.Thread(target=self._run_until_stopped, name=self.thread_name, daemon=True)
        self._thread.start()

    def _run_until_stopped(self) -> None:
        while True:
            try:
                self.run()
                return
            except Exception as exc:  # noqa: BLE001 - a bug in one round must not end the thread
                log.error("thread_failed", thread=self.thread_name, error=repr(exc)[:300])
            if self.stopping.wait(self.restart_pause_s * random.uniform(0.5, 1.5)):
                return

    def stop_thread(self, timeout_s: float = 5.0) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

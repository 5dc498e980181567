"""The daemon's read-only HTTP endpoints: ``/metrics``, ``/healthz``, ``/readyz``.

Example::

    server = start_server(host="127.0.0.1", port=0, registry=registry, ready=lambda: True)
    urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/readyz").status
    # -> 200
    server.shutdown()

``/healthz`` answers 200 as long as the process serves HTTP: a daemon that cannot reach Prometheus is
not broken, restarting it would not help. ``/readyz`` follows the daemon (503 after a few missed
decisions, a stalled decision or a dead background thread; the body says which), so a Service or an
alert can tell; a readiness check that raises is a 503 too. Anything but GET is refused: nothing can
be changed from here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def start_server(*, host: str, port: int, registry: CollectorRegistry, ready: Callable[[], bool],
                 unready_reason: Callable[[], str | None] = lambda: None) -> ThreadingHTTPServer:
    """Serve in a daemon thread; ``port=0`` picks a free port (``server.server_port``).

    ``unready_reason()`` is the body of a 503 from ``/readyz``.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, b"ok\n")
            elif path == "/readyz":
                try:
                    reason = None if ready() else (unready_reason() or "not ready")
                except Exception as exc:  # noqa: BLE001 - a broken check is a failed probe, not a hung one
                    reason = f"readiness check failed: {exc!r}"[:300]
                self._send(503 if reason else 200, b"ready\n" if not reason else f"not ready: {reason}\n".encode())
            else:
                self._send(404, b"not found\n")

        def _refuse(self):
            self._send(405, b"read-only\n")

        do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815

        def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 - scrapes every few seconds would flood the log
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # one log line instead of a traceback on stderr
            structlog.get_logger("farod").warning("http_error", client=client_address[0])

    server = Server((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="farod-http", daemon=True).start()
    return server

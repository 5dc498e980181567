"""Bearer tokens and TLS settings for the HTTP APIs farod talks to (Prometheus, the Ray dashboard).

Example::

    >>> headers = bearer_header("/var/run/secrets/kubernetes.io/serviceaccount/token")
    >>> headers
    {'Authorization': 'Bearer eyJ...'}

Credentials only ever come from files (a mounted Secret, the in-cluster service account token, Ray's
``~/.ray/auth_token``), never from a command line where ``ps`` shows them. The file is read at every
request so a rotated token is picked up without a restart, and its content is never put in an error
message, a log line or a metric.
"""

from __future__ import annotations

import ssl

from farod.errors import FarodError


def bearer_header(path: str | None) -> dict[str, str]:
    """``{"Authorization": "Bearer <token>"}`` from the token file at ``path``; ``{}`` without one."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
    except OSError as exc:
        raise FarodError(f"bearer token file {path}: {exc.strerror}") from None
    if not token:
        raise FarodError(f"bearer token file {path}: empty")
    return {"Authorization": f"Bearer {token}"}


def tls_context(*, url: str, verify: bool = True, ca_file: str | None = None) -> ssl.SSLContext | None:
    """The TLS context for ``url`` (None for plain http); verification stays on unless ``verify`` is False."""
    if not url.startswith("https://"):
        return None
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context

"""Bearer tokens, TLS and the HTTP session farod uses for the APIs it talks to (Prometheus, the Ray dashboard).

Example::

    session = api_session(url="https://prometheus.example:9090", setting="prometheus",
                          token_file="/var/run/secrets/kubernetes.io/serviceaccount/token", ca_file="ca.pem")
    session.get("https://prometheus.example:9090/api/v1/query", params={"query": "up"}, timeout=5)

Credentials only ever come from files (a mounted Secret, the in-cluster service account token, Ray's
``~/.ray/auth_token``), never from a command line where ``ps`` shows them. The file is read at every
request (:class:`TokenFileAuth`) so a rotated token is picked up without a restart.

What a token is protected against:

- **redirects**: the session follows none. A 3xx comes back as the answer (an error for the caller),
  so the Authorization header only ever goes to the configured origin -- never to another host, port
  or scheme a server points at, and never re-attached from ``~/.netrc``.
- **plain http**: a token over ``http://`` is refused (:func:`check_transport`) unless the setting's
  ``allow_insecure_http`` is true. Loopback hosts (``127.0.0.0/8``, ``::1``, ``localhost``) are exempt:
  that traffic never leaves the machine (or the pod), which is how a local Ray dashboard is reached
  with Ray's token.
- **a trickle**: a read timeout alone bounds each wait for bytes, not the answer; a server sending a
  byte now and then could hold a decision forever. The whole body must arrive within the timeout.
- **echoes**: messages built from URLs or server answers pass through :func:`redact`, which masks the
  token, ``user:password@`` and the values of secret-looking query parameters (``?token=...``); so do
  urllib3's own log lines, which carry each request's URL at debug level.
"""

from __future__ import annotations

import io
import ipaddress
import logging
import re
import time
import urllib.parse

import requests
from requests.adapters import HTTPAdapter

from farod.errors import FarodError

_SECRET_PARAMS = re.compile(r"([\w.-]*(?:token|key|secret|password|passwd|auth|signature)[\w.-]*=)[^&#\s'\",;)]*",
                            re.IGNORECASE)
_USERINFO = re.compile(r"(\w+://)[^/@\s]*@")


def read_token(path: str) -> str:
    """The token in the file at ``path``; :class:`FarodError` naming the file (never its content) if unusable."""
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise FarodError(f"bearer token file {path}: {getattr(exc, 'strerror', None) or 'not UTF-8 text'}") from None
    if not token:
        raise FarodError(f"bearer token file {path}: empty")
    if not token.isprintable() or any(char.isspace() for char in token):
        # An HTTP library would refuse the header and quote it, token included, in its error.
        raise FarodError(f"bearer token file {path}: whitespace or control characters inside the token")
    return token


class TokenFileAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <token>`` on every request, the token read from its file each time."""

    def __init__(self, path: str):
        self.path = path

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {read_token(self.path)}"
        return request

    def redact(self, text: str) -> str:
        """``text`` without the current token, URL passwords or secret query parameters."""
        try:
            token = read_token(self.path)
        except FarodError:
            token = None
        return redact(text, secrets=(token,) if token else ())


def redact(text: str, *, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with ``secrets``, ``user:password@`` in URLs and secret-looking query values masked."""
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    return _USERINFO.sub(r"\1<redacted>@", _SECRET_PARAMS.sub(r"\1<redacted>", text))


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), ()
        return True


for _name in ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_RedactingFilter())


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(*, url: str, token_file: str | None, allow_insecure_http: bool, setting: str) -> None:
    """Refuse a bearer token over plain http to a non-loopback host unless ``<setting>.allow_insecure_http``."""
    if token_file and url.startswith("http://") and not allow_insecure_http and not is_loopback(url):
        raise FarodError(f"{setting}.url: a bearer token over plain http is refused; use https:// or set "
                         f"{setting}.allow_insecure_http: true")


class _NoRedirectSession(requests.Session):
    def get_redirect_target(self, response: requests.Response) -> None:
        return None  # a 3xx is the answer: credentials go to the configured origin only

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        # The configured CA file or tls_verify: false win over REQUESTS_CA_BUNDLE in the environment.
        return super().merge_environment_settings(url, proxies, stream, self.verify if verify is None else verify,
                                                  cert)


class BoundedAdapter(HTTPAdapter):
    """Once the headers are in, the whole body within the request's timeout (not only each read)."""

    def send(self, request, stream=False, timeout=None, **kwargs):
        response = super().send(request, stream=True, timeout=timeout, **kwargs)
        budget = sum(timeout) if isinstance(timeout, tuple) else timeout
        if stream or budget is None:
            return response
        deadline, body = time.monotonic() + budget, bytearray()
        while chunk := response.raw.read1(65536, decode_content=True):
            body += chunk
            if time.monotonic() > deadline:
                response.close()
                raise requests.ReadTimeout(f"the answer took longer than {budget:g} s", request=request)
        response.raw.release_conn()
        response.raw = io.BytesIO(bytes(body))  # what requests reads .content from
        return response


def api_session(*, url: str, setting: str, token_file: str | None = None, tls_verify: bool = True,
                ca_file: str | None = None, allow_insecure_http: bool = False) -> requests.Session:
    """A session for the API at ``url``: token from ``token_file`` per request, TLS settings, no redirects.

    ``setting`` is the config section the values come from (``prometheus``, ``actuator.rayserve``), named
    in refusals. Callers still pass a ``timeout`` to every request.
    """
    check_transport(url=url, token_file=token_file, allow_insecure_http=allow_insecure_http, setting=setting)
    session = _NoRedirectSession()
    for scheme in ("http://", "https://"):
        session.mount(scheme, BoundedAdapter())
    session.verify = (ca_file or True) if tls_verify else False
    if token_file:
        session.auth = TokenFileAuth(token_file)
    return session


def redactor(session: requests.Session):
    """The function that masks ``session``'s secrets in a message."""
    auth = session.auth
    return auth.redact if isinstance(auth, TokenFileAuth) else redact


def split_query(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without its query, and the query's parameters (a proxy's ``?token=``), to send with each request."""
    base, _, query = url.partition("?")
    return base.rstrip("/"), dict(urllib.parse.parse_qsl(query))


def failure_reason(exc: OSError) -> str:
    """The innermost cause of a requests error in one line, without urllib3's object reprs (nor the URL)."""
    reason = exc.args[0] if exc.args else exc
    reason = getattr(reason, "reason", None) or reason
    return re.sub(r"<[^>]*>: ", "", str(reason)).splitlines()[0][:200]

"""The HTTP side of :mod:`tests.fakekube`: routing, authorization, the request log and watches."""

from __future__ import annotations

import copy
import http.server
import json
import re
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import NamedTuple

import kubernetes

from .patches import json_patch, merge_patch
from .rbac import Role, request_verb, selected_name
from .store import ApiError, Store

# (group, version, plural) -> kind; group "" is the core API under /api/v1.
KINDS = {
    ("", "v1", "configmaps"): "ConfigMap",
    ("", "v1", "pods"): "Pod",
    ("", "v1", "resourcequotas"): "ResourceQuota",
    ("", "v1", "events"): "Event",
    ("coordination.k8s.io", "v1", "leases"): "Lease",
    ("events.k8s.io", "v1", "events"): "Event",
    ("ray.io", "v1", "rayservices"): "RayService",
}

# the API server parses booleans with Go's strconv.ParseBool (kubernetes < 36 sends "True")
_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_PATH = re.compile(
    r"^/(?:api/(?P<core_version>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"/namespaces/(?P<namespace>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?/?$"
)


def _matches(obj: dict, query: dict) -> bool:
    for selector in query.get("fieldSelector", []):
        for term in filter(None, selector.split(",")):
            field, _, value = term.partition("=")
            if field == "metadata.name" and obj["metadata"].get("name") != value.lstrip("="):
                return False
    labels = obj["metadata"].get("labels") or {}
    for selector in query.get("labelSelector", []):
        for term in filter(None, selector.split(",")):
            label, _, value = term.partition("=")
            if labels.get(label) != value.lstrip("="):
                return False
    return True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        fake = self.server.fake
        match = _PATH.match(url.path)
        watch = method == "GET" and query.get("watch", ["false"])[0] in _GO_TRUE
        name = match["name"] if match else None
        request = Request(method=method, path=url.path, content_type=self.headers.get("Content-Type"),
                          user_agent=self.headers.get("User-Agent") or "",
                          group=(match["group"] or "") if match else "",
                          resource=match["plural"] if match else "", name=name or selected_name(query),
                          verb=request_verb(method, name=name, watch=watch), arrived=time.monotonic())
        code = 200
        try:
            for hook in list(fake.hooks):
                hook(method, url.path, body)
            if not match:
                raise ApiError(404, "NotFound", f"the server could not find the requested resource {url.path}")
            version = match["version"] or match["core_version"]
            resource = (request.group, version, match["plural"], match["namespace"])
            if resource[:3] not in KINDS:
                raise ApiError(404, "NotFound", f"the server doesn't have a resource type {match['plural']}")
            fake.authorize(request)
            if watch and not name:
                fake.requests.append(request._replace(status=200, answered=time.monotonic()))
                self._watch(resource, query)
                return
            code = 200 if method != "POST" else 201
            payload = self._handle(method, resource, name, body, query)
        except ApiError as error:
            code, payload = error.code, error.status()
        fake.requests.append(request._replace(status=code, answered=time.monotonic()))
        self._reply(code, payload)

    def _handle(self, method: str, resource: tuple, name: str | None, body, query: dict) -> dict:
        store = self.server.fake.store
        group, version, plural, _ = resource
        kind = KINDS[(group, version, plural)]
        api_version = f"{group}/{version}" if group else version
        if name is None and method == "GET":
            items, list_version = store.list(resource)
            items = [item for item in items if _matches(item, query)]
            return {
                "kind": f"{kind}List",
                "apiVersion": api_version,
                "metadata": {"resourceVersion": str(list_version)},
                "items": items,
            }
        if name is None and method == "POST":
            metadata = body.setdefault("metadata", {})
            if not metadata.get("name") and metadata.get("generateName"):
                metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
            if not metadata.get("name"):
                raise ApiError(422, "Invalid", "metadata.name: Required value")
            body.update(kind=kind, apiVersion=api_version)
            return store.create(resource + (metadata["name"],), body)
        if name is None:
            raise ApiError(405, "MethodNotAllowed", f"{method} on a collection")
        key = resource + (name,)
        if method == "GET":
            return store.get(key)
        if method == "DELETE":
            store.delete(key)
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        if method == "PUT":
            body.update(kind=kind, apiVersion=api_version)
            return store.update(key, lambda _: body, body.get("metadata", {}).get("resourceVersion"))
        if method == "PATCH":
            if isinstance(body, list) or "json-patch" in (self.headers.get("Content-Type") or ""):
                return store.update(key, lambda current: json_patch(current, body), None)
            expected = (body.get("metadata") or {}).get("resourceVersion")
            return store.update(key, lambda current: merge_patch(current, body), expected)
        raise ApiError(405, "MethodNotAllowed", method)

    def _reply(self, code: int, payload: dict):
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _watch(self, resource: tuple, query: dict):
        """Stream changes after ``resourceVersion`` until ``timeoutSeconds`` or the server stops."""
        store = self.server.fake.store
        since = int(query.get("resourceVersion", ["0"])[0] or 0)
        timeout = float(query.get("timeoutSeconds", ["30"])[0])
        if since == 0:  # a fresh watch starts with the current state as ADDED events
            with store.changed:
                since = store.version
                backlog = [(since, resource, "ADDED", copy.deepcopy(obj))
                           for key, obj in sorted(store.objects.items()) if key[:4] == resource]
        else:
            backlog = []
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.daemon = True
        timer.start()
        try:
            for event in backlog:
                self._send_event(event, query)
            while not deadline.is_set() and not self.server.fake.stopping.is_set():
                with store.changed:
                    pending = [entry for entry in store.log if entry[0] > since and entry[1] == resource]
                    if not pending:
                        store.changed.wait(0.1)
                        continue
                since = pending[-1][0]
                for event in pending:
                    self._send_event(event, query)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            timer.cancel()

    def _send_event(self, event: tuple, query: dict):
        _, _, event_type, obj = event
        if event_type == "RAW":
            line = obj
        elif not _matches(obj, query):
            return
        else:
            line = json.dumps({"type": event_type, "object": obj}).encode() + b"\n"
        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()


class Request(NamedTuple):
    """One request as the server saw it; ``answered`` is after any write it made was committed."""

    method: str
    path: str
    content_type: str | None
    user_agent: str
    group: str
    resource: str
    name: str | None  # the object named in the path, or by a list's metadata.name field selector
    verb: str
    arrived: float  # time.monotonic()
    answered: float = 0.0
    status: int = 0


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    fake: "FakeKube"

    def handle_error(self, request, client_address):
        """A client that gave up on a held request (its timeout) closed the connection: not news."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeKube:
    """A fake API server on 127.0.0.1:<free port>, started on ``__enter__``/:meth:`start`."""

    def __init__(self, *, role: Role | None = None):
        """``role``: authorize every request against it (403 otherwise); None allows everything."""
        self.store = Store()
        self.role = role
        self.hooks: list[Callable[[str, str, object], None]] = []
        self.requests: list[Request] = []  # every answered request (a watch when its stream starts)
        self.denied: list[Request] = []
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeKube":
        self._thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeKube":
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def api_client(self) -> kubernetes.client.ApiClient:
        """A real client configured for this server (no credentials: it is local and plain HTTP), without
        retries of its own as :func:`farod.kube.client.connect` configures it."""
        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        configuration.retries = False
        return kubernetes.client.ApiClient(configuration)

    def before(self, hook: Callable[[str, str, object], None]):
        """Run ``hook(method, path, body)`` before every request; raise ApiError in it to fail one."""
        self.hooks.append(hook)

    def hang(self, matches: Callable[[str, str, object], bool]) -> threading.Event:
        """Hold every request ``matches(method, path, body)`` selects, unanswered, until the returned
        Event is set (or the server stops); then it proceeds as if it had just arrived."""
        release = threading.Event()

        def hook(method, path, body):
            if matches(method, path, body):
                while not release.wait(0.05) and not self.stopping.is_set():
                    pass

        self.before(hook)
        return release

    def authorize(self, request: Request) -> None:
        if self.role is None or self.role.allows(verb=request.verb, group=request.group,
                                                 resource=request.resource, name=request.name):
            return
        self.denied.append(request)
        raise ApiError(403, "Forbidden", f'{request.resource} "{request.name or ""}" is forbidden: cannot '
                       f'{request.verb} resource "{request.resource}" in API group "{request.group}"')

    # Direct access for test setup and assertions, bypassing HTTP.
    def put_object(self, group: str, version: str, plural: str, namespace: str, obj: dict) -> dict:
        key = (group, version, plural, namespace, obj["metadata"]["name"])
        obj = copy.deepcopy(obj)
        kind = KINDS[(group, version, plural)]
        obj.update(kind=kind, apiVersion=f"{group}/{version}" if group else version)
        try:
            self.store.get(key)
        except ApiError:
            return self.store.create(key, obj)
        return self.store.update(key, lambda _: obj, None)

    def stream_raw(self, group: str, version: str, plural: str, namespace: str, line: bytes) -> None:
        """Send ``line`` as it is to every watch on the kind (a blank line, garbage, a broken event)."""
        with self.store.changed:
            self.store.version += 1
            self.store.log.append((self.store.version, (group, version, plural, namespace), "RAW", line))
            self.store.changed.notify_all()

    def get_object(self, group: str, version: str, plural: str, namespace: str, name: str) -> dict:
        return self.store.get((group, version, plural, namespace, name))

    def list_objects(self, group: str, version: str, plural: str, namespace: str) -> list[dict]:
        return self.store.list((group, version, plural, namespace))[0]

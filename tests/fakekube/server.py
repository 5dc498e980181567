"""The HTTP side of :mod:`tests.fakekube`: routing, storage, patches and watches."""

from __future__ import annotations

import copy
import datetime
import http.server
import json
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable

import kubernetes

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

_PATH = re.compile(
    r"^/(?:api/(?P<core_version>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"/namespaces/(?P<namespace>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?/?$"
)


class ApiError(Exception):
    """Answered as a Kubernetes ``Status`` body."""

    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> dict:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


def merge_patch(target, patch):
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def _container(document, parts: list[str]):
    for part in parts:
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def json_patch(document, operations: list[dict]):
    """RFC 6902 add/remove/replace/test (what Kubernetes clients send); a failed op raises 422."""
    document = copy.deepcopy(document)
    for operation in operations:
        parts = _pointer(operation["path"])
        try:
            parent, last = _container(document, parts[:-1]), parts[-1]
            op = operation["op"]
            if op == "test":
                if _container(document, parts) != operation["value"]:
                    raise ApiError(422, "Invalid", f"test failed at {operation['path']}")
            elif op == "remove":
                del parent[int(last) if isinstance(parent, list) else last]
            elif op in ("add", "replace"):
                if isinstance(parent, list):
                    index = len(parent) if last == "-" else int(last)
                    if op == "add":
                        parent.insert(index, operation["value"])
                    else:
                        parent[index] = operation["value"]
                else:
                    if op == "replace" and last not in parent:
                        raise KeyError(last)
                    parent[last] = operation["value"]
            else:
                raise ApiError(422, "Invalid", f"unsupported op {op}")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ApiError(422, "Invalid", f"json-patch {operation['path']}: {exc!r}") from exc
    return document


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """Objects by (group, version, plural, namespace, name), a global resourceVersion, a change log."""

    def __init__(self):
        self.objects: dict[tuple, dict] = {}
        self.version = 0
        self.log: list[tuple[int, tuple, str, dict]] = []  # (resourceVersion, resource, type, object)
        self.changed = threading.Condition()

    def _commit(self, key: tuple, event_type: str, obj: dict) -> dict:
        """Caller holds ``changed``."""
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        if event_type == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        self.log.append((self.version, key[:4], event_type, copy.deepcopy(obj)))
        self.changed.notify_all()
        return copy.deepcopy(obj)

    def get(self, key: tuple) -> dict:
        with self.changed:
            if key not in self.objects:
                raise ApiError(404, "NotFound", f'{key[2]} "{key[4]}" not found')
            return copy.deepcopy(self.objects[key])

    def list(self, resource: tuple) -> tuple[list[dict], int]:
        with self.changed:
            items = [copy.deepcopy(obj) for key, obj in sorted(self.objects.items()) if key[:4] == resource]
            return items, self.version

    def create(self, key: tuple, obj: dict) -> dict:
        with self.changed:
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", f'{key[2]} "{key[4]}" already exists')
            metadata = obj.setdefault("metadata", {})
            metadata.update(name=key[4], namespace=key[3], uid=str(uuid.uuid4()), creationTimestamp=_now())
            metadata.setdefault("generation", 1)
            return self._commit(key, "ADDED", obj)

    def update(self, key: tuple, change: Callable[[dict], dict], expected_version: str | None) -> dict:
        """Apply ``change`` to the stored object atomically, checking the optimistic-concurrency token."""
        with self.changed:
            if key not in self.objects:
                raise ApiError(404, "NotFound", f'{key[2]} "{key[4]}" not found')
            current = self.objects[key]
            if expected_version and expected_version != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {key[2]} "{key[4]}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                )
            updated = change(copy.deepcopy(current))
            metadata = updated.setdefault("metadata", {})
            for field in ("name", "namespace", "uid", "creationTimestamp"):
                metadata[field] = current["metadata"][field]
            if updated.get("spec") != current.get("spec"):
                metadata["generation"] = current["metadata"].get("generation", 1) + 1
            return self._commit(key, "MODIFIED", updated)

    def delete(self, key: tuple) -> dict:
        with self.changed:
            if key not in self.objects:
                raise ApiError(404, "NotFound", f'{key[2]} "{key[4]}" not found')
            return self._commit(key, "DELETED", copy.deepcopy(self.objects[key]))


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
        fake.requests.append((method, url.path, self.headers.get("Content-Type")))
        try:
            for hook in list(fake.hooks):
                hook(method, url.path, body)
            match = _PATH.match(url.path)
            if not match:
                raise ApiError(404, "NotFound", f"the server could not find the requested resource {url.path}")
            group = match["group"] or ""
            version = match["version"] or match["core_version"]
            resource = (group, version, match["plural"], match["namespace"])
            if resource[:3] not in KINDS:
                raise ApiError(404, "NotFound", f"the server doesn't have a resource type {match['plural']}")
            if method == "GET" and not match["name"] and query.get("watch", ["false"])[0] in ("true", "1"):
                self._watch(resource, query)
                return
            self._reply(200 if method != "POST" else 201, self._handle(method, resource, match["name"], body, query))
        except ApiError as error:
            self._reply(error.code, error.status())

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
        if not _matches(obj, query):
            return
        line = json.dumps({"type": event_type, "object": obj}).encode() + b"\n"
        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    fake: "FakeKube"


class FakeKube:
    """A fake API server on 127.0.0.1:<free port>, started on ``__enter__``/:meth:`start`."""

    def __init__(self):
        self.store = Store()
        self.hooks: list[Callable[[str, str, object], None]] = []
        self.requests: list[tuple[str, str, str | None]] = []
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
        """A real client configured for this server (no credentials: it is local and plain HTTP)."""
        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        return kubernetes.client.ApiClient(configuration)

    def before(self, hook: Callable[[str, str, object], None]):
        """Run ``hook(method, path, body)`` before every request; raise ApiError in it to fail one."""
        self.hooks.append(hook)

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

    def get_object(self, group: str, version: str, plural: str, namespace: str, name: str) -> dict:
        return self.store.get((group, version, plural, namespace, name))

    def list_objects(self, group: str, version: str, plural: str, namespace: str) -> list[dict]:
        return self.store.list((group, version, plural, namespace))[0]

"""Objects, one global resourceVersion with optimistic concurrency, and a change log for watches."""

from __future__ import annotations

import copy
import datetime
import threading
import uuid
from collections.abc import Callable


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

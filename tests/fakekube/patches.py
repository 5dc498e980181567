"""Merge-patch (RFC 7386) and json-patch (RFC 6902), as the API server applies them."""

from __future__ import annotations

import copy

from .store import ApiError


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

"""RBAC as the API server authorizes a request against a namespaced Role's rules.

Example::

    >>> role = Role([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["x"]}])
    >>> role.allows(verb="get", group="", resource="configmaps", name="x")
    True
    >>> role.allows(verb="list", group="", resource="configmaps", name=None)
    False

A request's verb follows the HTTP method (GET on a name is ``get``, on a collection ``list``, with
``watch=true`` ``watch``; POST ``create``, PUT ``update``, PATCH ``patch``, DELETE ``delete``). A rule
with ``resourceNames`` matches only requests naming one of them; a list or watch names its object
through a ``metadata.name`` field selector, as the real authorizer accepts. ``create`` never has a
name to check, so a rule with ``resourceNames`` never grants it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def request_verb(method: str, *, name: str | None, watch: bool) -> str:
    if method == "GET":
        return "get" if name else ("watch" if watch else "list")
    if method == "DELETE" and not name:
        return "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]


def selected_name(query: Mapping[str, list[str]]) -> str | None:
    """The object a list or watch selects with ``fieldSelector=metadata.name=<name>``, if it does."""
    for selector in query.get("fieldSelector", []):
        for term in filter(None, selector.split(",")):
            field, _, value = term.partition("=")
            if field == "metadata.name":
                return value.lstrip("=")
    return None


class Role:
    def __init__(self, rules: Sequence[Mapping]):
        self.rules = list(rules)

    def allows(self, *, verb: str, group: str, resource: str, name: str | None) -> bool:
        return any(self._grants(rule, verb, group, resource, name) for rule in self.rules)

    @staticmethod
    def _grants(rule: Mapping, verb: str, group: str, resource: str, name: str | None) -> bool:
        if verb not in rule.get("verbs", []) and "*" not in rule.get("verbs", []):
            return False
        if group not in rule.get("apiGroups", []) or resource not in rule.get("resources", []):
            return False
        names = rule.get("resourceNames")
        return not names or (verb != "create" and name in names)

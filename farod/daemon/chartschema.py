"""The Helm chart's ``values.schema.json``, its daemon-config parts generated from the config model.

Example::

    python -m farod.daemon.chartschema helm/farod/values.schema.json   # rewrite it in place

The chart's values are the daemon config's fields in camelCase (``timeout_s`` -> ``timeoutSeconds``,
``slo_ms`` -> ``sloMs``), rendered into the ConfigMap by the chart's ``farod.config`` template. For
every chart value that is such a field, the schema is the model's own (type, bounds, patterns), so the
chart refuses at ``helm install`` what the daemon would refuse at start (``quota.resources.cpu: 0``
used to pass the chart and crash-loop the pod). Chart-only values (image, service, ...) are kept as
written. ``tests/test_chart_schema_matches_daemon.py`` checks the committed file is up to date and
renders probe values through helm and the daemon's parser.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from pydantic import BaseModel

from farod import forecast, policies
from farod.daemon.config import (ActuatorConfig, Config, IntervalsConfig, JobConfig, LeaderElectionConfig,
                                 PrometheusConfig, RayServeConfig, SafetyConfig, quota_amount_schema)

# chart schema node (a path of property names) -> the model whose fields its properties are
SECTIONS: dict[tuple[str, ...], type[BaseModel]] = {
    ("prometheus",): PrometheusConfig,
    ("actuator",): ActuatorConfig,
    ("actuator", "rayserve"): RayServeConfig,
    ("intervals",): IntervalsConfig,
    ("safety",): SafetyConfig,
    ("leaderElection",): LeaderElectionConfig,
}
_NOISE = ("title", "default", "description")


def field_name(chart_name: str) -> str:
    """``timeoutSeconds`` -> ``timeout_s``, ``sloMs`` -> ``slo_ms``."""
    snake = re.sub(r"([A-Z])", r"_\1", chart_name).lower()
    return snake[: -len("_seconds")] + "_s" if snake.endswith("_seconds") else snake


def field_schema(model: type[BaseModel], field: str) -> dict | None:
    """The model's JSON schema of ``field`` without pydantic's titles and defaults (None: not a field)."""
    schema = model.model_json_schema()
    found = schema["properties"].get(field)
    if found is None or "$ref" in found or "allOf" in found:
        return None  # a nested section: its own entry in SECTIONS
    return {key: value for key, value in found.items() if key not in _NOISE}


def chart_schema(current: dict) -> dict:
    """``current`` with every property that is a daemon-config field replaced by the model's schema."""
    schema = json.loads(json.dumps(current))
    for path, model in SECTIONS.items():
        _replace_fields(_node(schema, path), model)
    jobs = _node(schema, ("jobs",))
    jobs["items"]["properties"] = {name: field_schema(JobConfig, field_name(name)) or old
                                   for name, old in jobs["items"]["properties"].items()}
    jobs["maxItems"] = 10_000
    _node(schema, ("quota", "resources"))["additionalProperties"] = quota_amount_schema()
    _node(schema, ("policy", "name")).update({"enum": list(policies.LIVE_NAMES)})
    _node(schema, ("logLevel",))["enum"] = field_schema(Config, "log_level")["enum"]
    _node(schema, ("forecaster", "name"))["enum"] = ["default", *forecast.BACKTEST_MODELS]
    return schema


def _node(schema: dict, path: tuple[str, ...]) -> dict:
    for name in path:
        schema = schema["properties"][name]
    return schema


def _replace_fields(node: dict, model: type[BaseModel]) -> None:
    for name in list(node.get("properties", {})):
        generated = field_schema(model, field_name(name))
        if generated is not None:
            node["properties"][name] = generated


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m farod.daemon.chartschema",
                                     description="Rewrite the chart's values.schema.json from the config model.")
    parser.add_argument("path", help="the chart's values.schema.json (helm/farod/values.schema.json)")
    path = parser.parse_args(argv).path
    with open(path, encoding="utf-8") as handle:
        current = json.load(handle)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(render(chart_schema(current)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Scale Ray Serve deployments through the REST API of the Ray dashboard (port 8265).

Example::

    actuator = RayServeActuator(url="http://127.0.0.1:8265", bearer_token_file="~/.ray/auth_token")
    actuator.read(jobs)["serve-cluster0/classifier"]
    # -> DeploymentState(target_replicas=2, running_replicas=2, autoscaling=False)
    actuator.apply({"serve-cluster0/classifier": 3}, jobs)

State comes from ``GET /api/serve/applications/``. Ray 2.60 has two ways to change a replica count
and this actuator uses the one each application allows:

- the external scaling API, ``POST /api/v1/applications/{app}/deployments/{dep}/scale`` with
  ``{"target_num_replicas": n}`` -- only for applications deployed with ``external_scaler_enabled:
  true`` (Serve then also guarantees no built-in autoscaling runs for them);
- otherwise the declarative ``PUT /api/serve/applications/``: the whole Serve config, rebuilt from
  what the GET reports as deployed (``deployed_app_config`` of every application, ``http_options``,
  ``grpc_options``, ``proxy_location``, ``target_capacity``) with only ``num_replicas`` of farod's
  deployments changed. That PUT replaces *all* applications, so it is refused when any application was
  deployed imperatively (``serve.run``: no config to preserve) rather than deleting it.

Admission limits (``max_queued_requests``) are a deployment option of the application config, so
they only go through the declarative PUT: a deployment whose limit changes is written there, with
its ``num_replicas`` set to the target also when its application uses the scale API (a changed
application config applies its replica counts). A lifted limit writes back the job's own
``max_queued_requests``, or removes the key.

A deployment with its own ``autoscaling_config`` would fight farod for the replica count: it is
refused (``reason="autoscaling_conflict"``) unless ``take_over_autoscaling`` is set, in which case the
PUT drops its ``autoscaling_config``. Only differences from the cluster's current targets are sent, so
re-asserting the targets every tick is cheap and idempotent. Requests go out downscales first.

Every write (each scale POST, the PUT, a rollback) first asks ``may_write(timeout_s)`` -- with leader
election, whether this process is still the leader for the write's whole timeout -- and is not sent
otherwise (``reason="not_leader"``). All or nothing: every job is checked before anything is sent; the PUT is a single request; if one of
several scale-API calls fails, the ones already sent are rolled back (best effort) before
:class:`ActuationError` is raised with ``reason`` in ``timeout``, ``unreachable``, ``http_5xx``,
``rejected``, ``unauthorized``, ``not_found``, ``autoscaling_conflict``, ``imperative_app``, ``not_leader``.
"""

from __future__ import annotations

import copy
import urllib.parse
from collections.abc import Mapping
from typing import Any

import requests

from farod.actuators.base import (ActuationError, Actuator, DeploymentState, WriteGate, always_write, check_may_write,
                                  configured_limit, ordered_changes, wanted_queue_limits)
from farod.credentials import api_session, failure_reason, redactor, split_query
from farod.errors import FarodError
from farod.jobs import JobSpec

APPLICATIONS_PATH = "/api/serve/applications/"
_PRESERVED_TOP_LEVEL = ("proxy_location", "http_options", "grpc_options", "target_capacity")


class RayServeActuator(Actuator):
    name = "rayserve"

    def __init__(self, *, url: str, bearer_token_file: str | None = None, timeout_s: float = 5.0,
                 take_over_autoscaling: bool = False, tls_verify: bool = True, ca_file: str | None = None,
                 allow_insecure_http: bool = False, may_write: WriteGate = always_write):
        self.url, self._base_params = split_query(url)
        self.timeout_s = timeout_s
        self.may_write = may_write
        self.take_over_autoscaling = take_over_autoscaling
        self._session = api_session(url=url, setting="actuator.rayserve", token_file=bearer_token_file,
                                    tls_verify=tls_verify, ca_file=ca_file, allow_insecure_http=allow_insecure_http)
        self._redact = redactor(self._session)

    def read(self, jobs: Mapping[str, JobSpec]) -> dict[str, DeploymentState]:
        details = self._applications()
        states = {}
        for key, job in jobs.items():
            deployment = _deployment(details, job)
            if deployment is not None:
                states[key] = _state(deployment)
        return states

    def apply(self, targets: Mapping[str, int], jobs: Mapping[str, JobSpec],
              queue_limits: Mapping[str, int | None] | None = None) -> None:
        details = self._applications()
        states = {}
        for key in targets:
            deployment = _deployment(details, jobs[key])
            if deployment is None:
                raise ActuationError(f"{key}: no such deployment in Ray Serve", reason="not_found")
            states[key] = _state(deployment)
            if states[key].autoscaling and not self.take_over_autoscaling:
                raise ActuationError(f"{key}: the deployment has its own autoscaling_config; set "
                                     "actuator.rayserve.take_over_autoscaling to let farod manage it",
                                     reason="autoscaling_conflict")
        current = {key: state.target_replicas for key, state in states.items()}
        limits = {key: limit for key, limit in wanted_queue_limits(queue_limits, targets, jobs).items()
                  if limit != configured_limit(_deployment_entry(details, jobs[key]).get("max_queued_requests"))}
        changes = [(key, replicas) for key, replicas in ordered_changes(targets, current=current)
                   if replicas != current[key] or states[key].autoscaling or key in limits]
        external = [(key, n) for key, n in changes if key not in limits
                    and _application(details, jobs[key]).get("external_scaler_enabled")]
        declarative = {key: n for key, n in changes if (key, n) not in external}
        body = self._declarative_config(details, declarative, jobs, limits) if declarative else None
        sent: list[str] = []
        try:
            for key, replicas in [(key, n) for key, n in external if n < current[key]]:
                self._scale(jobs[key], replicas)
                sent.append(key)
            if body is not None:
                self._request("PUT", APPLICATIONS_PATH, body=body)
            for key, replicas in [(key, n) for key, n in external if n > current[key]]:
                self._scale(jobs[key], replicas)
                sent.append(key)
        except ActuationError:
            self._roll_back(sent, jobs, current=current)
            raise

    # -- the two ways to scale ---------------------------------------------------------------------

    def _scale(self, job: JobSpec, replicas: int) -> None:
        path = f"/api/v1/applications/{_segment(job.application)}/deployments/{_segment(job.deployment)}/scale"
        self._request("POST", path, body={"target_num_replicas": int(replicas)})

    def _roll_back(self, sent: list[str], jobs: Mapping[str, JobSpec], *, current: Mapping[str, int]) -> None:
        for key in reversed(sent):
            try:
                self._scale(jobs[key], current[key])
            except ActuationError:
                pass  # the next tick re-asserts; nothing better to do from here

    def _declarative_config(self, details: Mapping, targets: Mapping[str, int], jobs: Mapping[str, JobSpec],
                            limits: Mapping[str, int | None]) -> dict[str, Any]:
        applications = []
        for name, application in sorted(details.get("applications", {}).items()):
            config = application.get("deployed_app_config")
            if config is None:
                raise ActuationError(f"application {name} was deployed imperatively (serve.run); a declarative "
                                     "PUT would delete it -- deploy it from a config file or enable "
                                     "external_scaler_enabled", reason="imperative_app")
            applications.append(copy.deepcopy(config))
        by_name = {config["name"]: config for config in applications}
        for key, replicas in targets.items():
            job = jobs[key]
            config = by_name[job.application]
            deployments = config.setdefault("deployments", [])
            entry = next((d for d in deployments if d.get("name") == job.deployment), None)
            if entry is None:
                entry = {"name": job.deployment}
                deployments.append(entry)
            entry["num_replicas"] = int(replicas)
            if key in limits and limits[key] is None:
                entry.pop("max_queued_requests", None)
            elif key in limits:
                entry["max_queued_requests"] = limits[key]
            if self.take_over_autoscaling:
                entry.pop("autoscaling_config", None)
        body = {name: details[name] for name in _PRESERVED_TOP_LEVEL if details.get(name) is not None}
        body["applications"] = applications
        return body

    # -- HTTP --------------------------------------------------------------------------------------

    def _applications(self) -> dict:
        """The dashboard's Serve details, checked for the shape the rest of this module relies on."""
        details = self._request("GET", APPLICATIONS_PATH)
        why = _unusable_details(details)
        if why:
            raise ActuationError(f"GET {APPLICATIONS_PATH}: the dashboard answered an unusable application list "
                                 f"({why})", reason="http_5xx")
        return details

    def _request(self, method: str, path: str, *, body: Any = None) -> Any:
        """One call to the dashboard; every failure is an :class:`ActuationError` with secrets masked.

        A write (anything but GET) goes out only if ``may_write`` still holds for its whole timeout."""
        if method != "GET":
            check_may_write(self.may_write, self.timeout_s, f"{method} {path}")
        try:
            response = self._session.request(method, f"{self.url}{path}", params=self._base_params, json=body,
                                             timeout=self.timeout_s)
        except FarodError as exc:  # the token file
            raise ActuationError(str(exc), reason="unauthorized") from None
        except requests.Timeout:
            raise ActuationError(f"{method} {path}: no answer within {self.timeout_s:g} s", reason="timeout") from None
        except OSError as exc:  # requests' errors, and a CA file gone since start
            raise ActuationError(self._redact(f"{method} {path}: {failure_reason(exc)}"), reason="unreachable") from None
        if response.status_code >= 300:
            excerpt = self._redact(_excerpt(response))
            raise ActuationError(self._redact(f"{method} {path}: HTTP {response.status_code} {excerpt}"),
                                 reason=_http_reason(response.status_code, excerpt)) from None
        if method != "GET":
            return None
        try:
            return response.json()
        except (ValueError, RecursionError):
            raise ActuationError(f"{method} {path}: the dashboard answered with invalid JSON",
                                 reason="http_5xx") from None


def _unusable_details(details: Any) -> str | None:
    """What makes a GET answer unusable, or None: every mapping and list where farod reads one, counts integers."""
    if not isinstance(details, dict) or not isinstance(details.get("applications", {}), dict):
        return "no applications mapping"
    for name, application in details.get("applications", {}).items():
        if not isinstance(application, dict) or not isinstance(application.get("deployments", {}), dict):
            return f"application {name!r} has no deployments mapping"
        config = application.get("deployed_app_config")
        if config is not None and not (isinstance(config, dict) and isinstance(config.get("name"), str)
                                       and isinstance(config.get("deployments") or [], list)
                                       and all(isinstance(d, dict) for d in config.get("deployments") or [])):
            return f"application {name!r} has an unusable deployed_app_config"
        for deployment_name, deployment in (application.get("deployments") or {}).items():
            if not _usable_deployment(deployment):
                return f"deployment {name!r}/{deployment_name!r} has an unusable state"
    return None


def _usable_deployment(deployment: Any) -> bool:
    if not isinstance(deployment, dict):
        return False
    config, replicas = deployment.get("deployment_config") or {}, deployment.get("replicas") or []
    counts = [deployment.get("target_num_replicas"), config.get("num_replicas") if isinstance(config, dict) else None]
    return (isinstance(config, dict) and isinstance(replicas, list) and all(isinstance(r, dict) for r in replicas)
            and all(n is None or (isinstance(n, int) and not isinstance(n, bool) and n >= 0) for n in counts))


def _application(details: Mapping, job: JobSpec) -> Mapping:
    return (details.get("applications") or {}).get(job.application) or {}


def _deployment_entry(details: Mapping, job: JobSpec) -> Mapping:
    """The job's entry in its application's deployed config (empty if the config does not list it)."""
    config = _application(details, job).get("deployed_app_config") or {}
    return next((d for d in config.get("deployments") or [] if d.get("name") == job.deployment), {})


def _deployment(details: Mapping, job: JobSpec) -> Mapping | None:
    return (_application(details, job).get("deployments") or {}).get(job.deployment)


def _state(deployment: Mapping) -> DeploymentState:
    config = deployment.get("deployment_config") or {}
    running = sum(1 for replica in deployment.get("replicas") or [] if replica.get("state") == "RUNNING")
    target = next((n for n in (deployment.get("target_num_replicas"), config.get("num_replicas")) if n is not None),
                  running)
    return DeploymentState(target_replicas=int(target), running_replicas=running,
                           autoscaling=bool(config.get("autoscaling_config")))


def _segment(name: str) -> str:
    """``name`` as one URL path segment: ``/``, ``..``, NUL or newline cannot change the path."""
    return urllib.parse.quote(name, safe="")


def _http_reason(status: int, text: str) -> str:
    if status in (401, 403):
        return "unauthorized"
    if status == 404 or (status == 412 and "deleted" in text):
        return "not_found"
    return "http_5xx" if status >= 500 else "rejected"


def _excerpt(response: requests.Response) -> str:
    if 300 <= response.status_code < 400:
        return f"(a redirect to {response.headers.get('Location', '?')[:200]}; farod follows no redirects)"
    lines = response.text.strip().splitlines()
    return lines[0][:200] if lines else ""


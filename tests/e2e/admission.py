"""The e2e scenario's admission step: farod's actuator sets ``max_queued_requests`` on real Ray Serve
deployments, Serve rejects the excess of a burst with 503, and lifting the limit restores Serve's own
setting (no limit) so the same burst is served in full.

It runs on the two freshly deployed applications before farod starts (nothing else writes then):
``serve-cluster0`` uses the external scaling API, so its limit exercises the PUT path that carries its
replica target too; ``serve-cluster1`` is declarative. A burst of :data:`BURST` concurrent requests to
``serve-cluster1`` (2 replicas x ``max_ongoing_requests`` 8 = 16 in service) must see 503s with a
limit of 1 waiting request and none without a limit.

Serve's controller reports a new limit before every router holds it (the proxy learns it by long
poll), so a burst right after the report may still meet the old setting: each phase sends up to
:data:`ATTEMPTS` bursts, a second apart, until one behaves as its setting demands, and every burst's
503s are counted.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from farod.signals.prometheus import demand

BURST = 40
LIMITS = (3, 1)  # serve-cluster0, serve-cluster1
ATTEMPTS = 5


def check(actuator, jobs: dict, keys: tuple[str, str], *, dashboard: str, serve: str, token: Path,
          replicas: int) -> dict:
    """Set, observe and lift the limits; returns the findings and ``failures``."""
    targets = {key: replicas for key in keys}
    failures = []
    actuator.apply(targets, jobs, dict(zip(keys, LIMITS)))
    limited = _until(lambda: _limits(dashboard, token, keys) == list(LIMITS))
    bursts_limited = _bursts(f"{serve}/c1", lambda statuses: statuses.get(503) and statuses.get(200))
    statuses_limited = bursts_limited[-1]
    external_replicas = _deployment(dashboard, token, keys[0])["target_num_replicas"]
    actuator.apply(targets, jobs, dict.fromkeys(keys))
    lifted = _until(lambda: _limits(dashboard, token, keys) == [-1, -1])
    configs = [_config_entry(dashboard, token, key) for key in keys]
    bursts_lifted = _bursts(f"{serve}/c1", lambda statuses: statuses == {200: BURST})
    statuses_lifted = bursts_lifted[-1]
    if not limited:
        failures.append(f"max_queued_requests never reached {LIMITS}: {_limits(dashboard, token, keys)}")
    if not (statuses_limited.get(503) and statuses_limited.get(200)):
        failures.append(f"a burst of {BURST} under a limit of {LIMITS[1]} was not partly rejected: {statuses_limited}")
    if external_replicas != replicas:
        failures.append(f"the limit's PUT moved {keys[0]} to {external_replicas} replicas")
    if not lifted or any("max_queued_requests" in entry for entry in configs):
        failures.append(f"the lifted limits were not restored: {_limits(dashboard, token, keys)}, {configs}")
    if statuses_lifted != {200: BURST}:
        failures.append(f"a burst of {BURST} without a limit was not served in full: {statuses_lifted}")
    rejected = sum(statuses.get(503, 0) for statuses in bursts_limited + bursts_lifted)
    return {"limited": statuses_limited, "lifted": statuses_lifted, "bursts": [len(bursts_limited), len(bursts_lifted)],
            "rejected": rejected, "failures": failures}


def counted(query, limits: dict) -> list[str]:
    """Failures unless Prometheus holds the bursts' 503s under the series the daemon's history adds
    to the router's count (:func:`farod.signals.prometheus.demand`), for the right deployment."""
    found = {(r["metric"].get("application"), r["metric"].get("deployment")): float(r["value"][1])
             for r in query(f"sum by (application, deployment, error_code) ({demand()})")
             if r["metric"].get("error_code") == "503"}
    rejected = limits["rejected"]
    if found.get(("serve-cluster1", "classifier")) != rejected:
        return [f"the {rejected} rejections of the bursts are not counted as demand in Prometheus: {found}"]
    return []


def _bursts(url: str, done) -> list[dict[int, int]]:
    """Bursts until ``done(statuses)``, at most :data:`ATTEMPTS`; each one's statuses."""
    seen = [_burst(url)]
    while not done(seen[-1]) and len(seen) < ATTEMPTS:
        time.sleep(1)
        seen.append(_burst(url))
    return seen


def _burst(url: str) -> dict[int, int]:
    """Status code -> count of :data:`BURST` requests sent at once."""
    def one(_):
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    with ThreadPoolExecutor(BURST) as pool:
        codes = list(pool.map(one, range(BURST)))
    return {code: codes.count(code) for code in sorted(set(codes))}


def _until(ready, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(1)
    return False


def _details(dashboard: str, token: Path) -> dict:
    request = urllib.request.Request(f"{dashboard}/api/serve/applications/",
                                     headers={"Authorization": f"Bearer {token.read_text().strip()}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _deployment(dashboard: str, token: Path, key: str) -> dict:
    application, deployment = key.split("/")
    return _details(dashboard, token)["applications"][application]["deployments"][deployment]


def _limits(dashboard: str, token: Path, keys) -> list:
    """Each deployment's max_queued_requests as Serve runs it (-1: no limit)."""
    return [_deployment(dashboard, token, key)["deployment_config"].get("max_queued_requests") for key in keys]


def _config_entry(dashboard: str, token: Path, key: str) -> dict:
    application, deployment = key.split("/")
    config = _details(dashboard, token)["applications"][application]["deployed_app_config"]
    return next(entry for entry in config["deployments"] if entry["name"] == deployment)

"""The forecasters' history counts the demand: requests an admission limit rejected (the proxy's 503s,
which Ray's router never counts) are added to the router's count; other errors are not.

Half an hour written with promtool: the router admits 60 requests a minute of a/m, the proxy answers
30 a minute with 503 (the limit's rejections) and 10 with 500 (a failing model: those passed the
router already); b/m has no rejections at all.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from daemon_support import PrometheusServer
from farod.jobs import JobSpec
from farod.signals.prometheus import PrometheusSignals

T0 = (math.floor(time.time() / 3600) - 2) * 3600  # two hours ago, on the hour: inside the retention
JOBS = {f"{app}/m": JobSpec(application=app, deployment="m", slo_ms=500) for app in ("a", "b")}
PER_MINUTE = {("ray_serve_num_router_requests_total", "a", None): 60,
              ("ray_serve_num_router_requests_total", "b", None): 40,
              ("ray_serve_num_deployment_http_error_requests_total", "a", "503"): 30,
              ("ray_serve_num_deployment_http_error_requests_total", "a", "500"): 10}


def history() -> str:
    lines = []
    for name in sorted({name for name, _, _ in PER_MINUTE}):
        lines.append(f"# TYPE {name.removesuffix('_total')} counter")
        for (metric, app, code), per_minute in PER_MINUTE.items():
            if metric != name:
                continue
            labels = f'application="{app}",deployment="m"' + (f',error_code="{code}",route="/{app}"' if code else "")
            lines += [f"{name}{{{labels}}} {per_minute * s / 60:g} {T0 + s}" for s in range(0, 30 * 60, 15)]
    return "\n".join([*lines, "# EOF", ""])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    server = PrometheusServer.holding(tmp_path_factory.mktemp("rejections"), history())
    yield server
    server.stop()


def test_arrivals_add_the_limits_rejections_to_the_routers_count_and_nothing_else(prometheus):
    arrivals = PrometheusSignals(url=prometheus.url).arrivals(JOBS, start=T0 + 600, steps=10)
    np.testing.assert_allclose(arrivals["a/m"], 90.0, rtol=1e-6)  # 60 admitted + 30 rejected, not the 500s
    np.testing.assert_allclose(arrivals["b/m"], 40.0, rtol=1e-6)

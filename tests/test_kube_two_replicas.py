"""Two farod replicas (leader and standby) scraped by one real Prometheus: one series per job."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

from daemon_support import PrometheusServer, StubSignals, wait_until
from fakekube import FakeKube
from kube_support import incluster_config, put_rayservice

from farod.daemon.incluster import InCluster, parse_config_text

CONFIG = incluster_config(extra="intervals: {tick_s: 0.5, plan_s: 1}\nserver: {host: 127.0.0.1, port: 0}\n",
                          request_timeout_s=1, lease=(6, 4, 0.5))
PER_JOB = ("farod_target_replicas", "farod_signal_stale", "farod_slo_seconds")


def _query(prometheus: PrometheusServer, expr: str) -> list[dict]:
    url = f"{prometheus.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]["result"]


def test_only_the_leader_exports_per_job_series(tmp_path):
    with FakeKube() as kube:
        put_rayservice(kube)
        config = parse_config_text(CONFIG)
        replicas = [InCluster(config, config_text=CONFIG, api_client=kube.api_client(), identity=f"farod-{index}",
                              signals=StubSignals(config.jobs_by_key)) for index in range(2)]
        for replica in replicas:
            replica.start()
        prometheus = PrometheusServer(tmp_path, targets=[f"127.0.0.1:{replica.daemon.port}" for replica in replicas])
        prometheus.start()
        try:
            wait_until(lambda: len(_query(prometheus, "farod_leader")) == 2
                       and len(_query(prometheus, "farod_target_replicas")) == 2, timeout_s=30)
            leader = next(replica for replica in replicas if replica.elector.is_leader)
            leader_instance = f"127.0.0.1:{leader.daemon.port}"
            leading = {sample["metric"]["instance"]: sample["value"][1]
                       for sample in _query(prometheus, "farod_leader")}
            assert leading[leader_instance] == "1" and sorted(leading.values()) == ["0", "1"]
            per_job = _query(prometheus, "count by (application, deployment) (farod_target_replicas)")
            assert sorted(s["value"][1] for s in per_job) == ["1", "1"]  # one series (one line) per job
            for name in PER_JOB:
                per_job = _query(prometheus, f"count by (application, deployment) ({name})")
                assert {(s["metric"]["application"], s["metric"]["deployment"]) for s in per_job} == {("a", "m"),
                                                                                                       ("b", "m")}
                instances = {s["metric"]["instance"] for s in _query(prometheus, name)}
                assert instances == {leader_instance}, name
            for name in ("farod_policy_info", "farod_quota_used_ratio"):
                assert {s["metric"]["instance"] for s in _query(prometheus, name)} == {leader_instance}, name
        finally:
            prometheus.stop()
            for replica in replicas:
                replica.stop()

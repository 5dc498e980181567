"""Tokens go to the configured origin only, never over plain http unless allowed, never into a message;
TLS with a CA file for Prometheus and the Ray dashboard; bounded waits; URL-safe names. Servers on 127.0.0.1
(a real Prometheus for TLS, small fakes elsewhere)."""

from __future__ import annotations

import logging
import socket
import subprocess
import shutil

import pytest
import yaml

from daemon_support import free_port, wait_until
from farod.actuators.base import ActuationError
from farod.actuators.rayserve import RayServeActuator
from farod.daemon.config import parse_config
from farod.errors import FarodError
from farod.jobs import JobSpec
from farod.signals.client import PrometheusClient, PrometheusUnavailable
from http_fakes import AnswerServer, TrickleServer, self_signed_ca, server_tls, vector

TOKEN = "tok-3f9a1c7e"
JOB = {"a/m": JobSpec(application="a", deployment="m", slo_ms=500, service_time_ms=100)}
UP = vector(({"__name__": "up"}, [1000.5, "1"]))


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


@pytest.fixture
def servers():
    made: list[AnswerServer] = []

    def make(**kwargs) -> AnswerServer:
        made.append(AnswerServer(**kwargs))
        return made[-1]

    yield make
    for server in made:
        server.close()


def ask_prometheus(url: str, **kwargs):
    return PrometheusClient(url=url, timeout_s=2, retries=0, **kwargs).instant("up", at=1000.5)


def ask_dashboard(url: str, **kwargs):
    return RayServeActuator(url=url, timeout_s=2, **kwargs).read(JOB)


FAILURES = {ask_prometheus: PrometheusUnavailable, ask_dashboard: ActuationError}


@pytest.mark.parametrize("ask", [ask_prometheus, ask_dashboard])
@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_to_another_origin_never_carries_the_token(servers, token_file, ask, status):
    elsewhere = servers()
    redirecting = servers()
    redirecting.answer("", status=status, headers={"Location": f"{elsewhere.url}/api/v1/query?token={TOKEN}"})
    with pytest.raises(FAILURES[ask]) as caught:
        ask(redirecting.url, bearer_token_file=token_file)
    assert [auth for _, _, auth in redirecting.seen] == [f"Bearer {TOKEN}"]
    assert elsewhere.seen == []  # not followed at all, so nothing reaches the other port
    message = str(caught.value)
    assert "redirect" in message and TOKEN not in message and "\n" not in message


@pytest.mark.parametrize("build, setting", [
    (lambda **kw: PrometheusClient(**kw), "prometheus"),
    (lambda **kw: RayServeActuator(**kw), "actuator.rayserve"),
])
def test_a_token_over_plain_http_is_refused_in_one_line_unless_allowed(token_file, build, setting):
    with pytest.raises(FarodError) as caught:
        build(url="http://metrics.example.com:9090", bearer_token_file=token_file)
    assert str(caught.value) == (f"{setting}.url: a bearer token over plain http is refused; use https:// or set "
                                 f"{setting}.allow_insecure_http: true")
    build(url="http://metrics.example.com:9090", bearer_token_file=token_file, allow_insecure_http=True)
    build(url="http://metrics.example.com:9090")  # no token, nothing to protect
    for loopback in ("http://127.0.0.1:9090", "http://localhost:8265", "http://[::1]:8265"):
        build(url=loopback, bearer_token_file=token_file)  # never leaves the machine (the e2e dashboard)


def test_validate_refuses_a_token_over_plain_http_with_the_same_line(token_file, tmp_path):
    def config(prometheus: dict, rayserve: dict) -> dict:
        return {"prometheus": prometheus, "jobs": [{"application": "a", "deployment": "m", "slo_ms": 500}],
                "quota": {"cpu": 4}, "policy": {"name": "aiad"}, "actuator": {"kind": "rayserve", "rayserve": rayserve}}

    remote = {"url": "http://metrics.example.com:9090", "bearer_token_file": token_file}
    with pytest.raises(FarodError, match=r"^prometheus\.url: a bearer token over plain http is refused"):
        parse_config(config(remote, {}))
    with pytest.raises(FarodError, match=r"^actuator\.rayserve\.url: a bearer token over plain http is refused"):
        parse_config(config({}, remote))
    allowed = parse_config(config({**remote, "allow_insecure_http": True}, {**remote, "allow_insecure_http": True,
                                                                             "ca_file": token_file}))
    assert allowed.prometheus.allow_insecure_http and allowed.actuator.rayserve.ca_file == token_file


@pytest.mark.parametrize("ask", [ask_prometheus, ask_dashboard])
def test_a_token_in_the_url_or_echoed_by_the_server_never_appears_in_an_error(servers, token_file, ask):
    with pytest.raises(FAILURES[ask]) as caught:
        ask(f"http://127.0.0.1:{free_port()}/?token=s3cret-q", bearer_token_file=token_file)
    assert "s3cret-q" not in str(caught.value) and "refused" in str(caught.value)

    echoing = servers()
    echoing.answer(f'{{"status": "error", "error": "denied token=s3cret-q for Bearer {TOKEN}"}}', status=403)
    with pytest.raises(FAILURES[ask]) as caught:
        ask(f"{echoing.url}/?token=s3cret-q", bearer_token_file=token_file)
    assert "token=s3cret-q" in echoing.seen[0][1]  # the URL's parameter is still sent
    message = str(caught.value)
    assert "403" in message and "s3cret-q" not in message and TOKEN not in message and "<redacted>" in message


def test_a_token_in_the_url_stays_out_of_urllib3s_debug_log(servers, caplog):
    server = servers()
    server.answer(UP)
    with caplog.at_level(logging.DEBUG):
        PrometheusClient(url=f"{server.url}/?token=s3cret-q").instant("up", at=1000.5)
    assert "/api/v1/query?" in caplog.text and "s3cret-q" not in caplog.text


@pytest.mark.parametrize("ask", [ask_prometheus, ask_dashboard])
def test_a_token_with_a_line_break_is_refused_without_echoing_it(servers, tmp_path, ask):
    server = servers()
    token_file = tmp_path / "token"
    token_file.write_text("first-half\nsecond-half\n")
    with pytest.raises(FAILURES[ask]) as caught:
        ask(server.url, bearer_token_file=str(token_file))
    assert "whitespace or control characters" in str(caught.value) and "half" not in str(caught.value)
    assert server.seen == []


def test_the_token_file_is_read_at_every_request(servers, token_file):
    server = servers()
    server.answer(UP)
    client = PrometheusClient(url=server.url, bearer_token_file=token_file)
    client.instant("up", at=1000.5)
    with open(token_file, "w") as handle:
        handle.write("rotated-token")
    client.instant("up", at=1000.5)
    assert [auth for _, _, auth in server.seen] == [f"Bearer {TOKEN}", "Bearer rotated-token"]


@pytest.mark.parametrize("ask", [ask_prometheus, ask_dashboard])
def test_tls_with_a_ca_file(servers, tmp_path, ask):
    ca, cert, key = self_signed_ca(tmp_path)
    server = servers(tls=server_tls(cert, key))
    server.answer(UP if ask is ask_prometheus else {"applications": {}})
    ask(server.url, ca_file=str(ca))
    ask(server.url, tls_verify=False)
    with pytest.raises(FAILURES[ask], match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        ask(server.url)  # the system store does not know the test CA


@pytest.mark.parametrize("ask", [ask_prometheus, ask_dashboard])
def test_a_ca_file_gone_at_request_time_is_a_one_line_failure(servers, tmp_path, ask):
    ca, cert, key = self_signed_ca(tmp_path)
    server = servers(tls=server_tls(cert, key))
    server.answer(UP if ask is ask_prometheus else {"applications": {}})
    ca.unlink()  # e.g. a Secret remounted under the running daemon
    with pytest.raises(FAILURES[ask], match=r"unreachable|invalid path") as caught:
        ask(server.url, ca_file=str(ca))
    assert str(ca) in str(caught.value) and "\n" not in str(caught.value)


@pytest.fixture
def tls_prometheus(tmp_path):
    ca, cert, key = self_signed_ca(tmp_path)
    port = free_port()
    (tmp_path / "web.yml").write_text(yaml.safe_dump({"tls_server_config": {"cert_file": str(cert),
                                                                           "key_file": str(key)}}))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"}}))
    process = subprocess.Popen(
        [shutil.which("prometheus") or "/usr/bin/prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--web.config.file={tmp_path / 'web.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield f"https://127.0.0.1:{port}", str(ca)
    process.kill()
    process.wait(timeout=10)


def test_a_real_prometheus_over_tls_with_a_ca_file(tls_prometheus):
    url, ca = tls_prometheus
    client = PrometheusClient(url=url, ca_file=ca)
    assert wait_until(lambda: client.instant("vector(7)", at=1000.5)) == [({}, 7.0)]
    with pytest.raises(PrometheusUnavailable, match="certificate verify failed|CERTIFICATE_VERIFY_FAILED"):
        PrometheusClient(url=url).instant("vector(7)", at=1000.5)


@pytest.mark.parametrize("ask", [ask_prometheus, ask_dashboard])
def test_a_server_that_never_answers_is_bounded_by_the_timeout(ask):
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        with pytest.raises(FAILURES[ask], match=r"no answer within 2 s"):
            ask(f"http://127.0.0.1:{silent.getsockname()[1]}")


@pytest.mark.parametrize("ask", [ask_prometheus, ask_dashboard])
def test_a_trickling_answer_is_bounded_by_the_timeout_too(ask):
    trickle = TrickleServer(every_s=0.2)  # each read is quick; the whole answer would take 40 s
    try:
        with pytest.raises(FAILURES[ask], match=r"no answer within 2 s"):
            ask(trickle.url)
    finally:
        trickle.close()


def test_application_and_deployment_names_are_one_url_segment_each(servers):
    dashboard = servers()
    jobs = {"k": JobSpec(application="x/../y", deployment="m\n?", slo_ms=500, service_time_ms=100)}
    dashboard.answer({"applications": {"x/../y": {"external_scaler_enabled": True, "deployments": {
        "m\n?": {"target_num_replicas": 2, "deployment_config": {"num_replicas": 2}, "replicas": []}}}}})
    RayServeActuator(url=dashboard.url).apply({"k": 3}, jobs)
    assert dashboard.seen[-1][:2] == ("POST", "/api/v1/applications/x%2F..%2Fy/deployments/m%0A%3F/scale")


@pytest.mark.parametrize("details", [[], {"applications": []}, {"applications": {"a": {"deployments": [1]}}},
                                     {"applications": {"a": {"deployments": {"m": {"target_num_replicas": "2"}}}}},
                                     {"applications": {"a": {"deployments": {"m": {"replicas": [None]}}}}},
                                     {"applications": {"a": {"deployed_app_config": {"name": 3}}}}])
def test_an_unusable_dashboard_answer_is_an_actuation_error(servers, details):
    dashboard = servers()
    dashboard.answer(details)
    with pytest.raises(ActuationError, match=r"the dashboard answered an unusable application list") as caught:
        ask_dashboard(dashboard.url)
    assert caught.value.reason == "http_5xx" and "\n" not in str(caught.value)

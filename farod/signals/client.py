"""Prometheus' HTTP API through prometheus-api-client, every answer checked before farod uses it.

Example::

    client = PrometheusClient(url="https://prometheus.example:9090", bearer_token_file="token", ca_file="ca.pem")
    client.instant("up", at=time.time())
    # -> [({'__name__': 'up', 'job': 'ray'}, 1.0)]
    series = client.range_query('sum by (application) (increase(ray_serve_num_router_requests_total[60s]))',
                                start=t0, end=t0 + 7 * 86400, step_s=60, progress=lambda done, total: ...)
    series[0].labels, series[0].values.shape
    # -> ({'application': 'serve-cluster0'}, (10081,))

The queries go through ``PrometheusConnect`` (``custom_query``, ``custom_query_range``) on the session
of :func:`farod.credentials.api_session`: the bearer token is an ``auth`` hook, so the token file is
re-read at every request; TLS verification and a CA file as configured; no redirects followed.

Any answer farod cannot use raises :class:`PrometheusUnavailable`, just like an outage: refused,
timed out, an HTTP error, a redirect, a body that is not JSON, an error envelope with HTTP 200, a
result of the wrong shape, labels that are not strings, a timestamp that is not a finite number, a
value that is not a number in a string. The daemon counts each as a miss and holds every job. A value
Prometheus itself encodes as ``"NaN"`` or ``"+Inf"`` (a 0/0 mean, a histogram without requests) is
part of a valid answer: it becomes None, a *missing* reading for that one job.

Bounded work: every request has ``timeout_s`` (for connecting, for the headers, and for the whole
body -- :class:`~farod.credentials.BoundedAdapter`); connection failures and
502/503/504 are retried ``retries`` times with a short backoff, ignoring any ``Retry-After``; a long
range is split into chunks of at most :data:`MAX_RANGE_POINTS` steps (Prometheus' limit per series).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timezone

import numpy as np
import requests
from prometheus_api_client import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from farod.credentials import BoundedAdapter, api_session, failure_reason, redactor, split_query
from farod.errors import FarodError

MAX_RANGE_POINTS = 11000  # Prometheus refuses range queries with more points per series


class PrometheusUnavailable(Exception):
    """Prometheus gave no usable answer (connection, timeout, HTTP error, redirect, malformed payload)."""


@dataclasses.dataclass(frozen=True)
class RangeSeries:
    labels: Mapping[str, str]
    values: np.ndarray  # values[i] is the sample at start + i * step_s; NaN where there is none (or NaN/Inf)


class PrometheusClient:
    """Instant and chunked range queries; raises :class:`PrometheusUnavailable` for anything unusable."""

    def __init__(self, *, url: str, timeout_s: float = 5.0, bearer_token_file: str | None = None,
                 tls_verify: bool = True, ca_file: str | None = None, allow_insecure_http: bool = False,
                 retries: int = 2, setting: str = "prometheus"):
        self.url, self._base_params = split_query(url)
        self.timeout_s = timeout_s
        session = api_session(url=url, setting=setting, token_file=bearer_token_file, tls_verify=tls_verify,
                              ca_file=ca_file, allow_insecure_http=allow_insecure_http)
        session.hooks["response"].append(_check_answer)
        self._redact = redactor(session)
        retry = Retry(total=retries, read=False, backoff_factor=0.25, status_forcelist=(502, 503, 504),
                      respect_retry_after_header=False, raise_on_status=False)
        self._api = PrometheusConnect(url=self.url, session=session, retry=retry, timeout=timeout_s)
        session.mount(self.url, BoundedAdapter(max_retries=retry))  # in place of the client's plain adapter

    def instant(self, expr: str, *, at: float) -> list[tuple[dict[str, str], float | None]]:
        """``(labels, value)`` of every series of the instant vector ``expr`` at ``at``."""
        result = self._call(self._api.custom_query, expr, params={**self._base_params, "time": f"{at:.3f}"})
        return [(_labels(item), _sample(item.get("value"))[1]) for item in _items(result)]

    def range_query(self, expr: str, *, start: float, end: float, step_s: float = 60.0,
                    progress: Callable[[int, int], None] | None = None) -> list[RangeSeries]:
        """Every series of ``expr`` on the grid ``start, start + step_s, ... <= end``, chunked.

        ``progress(done, total)`` is called after each chunk with the steps fetched so far and in all.
        """
        if not (math.isfinite(start) and math.isfinite(end) and step_s > 0 and end >= start):
            raise ValueError(f"range query: need start <= end and step_s > 0, got {start}, {end}, {step_s}")
        steps = int(math.floor((end - start) / step_s + 1e-9)) + 1
        merged: dict[tuple, np.ndarray] = {}
        labels_of: dict[tuple, dict[str, str]] = {}
        for first in range(0, steps, MAX_RANGE_POINTS):
            last = min(first + MAX_RANGE_POINTS, steps) - 1
            for labels, (times, samples) in self._range_chunk(expr, start=start + first * step_s,
                                                              end=start + last * step_s, step_s=step_s):
                key = tuple(sorted(labels.items()))
                values = merged.setdefault(key, np.full(steps, np.nan))
                labels_of[key] = labels
                index = np.rint((times - start) / step_s).astype(np.int64)
                keep = (index >= first) & (index <= last) & np.isfinite(samples)
                values[index[keep]] = samples[keep]
            if progress is not None:
                progress(last + 1, steps)
        return [RangeSeries(labels=labels_of[key], values=values) for key, values in merged.items()]

    def _range_chunk(self, expr: str, *, start: float, end: float, step_s: float,
                     ) -> list[tuple[dict, tuple[np.ndarray, np.ndarray]]]:
        # The client rounds start and end to whole seconds; the exact ones go in params, which it lets win.
        params = {**self._base_params, "start": f"{start:.3f}", "end": f"{end:.3f}"}
        result = self._call(self._api.custom_query_range, expr, start_time=_datetime(start),
                            end_time=_datetime(end), step=f"{step_s:g}", params=params)
        return [(_labels(item), _samples(item.get("values"))) for item in _items(result)]

    def _call(self, query: Callable, *args, **kwargs):
        try:
            return query(*args, **kwargs)
        except PrometheusUnavailable as exc:
            raise PrometheusUnavailable(self._redact(str(exc))) from None
        except FarodError as exc:  # the token file
            raise PrometheusUnavailable(str(exc)) from None
        except requests.Timeout:
            raise PrometheusUnavailable(f"Prometheus at {self._redact(self.url)} unreachable: no answer within "
                                        f"{self.timeout_s:g} s") from None
        except OSError as exc:  # requests' errors, and a CA file gone since start
            raise PrometheusUnavailable(f"Prometheus at {self._redact(self.url)} unreachable: "
                                        f"{self._redact(failure_reason(exc))}") from None
        except (PrometheusApiClientException, ValueError, KeyError, TypeError, AttributeError):
            raise _unusable("not a Prometheus API answer") from None


def _check_answer(response: requests.Response, **_) -> None:
    """Response hook: anything but a JSON success envelope raises before the client parses it."""
    if 300 <= response.status_code < 400:
        raise PrometheusUnavailable(f"Prometheus answered HTTP {response.status_code}, a redirect to "
                                    f"{response.headers.get('Location', '?')[:200]}; farod follows no redirects: "
                                    "configure the final URL")
    try:
        payload = response.json()
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    detail = f": {str(error)[:200]}" if error else ""
    if response.status_code >= 400:
        raise PrometheusUnavailable(f"Prometheus answered HTTP {response.status_code}{detail}")
    if not isinstance(payload, dict):
        raise _unusable("the body is not a JSON object")
    if payload.get("status") != "success":
        raise _unusable(f"status {str(payload.get('status'))[:40]!r}{detail}")
    if not isinstance(payload.get("data"), dict):
        raise _unusable("no data object")
    response.json = lambda **_: payload  # the client would parse the same body (megabytes for a week) again


def _items(result) -> list[dict]:
    if not isinstance(result, list) or not all(isinstance(item, dict) for item in result):
        raise _unusable("the result is not a list of series")
    return result


def _labels(item: Mapping) -> dict[str, str]:
    labels = item.get("metric", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise _unusable("series labels are not a mapping of strings")
    return labels


def _sample(pair) -> tuple[float, float | None]:
    """``(timestamp, value)`` of a ``[ts, "value"]`` pair; the value None where it is NaN or infinite."""
    if not isinstance(pair, list) or len(pair) != 2:
        raise _unusable("a sample is not a [timestamp, value] pair")
    ts, text = pair
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
        raise _unusable(f"a sample timestamp {str(ts)[:40]!r} is not a finite number")
    try:
        value = float(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    if value is None:
        raise _unusable(f"a sample value {str(text)[:40]!r} is not a number in a string")
    return float(ts), value if math.isfinite(value) else None


def _samples(points) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps and values of a range series' ``[[ts, "value"], ...]``, checked as :func:`_sample` does.

    Vectorized: a week of minutes for a hundred deployments is a million points per query.
    """
    if not isinstance(points, list) or set(map(type, points)) - {list} or set(map(len, points)) - {2}:
        raise _unusable("a range series has no list of [timestamp, value] pairs")
    times, texts = zip(*points) if points else ((), ())
    if set(map(type, times)) - {int, float} or set(map(type, texts)) - {str}:
        raise _unusable("a range sample is not a number timestamp with a value in a string")
    try:
        values = np.array(texts, dtype=float)
    except ValueError:
        raise _unusable("a range sample value is not a number") from None
    times = np.array(times, dtype=float)
    if not np.isfinite(times).all():
        raise _unusable("a range sample timestamp is not a finite number")
    return times, values


def _unusable(why: str) -> PrometheusUnavailable:
    return PrometheusUnavailable(f"Prometheus answered an unusable result: {why}")


def _datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


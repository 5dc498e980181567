"""farod.logs: farod's, apscheduler's and urllib3's log lines come out as JSON on one stream, filtered by
one level. Each case runs in its own interpreter, since logging is process-wide state."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from farod.daemon.config import parse_config
from farod.errors import FarodError

ROOT = pathlib.Path(__file__).resolve().parent.parent

# A real apscheduler warning: a job whose run time passed beyond its grace time is reported missed.
EMIT = """
import datetime, sys, threading, warnings
import structlog, urllib3
from apscheduler.events import EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler
from farod.logs import configure_logging

configure_logging(sys.argv[1])
log = structlog.get_logger()
log.debug("farod_debug_line")
log.info("farod_info_line", job="a/d")
missed = threading.Event()
scheduler = BackgroundScheduler(timezone="UTC")
scheduler.add_listener(lambda event: missed.set(), EVENT_JOB_MISSED)
scheduler.start()
past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=30)
scheduler.add_job(print, "date", run_date=past, misfire_grace_time=1, id="late")
assert missed.wait(10), "apscheduler never reported the missed job"
scheduler.shutdown()
warnings.warn("Unverified HTTPS request", urllib3.exceptions.InsecureRequestWarning)
"""


def emit(level: str) -> list[dict]:
    result = subprocess.run([sys.executable, "-c", EMIT, level], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # nothing goes around the JSON stream
    return [json.loads(line) for line in result.stdout.splitlines()]  # every line is JSON


def test_library_warnings_are_json_lines_on_the_same_stream():
    lines = emit("info")
    missed = [line for line in lines if line.get("logger") == "apscheduler.executors.default"]
    assert missed and missed[0]["level"] == "warning" and "was missed by" in missed[0]["event"]
    assert "timestamp" in missed[0]
    insecure = [line for line in lines if line.get("logger") == "py.warnings"]
    assert insecure and "InsecureRequestWarning" in insecure[0]["event"] and insecure[0]["level"] == "warning"
    ours = next(line for line in lines if line["event"] == "farod_info_line")
    assert ours["job"] == "a/d" and ours["level"] == "info"


def test_info_level_keeps_apschedulers_per_run_chatter_out():
    assert not [line for line in emit("info") if line.get("logger", "").startswith("apscheduler")
                and line["level"] == "info"]


def test_debug_lines_only_at_debug_level():
    assert not [line for line in emit("info") if line["level"] == "debug"]
    debug = emit("debug")
    assert any(line["event"] == "farod_debug_line" for line in debug)
    assert any(line.get("logger", "").startswith("apscheduler") and line["level"] == "debug" for line in debug)


def test_warning_level_drops_info():
    lines = emit("warning")
    assert lines and {line["level"] for line in lines} == {"warning"}


@pytest.mark.parametrize("text, ok", [("log_level: debug", True), ("log_level: verbose", False), ("", True)])
def test_log_level_is_a_checked_config_key(text, ok, tmp_path):
    base = yaml.safe_load((ROOT / "config" / "farod.example.yaml").read_text())
    extra = yaml.safe_load(text) or {}
    if ok:
        assert parse_config({**base, **extra}).log_level == extra.get("log_level", "info")
    else:
        with pytest.raises(FarodError, match="^log_level: must be one of debug, info, warning, error, got 'verbose'$"):
            parse_config({**base, **extra})

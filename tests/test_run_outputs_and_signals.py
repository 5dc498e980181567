"""What an impatient operator meets: a SIGTERM while `farod run` is still starting stops it cleanly, and
an output path that cannot be written is refused before a long run, not after it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml
from daemon_support import wait_until

from farod.cli import main
from farod.cli.output import check_writable
from tests.test_daemon_config import with_

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthz(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
        return answer.status == 200


def test_a_sigterm_while_starting_stops_the_daemon_cleanly(tmp_path):
    with socket.socket() as silent:  # a Prometheus that takes the connection and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = _free_port()
        config = with_("prometheus", {"url": f"http://127.0.0.1:{silent.getsockname()[1]}", "timeout_s": 30},
                       base=with_("server", {"host": "127.0.0.1", "port": port}))
        path = tmp_path / "farod.yaml"
        path.write_text(yaml.safe_dump({**config, "actuator": {"kind": "dry-run"}}))
        process = subprocess.Popen([sys.executable, "-m", "farod", "run", "--config", str(path)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            wait_until(lambda: _healthz(port), timeout_s=120)  # serving, and still fetching history
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=90)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, err  # was -15: killed before the handler was installed
    assert '"event": "stopped"' in out + err


def test_compare_refuses_an_unwritable_json_path_before_running(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["compare", "--cpus", "32", "--policies", "fairshare", "--seeds", "1", "--minutes", "4",
                 "--workers", "1", "--train", "none", "--json", str(blocker / "out.json")]) == 2
    err = capsys.readouterr().err
    # one line, and no progress line before it: nothing ran
    assert err.startswith(f"farod: error: --json: cannot write {blocker / 'out.json'}: ") and err.count("\n") == 1
    assert not (tmp_path / "out.json").exists()


def test_checking_a_writable_path_leaves_no_file_and_keeps_an_existing_one(tmp_path):
    fresh, existing = tmp_path / "new" / "c.json", tmp_path / "old.json"
    existing.write_text("kept")
    check_writable(str(fresh))
    check_writable(str(existing))
    assert not fresh.exists() and existing.read_text() == "kept"

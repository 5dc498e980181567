"""`farod compare --ray-address`: runs as Ray tasks on an existing cluster (a real one, started here)."""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from daemon_support import free_port

BIN = Path(sys.executable).parent


@pytest.fixture
def ray_cluster():
    port = free_port()
    temp_dir = tempfile.mkdtemp(prefix="farod-sim-ray-")  # short: Ray's socket paths must fit 107 bytes
    token = Path(temp_dir) / "token"
    token.write_text(secrets.token_hex(32))
    # Token auth from our own file: never whatever a ~/.ray of this machine holds.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    argv = [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
            "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}",
            f"--ray-client-server-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
            f"--min-worker-port={free_port()}", "--max-worker-port=0"]  # fmt: skip
    # SIGINT stops it below; a shell starts background jobs with SIGINT ignored, which it would inherit.
    head = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None, "ray start exited"
                assert time.monotonic() < deadline, "Ray did not start"
                time.sleep(0.5)
        yield f"127.0.0.1:{port}", env
    finally:
        if head.poll() is None:
            head.send_signal(signal.SIGINT)  # `ray start --block` stops what it started
            try:
                head.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)
                head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.live
def test_compare_runs_as_ray_tasks(ray_cluster, tmp_path):
    address, env = ray_cluster
    out = tmp_path / "c.json"
    argv = [sys.executable, "-m", "farod", "compare", "--minutes", "5", "--cpus", "32", "--policies", "fairshare,aiad",
            "--seeds", "1,2", "--train", "none", "--ray-address", address, "--json", str(out)]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    runs = json.loads(out.read_text())["runs"]
    assert [(r["policy"], r["seed"]) for r in runs] == [("fairshare", 1), ("fairshare", 2), ("aiad", 1), ("aiad", 2)]
    assert all(r["requests"] > 0 for r in runs)


def test_an_unreachable_ray_address_is_one_error_line(tmp_path):
    argv = [sys.executable, "-m", "farod", "simulate", "--minutes", "2", "--cpus", "32", "--policy", "fairshare",
            "--train", "none", "--ray-address", f"127.0.0.1:{free_port()}"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("farod: error: --ray-address: cannot connect")
    assert len(done.stderr.strip().splitlines()) == 1

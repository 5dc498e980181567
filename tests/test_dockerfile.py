"""The Dockerfile, checked as text (no container engine on the build machines)."""

from __future__ import annotations

import json
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def test_final_stage_is_slim_python():
    op, image = _final_stage()[0]
    assert re.fullmatch(r"python:3\.11-slim(@sha256:[0-9a-f]+)?", image)


def test_runs_as_the_charts_non_root_user():
    users = [arg for op, arg in _final_stage() if op == "USER"]
    assert users, "no USER in the final stage"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    values = yaml.safe_load((ROOT / "helm" / "farod" / "values.yaml").read_text())
    assert int(uid) == values["podSecurityContext"]["runAsUser"]
    last_user = max(i for i, (op, _) in enumerate(_final_stage()) if op == "USER")
    assert all(op != "RUN" for op, _ in _final_stage()[last_user:]), "RUN after USER would run as the user"


def test_entrypoint_is_farod_run_with_the_charts_config_path():
    final = dict(_final_stage())
    assert json.loads(final["ENTRYPOINT"]) == ["farod", "run"]
    assert json.loads(final["CMD"]) == ["--config", "/etc/farod/farod.yaml"]
    deployment = (ROOT / "helm" / "farod" / "templates" / "deployment.yaml").read_text()
    assert 'args: ["--config", "/etc/farod/{{ .Values.configKey }}"]' in deployment


def test_image_installs_the_daemon_without_extras():
    """The build stage runs docker/install-daemon.sh (what bench/install_size.py measures) on `.`."""
    instructions = _instructions()
    assert not [arg for op, arg in instructions if op == "RUN" and "pip install" in arg], "pip outside the script"
    assert ("COPY", "docker/install-daemon.sh ./docker/") in instructions
    assert "docker" not in (ROOT / ".dockerignore").read_text().split()
    runs = [arg.split() for op, arg in instructions if op == "RUN" and "install-daemon.sh" in arg]
    assert runs == [["sh", "docker/install-daemon.sh", "/install"]]  # no SOURCE argument: the default, `.`
    script = (ROOT / "docker" / "install-daemon.sh").read_text().splitlines()
    assert "source=${2:-.}" in script
    [pip] = [line for line in script if "pip install" in line and not line.startswith("#")]
    assert pip.split()[-1] == '"$source"', f"the image installs {pip.split()[-1]!r}: the daemon is `.` without extras"

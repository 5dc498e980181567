"""The daemon install, for real, two ways, each with its size and the daemon's commands run from it.

    python bench/install_size.py                 # needs the package index (pip); about 5 minutes

- plain: `pip install farod` (no extras) into a fresh virtualenv, as a user gets it: the size of its
  site-packages, and of what farod's install put there (without the virtualenv's own pip and setuptools);
- image: the Dockerfile's install step, docker/install-daemon.sh (pip with --no-cache-dir
  under a prefix, bytecode compiled, the libraries' bundled test suites removed), run by a fresh virtualenv's Python: the
  site-packages tree it leaves, which the image copies onto python:3.11-slim's /usr/local, plus the pip
  and setuptools already there (sized as the build virtualenv's own: no Docker engine here).

Each size is compared with the target (at most 450 MB); the image's must meet it. Then the largest distributions, whether any
extra's package slipped in, and, for both installs, each command's exit status: `farod --version`,
`run --help`, `validate`, `plan`, `forecast backtest` (seasonal and ets), a dry-run `run` stopped by
SIGTERM after its first decision, `explain`, and `compare`, which must fail in one line naming the extra.
Exits non-zero when a check fails. tests/test_install_split.py checks the same import graph offline.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import venv

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET_MB = 450
EXTRAS_PACKAGES = ("numba", "llvmlite", "matplotlib", "ray")
# kubernetes >= 36 requires aiohttp for its asyncio client; the daemon never imports it
# (tests/test_install_split.py), so it is reported, not refused
TRANSITIVE = ("aiohttp",)
VENV_OWN = ("pip", "setuptools")  # in every virtualenv (and the python image) before farod
DATA = ROOT / "farod" / "data"
CLEAN_ENV = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}


def tree_bytes(path: pathlib.Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def distribution_sizes(python: pathlib.Path, env: dict[str, str]) -> dict[str, int]:
    """Bytes of every distribution installed for ``python``, by lower-case name."""
    script = ("import importlib.metadata as m, json, os; print(json.dumps({d.metadata['Name'].lower(): "
              "sum(os.path.getsize(d.locate_file(f)) for f in (d.files or []) if os.path.isfile(d.locate_file(f))) "
              "for d in m.distributions()}))")
    return json.loads(subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True,
                                     env=env).stdout)


class Install:
    """One daemon install: how to start its farod, with which environment, and its site-packages."""

    def __init__(self, label: str, python: pathlib.Path, script: pathlib.Path, site: pathlib.Path,
                 env: dict[str, str]):
        self.label, self.python, self.site, self.env = label, python, site, env
        self.farod = [str(python), str(script)]

    def run(self, args: list[str], workdir: pathlib.Path) -> subprocess.CompletedProcess:
        return subprocess.run([*self.farod, *args], capture_output=True, text=True, cwd=workdir, env=self.env)


def plain_install(workdir: pathlib.Path) -> Install:
    env_dir = workdir / "plain"
    venv.create(env_dir, with_pip=True, clear=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-cache-dir", str(ROOT)], check=True, env=CLEAN_ENV)
    return Install("plain", python, env_dir / "bin" / "farod", next((env_dir / "lib").glob("python*/site-packages")),
                   CLEAN_ENV)


def image_install(workdir: pathlib.Path) -> Install:
    env_dir, prefix = workdir / "build", workdir / "image"
    venv.create(env_dir, with_pip=True, clear=True)
    subprocess.run(["sh", str(ROOT / "docker" / "install-daemon.sh"), str(prefix), str(ROOT)], check=True,
                   env={**CLEAN_ENV, "PATH": f"{env_dir / 'bin'}:{CLEAN_ENV['PATH']}"})
    site = next((prefix / "lib").glob("python*/site-packages"))
    # as in the image (PYTHONDONTWRITEBYTECODE, read-only root): nothing compiled into the measured tree
    env = {**CLEAN_ENV, "PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"}
    return Install("image", env_dir / "bin" / "python", prefix / "bin" / "farod", site, env)


def dry_run_start(install: Install, workdir: pathlib.Path) -> tuple[int, str]:
    config = yaml.safe_load((ROOT / "config" / "farod.example.yaml").read_text())
    config["prometheus"].update(url="http://127.0.0.1:9", timeout_s=1, backfill_days=0)
    config.update(actuator={"kind": "dry-run"}, server={"host": "127.0.0.1", "port": 0},
                  intervals={"tick_s": 1, "plan_s": 2})
    path = workdir / "farod.yaml"
    path.write_text(yaml.safe_dump(config))
    daemon = subprocess.Popen([*install.farod, "run", "--config", str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=install.env)
    try:
        for line in daemon.stdout:
            if json.loads(line).get("event") == "decision":
                daemon.send_signal(signal.SIGTERM)
                break
        out, err = daemon.communicate(timeout=60)
    finally:
        daemon.kill()
    return daemon.returncode, (out.splitlines() or [""])[-1] + err


def report_size(install: Install, sizes: dict[str, int]) -> bool:
    """The site-packages as a user gets it: the plain virtualenv's own, or the image's, which is the install
    step's tree on top of the base image's pip and setuptools (measured in the build virtualenv)."""
    own = sum(sizes.get(name, 0) for name in VENV_OWN)
    tree = tree_bytes(install.site)
    total = tree if install.label == "plain" else tree + own
    meets = total <= TARGET_MB * 1e6
    print(f"{install.label}: site-packages {total / 1e6:.0f} MB, target <= {TARGET_MB} MB: {'met' if meets else 'MISSED'}")
    print(f"  of which farod's install {(total - own) / 1e6:.0f} MB and {' and '.join(VENV_OWN)} {own / 1e6:.0f} MB"
          + (" (the python:3.11-slim base's own)" if install.label == "image" else " (the virtualenv's own)"))
    return meets


def check_commands(install: Install, workdir: pathlib.Path) -> bool:
    day10, train = str(DATA / "azure_twitter_10jobs_day10.jsonl"), str(DATA / "azure_twitter_10jobs_days1-10_6h_per_minute.csv")
    backtest = ["forecast", "backtest", "--trace", day10, "--train", train]
    commands = {
        "--version": ["--version"],
        "run --help": ["run", "--help"],
        "validate": ["validate", str(ROOT / "config" / "farod.example.yaml")],
        "plan": ["plan", "--input", str(ROOT / "examples" / "plan-10jobs.json"), "--method", "exact"],
        "explain": ["explain", str(ROOT / "examples" / "decision-plan.jsonl")],
        "backtest seasonal": [*backtest, "--model", "seasonal", "--minutes", "60"],
        "backtest ets": [*backtest, "--model", "ets", "--minutes", "30"],
    }
    ok = True
    for label, command in commands.items():
        result = install.run(command, workdir)
        ok &= result.returncode == 0
        print(f"  farod {label:18s} exit {result.returncode}  {(result.stdout.strip().splitlines() or [''])[-1][:60]}")
    code, last = dry_run_start(install, workdir)
    ok &= code == 0 and '"stopped"' in last
    print(f"  farod run (dry-run)      exit {code}  {last.strip()[:60]}")
    compare = install.run(["compare", "--cpus", "32", "--policies", "fairshare", "--seeds", "1"], workdir)
    ok &= compare.returncode == 2 and len(compare.stderr.splitlines()) == 1 and "farod[sim]" in compare.stderr
    print(f"  farod compare            exit {compare.returncode}  {compare.stderr.strip()}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="build the installs here and keep them")
    args = parser.parse_args()
    workdir = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="farod-install-"))
    installs = [plain_install(workdir), image_install(workdir)]
    print(f"Python {sys.version_info.major}.{sys.version_info.minor}, `pip install farod` without extras")
    sizes = {install.label: distribution_sizes(install.python, install.env) for install in installs}
    meets = {install.label: report_size(install, sizes[install.label]) for install in installs}
    ok = meets["image"]  # what ships; the plain figure is what a `pip install farod` user carries
    print(f"  {'largest distributions':24s} {'plain':>9s} {'image':>9s}")
    for name, size in sorted(sizes["plain"].items(), key=lambda item: -item[1])[:10]:
        print(f"  {name:24s} {size / 1e6:6.1f} MB {sizes['image'].get(name, 0) / 1e6:6.1f} MB")
    for install in installs:
        found = [name for name in EXTRAS_PACKAGES if name in sizes[install.label]]
        ok &= not found
        print(f"{install.label}: extras' packages installed: {found or 'none'}; pulled in by a daemon dependency: "
              f"{[name for name in TRANSITIVE if name in sizes[install.label]] or 'none'}")
        ok &= check_commands(install, workdir)
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

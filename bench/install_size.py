"""The daemon install, for real: `pip install farod` (no extras) into a fresh virtualenv, its size, and
the daemon's commands run from it.

    python bench/install_size.py                 # needs the package index (pip); about 2 minutes

Prints the site-packages size (target: at most 450 MB) and what farod's install added to it (the
Dockerfile's `pip install --prefix=/install .` copies that into the image, whose base already has pip
and setuptools), the largest distributions, whether any extra's package slipped in, and each
command's exit status:
`farod --version`, `run --help`, `validate`, `plan`, `forecast backtest`, a dry-run `run` stopped by
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
EXTRAS_PACKAGES = ("numba", "llvmlite", "matplotlib", "ray", "statsmodels", "pandas")
# kubernetes >= 36 requires aiohttp for its asyncio client; the daemon never imports it
# (tests/test_install_split.py), so it is reported, not refused
TRANSITIVE = ("aiohttp",)
VENV_OWN = ("pip", "setuptools")  # in every virtualenv (and the python image) before farod
DATA = ROOT / "farod" / "data"
CLEAN_ENV = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}


def tree_bytes(path: pathlib.Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def distribution_sizes(python: pathlib.Path) -> dict[str, int]:
    """Bytes of every distribution installed for ``python``, by lower-case name."""
    script = ("import importlib.metadata as m, json, os; print(json.dumps({d.metadata['Name'].lower(): "
              "sum(os.path.getsize(d.locate_file(f)) for f in (d.files or []) if os.path.isfile(d.locate_file(f))) "
              "for d in m.distributions()}))")
    return json.loads(subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True,
                                     env=CLEAN_ENV).stdout)


def dry_run_start(farod: pathlib.Path, workdir: pathlib.Path) -> tuple[int, str]:
    config = yaml.safe_load((ROOT / "config" / "farod.example.yaml").read_text())
    config["prometheus"].update(url="http://127.0.0.1:9", timeout_s=1, backfill_days=0)
    config.update(actuator={"kind": "dry-run"}, server={"host": "127.0.0.1", "port": 0},
                  intervals={"tick_s": 1, "plan_s": 2})
    path = workdir / "farod.yaml"
    path.write_text(yaml.safe_dump(config))
    daemon = subprocess.Popen([str(farod), "run", "--config", str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=CLEAN_ENV)
    try:
        for line in daemon.stdout:
            if json.loads(line).get("event") == "decision":
                daemon.send_signal(signal.SIGTERM)
                break
        out, err = daemon.communicate(timeout=60)
    finally:
        daemon.kill()
    return daemon.returncode, (out.splitlines() or [""])[-1] + err


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="build the virtualenv here and keep it")
    args = parser.parse_args()
    workdir = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="farod-install-"))
    env_dir = workdir / "venv"
    venv.create(env_dir, with_pip=True, clear=True)
    python, farod = env_dir / "bin" / "python", env_dir / "bin" / "farod"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-cache-dir", str(ROOT)], check=True, env=CLEAN_ENV)
    site = next((env_dir / "lib").glob("python*/site-packages"))
    total = tree_bytes(site)
    sizes = distribution_sizes(python)
    extras_found = [name for name in EXTRAS_PACKAGES if name in sizes]
    installed = total - sum(sizes.get(name, 0) for name in VENV_OWN)
    print(f"site-packages of a fresh virtualenv after `pip install farod` (Python {sys.version_info.major}."
          f"{sys.version_info.minor}): {total / 1e6:.0f} MB (target <= {TARGET_MB} MB), {len(sizes)} distributions")
    print(f"what `pip install farod` put there (the image's payload; without the virtualenv's own "
          f"{' and '.join(VENV_OWN)}): {installed / 1e6:.0f} MB")
    for name, size in sorted(sizes.items(), key=lambda item: -item[1])[:10]:
        print(f"  {name:24s} {size / 1e6:7.1f} MB")
    print(f"extras' packages installed: {extras_found or 'none'}; pulled in by a daemon dependency: "
          f"{[name for name in TRANSITIVE if name in sizes] or 'none'}")

    day10, train = str(DATA / "azure_twitter_10jobs_day10.jsonl"), str(DATA / "azure_twitter_10jobs_days1-10_6h_per_minute.csv")
    commands = {
        "--version": ["--version"],
        "run --help": ["run", "--help"],
        "validate": ["validate", str(ROOT / "config" / "farod.example.yaml")],
        "plan": ["plan", "--input", str(ROOT / "examples" / "plan-10jobs.json"), "--method", "exact"],
        "explain": ["explain", str(ROOT / "examples" / "decision-plan.jsonl")],
        "forecast backtest": ["forecast", "backtest", "--trace", day10, "--train", train, "--minutes", "60"],
    }
    ok = total <= TARGET_MB * 1e6 and not extras_found
    for label, command in commands.items():
        result = subprocess.run([str(farod), *command], capture_output=True, text=True, cwd=workdir, env=CLEAN_ENV)
        ok &= result.returncode == 0
        print(f"farod {label:18s} exit {result.returncode}  {(result.stdout.strip().splitlines() or [''])[-1][:70]}")
    code, last = dry_run_start(farod, workdir)
    ok &= code == 0 and '"stopped"' in last
    print(f"farod run (dry-run)      exit {code}  {last.strip()[:70]}")
    compare = subprocess.run([str(farod), "compare", "--cpus", "32", "--policies", "fairshare", "--seeds", "1"],
                             capture_output=True, text=True, cwd=workdir, env=CLEAN_ENV)
    named = compare.returncode == 2 and len(compare.stderr.splitlines()) == 1 and "farod[sim]" in compare.stderr
    ok &= named
    print(f"farod compare            exit {compare.returncode}  {compare.stderr.strip()}")
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Every ``>>>`` example in farod's docstrings runs and prints what it shows (sketches that need a cluster,
Prometheus or a trace are plain code blocks instead), so the examples cannot rot."""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil
from pathlib import Path

import pytest

import farod

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(name for _, name, _ in pkgutil.walk_packages(farod.__path__, "farod.")
                 if not name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name, monkeypatch, tmp_path):
    for folder in ("config", "examples", "farod"):  # examples read repository files (config/, farod/data/) ...
        (tmp_path / folder).symlink_to(ROOT / folder)
    monkeypatch.chdir(tmp_path)  # ... and may write some (t.jsonl), never into the checkout
    module = importlib.import_module(name)
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.write)
    assert runner.failures == 0, report.getvalue()


def test_examples_are_found():
    """The finder sees the runnable examples (a rename of the mechanism would otherwise pass silently)."""
    examples = {name for name in MODULES
                if any(test.examples for test in doctest.DocTestFinder().find(importlib.import_module(name), name))}
    assert {"farod.schema", "farod.sim.config", "farod.daemon.config", "farod.policies.params"} <= examples

"""Every reader and CLI flag against hostile input, as an adversarial user would try it; prints the counts.

    python bench/adversarial.py                    # a few hundred inputs per reader, about 10-20 minutes
    python bench/adversarial.py --count 30 --runs 5 --seed 2

Inputs are mutations of what farod ships (config/farod.example.yaml, the Helm chart's rendered
ConfigMap, examples/plan-10jobs.json, the bundled trace and training CSV): huge integers, 1e308, nan,
deep nesting, non-UTF-8 bytes, duplicate keys, NUL / newline / ``../`` in names, wrong types, missing
sections, negative and zero numbers; and hostile values for every flag of every subcommand. Each goes
through the CLI in this process (``farod.cli.main``): an exception escaping it is a traceback (must be
0); a refusal must be one line ``farod: error: ...`` with exit code 2. Every daemon config ``farod
validate`` accepts is then started with ``farod run`` in a subprocess (dry-run actuator, Prometheus at a
closed loopback port, a free loopback port, Kubernetes off) until ``/healthz`` answers, and stopped with
SIGTERM: one that does not start is "accepted but failing" (must be 0). Loopback only; every call is
bounded (--timeout), starting the accepted configs by --budget and --runs.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from farod.cli import main  # noqa: E402

HOSTILE = [10**400, -(10**400), 1e308, -1e308, float("nan"), float("inf"), -1, 0, -0.5, 2**63, "", "x" * 5000,
           "a\x00b", "a\nb", "../../etc/passwd", "a/b", True, None, [], {}, [1, [2]], {"k": {"k": "v"}}, "1e309",
           "nan", "\u202e\u0000", 3.5, "5"]
# No NUL: a command line cannot carry one (execve), so only an in-process call could pass it.
# Values a config could well hold, so that more mutants are accepted and must then start.
PLAUSIBLE = [1, 2, 3, 5, 10, 30, 60, 300, 0.5, 0.9, 100.0, True, False, "m", "default", "faro-sum", "aiad"]
HOSTILE_FLAGS = ["", "-1", "0", "nan", "inf", "-inf", "1e308", "1e400", "9" * 400, "a,b", "1,,2", "x", "\u202e",
                 "../../etc/passwd", "/nonexistent/file", "{", "[]", '{"a": 1e999}', "--", "0.0001"]


class CallTimeout(BaseException):
    """A call ran past --timeout (a BaseException so that no ``except Exception`` in farod swallows it)."""


def _alarm(signum, frame):
    raise CallTimeout


class Tally:
    def __init__(self):
        self.tried, self.outcomes, self.examples = Counter(), Counter(), {}

    def call(self, reader: str, argv: list[str], timeout_s: float) -> int | None:
        """farod's CLI in this process; the exit code, or None when it raised (a traceback)."""
        self.tried[reader] += 1
        err, out = io.StringIO(), io.StringIO()
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                code = main(argv)
        except CallTimeout:
            return self._note(reader, "timed out", argv, "")
        except SystemExit as exit_:  # --help, --version
            code = exit_.code if isinstance(exit_.code, int) else 2
        except BaseException:  # noqa: BLE001 - exactly what is counted
            return self._note(reader, "traceback", argv, traceback.format_exc(limit=-3))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        text = "".join(line for line in err.getvalue().splitlines(keepends=True)  # notices may come first
                       if not line.startswith("farod: notice: "))
        if code == 2 and not (text.startswith("farod: error: ") and text.count("\n") == 1 and "Traceback" not in text):
            self._note(reader, "not one error line", argv, text[-600:])
        else:
            self.outcomes[reader, {0: "accepted", 2: "refused in one line"}.get(code, f"exit {code}")] += 1
        return code

    def _note(self, reader: str, outcome: str, argv: list[str], detail: str) -> None:
        self.outcomes[reader, outcome] += 1
        self.examples.setdefault((reader, outcome), []).append((argv, detail))
        return None

    def count(self, outcome: str) -> int:
        return sum(n for (_, kind), n in self.outcomes.items() if kind == outcome)


# -- mutations ---------------------------------------------------------------------------------------

def _paths(node, prefix=()):
    yield prefix
    if len(prefix) > 12:  # not into a nest an earlier mutation made
        return
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


def mutate_document(rng: random.Random, document):
    """1-3 changes at random places: a hostile value, a deleted key, deep nesting or a duplicated list."""
    document = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        try:
            _mutate_once(rng, document)
        except RecursionError:  # copying a nest an earlier change made: that change is enough
            pass
    return document


def _mutate_once(rng: random.Random, document) -> None:
    path = rng.choice([p for p in _paths(document) if p])
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    action = rng.random()
    if action < 0.7:
        parent[path[-1]] = rng.choice(HOSTILE if rng.random() < 0.5 else PLAUSIBLE)
    elif action < 0.8 and isinstance(parent, dict):
        del parent[path[-1]]
    elif action < 0.9:
        nested = value = {}
        for _ in range(rng.choice([50, 2000])):
            value["k"] = {}
            value = value["k"]
        parent[path[-1]] = nested
    else:
        parent[path[-1]] = [copy.deepcopy(parent[path[-1]])] * rng.choice([2, 100_000])


def mutate_text(rng: random.Random, text: str) -> bytes:
    """Text-level damage the parsed document cannot carry: bytes, duplicate keys, cuts, huge numbers."""
    lines = text.splitlines(keepends=True)
    action = rng.randrange(6)
    if action == 0:
        position = rng.randrange(len(text))
        return text[:position].encode() + rng.choice([b"\xff\xfe", b"\xc3", b"\x00", b"\xed\xa0\x80"]) + \
            text[position:].encode()
    if action == 1:
        index = rng.randrange(len(lines))
        return "".join(lines[: index + 1] + [lines[index]] + lines[index + 1:]).encode()  # a key twice
    if action == 2:
        return text[: rng.randrange(len(text))].encode()
    if action == 3:
        return ("[" * 5000 + "]" * 5000 + "\n" + text).encode()
    if action == 4:
        digits = [i for i, c in enumerate(text) if c.isdigit()]
        position = rng.choice(digits)
        return (text[:position] + "9" * rng.choice([40, 400, 5000]) + text[position:]).encode()
    return "".join(rng.sample(lines, len(lines))).encode()


def mutated_inputs(rng: random.Random, document, text: str, count: int, dump) -> list[bytes]:
    """``count`` inputs: two thirds document mutations, one third text mutations."""
    inputs = []
    for i in range(count):
        if i % 3 == 2:
            inputs.append(mutate_text(rng, text))
        else:
            try:
                inputs.append(dump(mutate_document(rng, document)).encode("utf-8", "surrogatepass"))
            except (ValueError, RecursionError, OverflowError):
                inputs.append(mutate_text(rng, text))
    return inputs


def yaml_dump(document) -> str:
    return yaml.safe_dump(document, allow_unicode=True, width=1_000_000)


# -- readers -------------------------------------------------------------------------------------------

def chart_config_text() -> str | None:
    helm = shutil.which("helm") or shutil.which("helm", path=str(ROOT / ".tools"))  # `make tools` puts it there
    if helm is None:
        print("helm not found (run `make tools`), chart ConfigMap left out", file=sys.stderr)
        return None
    helm = subprocess.run([helm, "template", "farod", str(ROOT / "helm" / "farod"), "-s", "templates/configmap.yaml"],
                          capture_output=True, text=True)
    if helm.returncode != 0:
        print(f"helm template failed, chart ConfigMap left out: {helm.stderr.strip()[:200]}", file=sys.stderr)
        return None
    return yaml.safe_load(helm.stdout)["data"]["farod.yaml"]


def daemon_configs(tally: Tally, rng: random.Random, workdir: Path, args) -> list[Path]:
    """Mutated daemon configs through ``farod validate``; the accepted ones."""
    sources = [(ROOT / "config" / "farod.example.yaml").read_text()]
    sources += [text for text in [chart_config_text()] if text]
    accepted = []
    for source_index, text in enumerate(sources):
        for i, raw in enumerate(mutated_inputs(rng, yaml.safe_load(text), text, args.count, yaml_dump)):
            path = workdir / f"config-{source_index}-{i}.yaml"
            path.write_bytes(raw)
            if tally.call("daemon config (validate)", ["validate", str(path)], args.timeout) == 0:
                accepted.append(path)
    return accepted


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def runnable(path: Path, closed_port: int) -> Path:
    """The accepted config with what only a cluster has replaced: dry-run, loopback, no Kubernetes."""
    document = yaml.safe_load(path.read_text())
    document["actuator"] = {**(document.get("actuator") or {}), "kind": "dry-run"}
    document["prometheus"] = {**document["prometheus"], "url": f"http://127.0.0.1:{closed_port}"}
    document["server"] = {"host": "127.0.0.1", "port": free_port()}
    document["kubernetes"] = {"enabled": False}
    if "from_resource_quota" in (document.get("quota") or {}):
        wanted = {r for job in document["jobs"] for r in (job.get("resources") or {"cpu": 1})}
        document["quota"] = {resource: 1e6 for resource in wanted | {"cpu"}}
    out = path.with_suffix(".run.yaml")
    out.write_text(yaml_dump(document))
    return out


def start_and_stop(path: Path, timeout_s: float) -> str | None:
    """``farod run`` until /healthz answers, then SIGTERM; None, or why it failed."""
    port = yaml.safe_load(path.read_text())["server"]["port"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "farod", "run", "--config", str(path)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            time.sleep(0.2)
        else:
            process.kill()
            _, err = process.communicate()
            return f"did not start within {timeout_s:g} s (exit {process.returncode}): {err.strip()[-300:]}"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        return None if process.returncode == 0 and "Traceback" not in err else f"exit {process.returncode}: {err[-300:]}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def run_accepted(tally: Tally, accepted: list[Path], workdir: Path, args) -> None:
    if len(accepted) > args.runs:
        print(f"--runs: {len(accepted) - args.runs} accepted configs not started", file=sys.stderr)
    deadline = time.monotonic() + args.budget
    closed = free_port()  # nothing listens there: every Prometheus query is refused at once
    for ran, path in enumerate(accepted[: args.runs]):
        if time.monotonic() > deadline:
            print(f"--budget: {len(accepted) - ran} accepted configs not started", file=sys.stderr)
            break
        tally.call("daemon config (compare --from-config)",
                   ["compare", "--from-config", str(path), "--trace", str(workdir / "good.jsonl"), "--minutes", "4",
                    "--seeds", "1", "--workers", "1", "--json", str(workdir / "fc.out")], args.timeout)
        runnable_path = runnable(path, closed)
        if tally.call("daemon config (validate, run overrides)", ["validate", str(runnable_path)], args.timeout) != 0:
            continue
        tally.tried["daemon config (run)"] += 1
        why = start_and_stop(runnable_path, args.run_timeout)
        tally.outcomes["daemon config (run)", "started and stopped" if why is None else "accepted but failing"] += 1
        if why:
            tally.examples.setdefault(("daemon config (run)", "accepted but failing"), []).append(([str(path)], why))


def plans(tally: Tally, rng: random.Random, workdir: Path, args) -> None:
    text = (ROOT / "examples" / "plan-10jobs.json").read_text()
    for i, raw in enumerate(mutated_inputs(rng, json.loads(text), text, args.count, json.dumps)):
        path = workdir / f"plan-{i}.json"
        path.write_bytes(raw)
        method = ("exact", "cobyla")[i % 2]
        tally.call("plan input", ["plan", "--input", str(path), "--method", method, "--json", str(workdir / "p.out")],
                   args.timeout)


def small_trace(minutes: int = 8, jobs: int = 3) -> list[dict]:
    lines = (ROOT / "farod" / "data" / "azure_twitter_10jobs_day10.jsonl").read_text().splitlines()[:minutes]
    out = []
    for line in map(json.loads, lines):
        line["counts"] = dict(list(line["counts"].items())[:jobs])
        out.append(line)
    return out


def traces(tally: Tally, rng: random.Random, workdir: Path, args) -> None:
    lines = small_trace()
    text = "".join(json.dumps(line) + "\n" for line in lines)
    for i in range(args.count):
        if i % 3 == 2:
            raw = mutate_text(rng, text)
        else:
            damaged = list(lines)
            index = rng.randrange(len(damaged))
            damaged[index] = mutate_document(rng, damaged[index])
            try:
                raw = "".join(json.dumps(line) + "\n" for line in damaged).encode("utf-8", "surrogatepass")
            except (ValueError, RecursionError):
                raw = mutate_text(rng, text)
        path = workdir / f"trace-{i}.jsonl"
        path.write_bytes(raw)
        tally.call("trace (compare)", ["compare", "--trace", str(path), "--policies", "fairshare", "--cpus", "8",
                                       "--seeds", "1", "--minutes", "6", "--workers", "1", "--train", "none",
                                       "--json", str(workdir / "c.out")], args.timeout)


def train_csvs(tally: Tally, rng: random.Random, workdir: Path, args) -> None:
    rows = (ROOT / "farod" / "data" / "azure_twitter_10jobs_days1-10_6h_per_minute.csv").read_text().splitlines()
    header, body = rows[0], [row for row in rows[1:] if row.split(",")[0] in ("0", "1", "2")][:12]
    trace = workdir / "good.jsonl"
    trace.write_text("".join(json.dumps(line) + "\n" for line in small_trace(minutes=40)))
    for i in range(args.count):
        cells = [row.split(",") for row in body]
        if i % 3 == 2:
            raw = mutate_text(rng, "\n".join([header, *body]) + "\n")
        else:
            for _ in range(rng.randint(1, 3)):
                row = rng.randrange(len(cells))
                cells[row][rng.randrange(len(cells[row]))] = rng.choice(
                    ["nan", "inf", "-1", "1e308", "9" * 400, "", "x", "\x00", "1.5", "-0", "1e-320"])
            raw = "\n".join([header, *(",".join(row) for row in cells)]).encode() + b"\n"
        path = workdir / f"train-{i}.csv"
        path.write_bytes(raw)
        tally.call("training CSV (forecast backtest)",
                   ["forecast", "backtest", "--trace", str(trace), "--train", str(path), "--minutes", "20",
                    "--horizon", "3", "--context", "10", "--json", str(workdir / "b.out")], args.timeout)


def cli_flags(tally: Tally, rng: random.Random, workdir: Path, args) -> None:
    """One hostile value per flag of a working command line, for every subcommand."""
    trace = workdir / "good.jsonl"
    example = str(ROOT / "config" / "farod.example.yaml")
    plan, decisions = str(ROOT / "examples" / "plan-10jobs.json"), str(ROOT / "examples" / "decision-plan.jsonl")
    sim = ["--trace", str(trace), "--minutes", "4", "--workers", "1", "--train", "none", "--json", str(workdir / "f.out")]
    closed = f"http://127.0.0.1:{free_port()}"
    exported = workdir / "export.yaml"
    exported.write_text(yaml_dump({**yaml.safe_load(Path(example).read_text()), "prometheus": {"url": closed}}))
    day = workdir / "invocations_per_function_md.anon.d01.csv"
    day.write_text("HashOwner,HashApp,HashFunction,Trigger," + ",".join(str(m) for m in range(1, 1441)) + "\n")
    commands = {
        "plan": ["plan", "--input", plan, "--method", "exact", "--json", str(workdir / "f.out")],
        "simulate": ["simulate", "--cpus", "8", "--policy", "fairshare", "--seed", "1", "--plan-phase", "0.5", *sim],
        "compare": ["compare", "--cpus", "8", "--policies", "fairshare", "--seeds", "1", "--phases", "2", *sim],
        "compare --from-config": ["compare", "--from-config", example, "--seeds", "1", *sim],
        "forecast backtest": ["forecast", "backtest", "--trace", str(trace), "--minutes", "20", "--horizon", "3",
                              "--context", "10", "--json", str(workdir / "f.out")],
        "validate": ["validate", example],
        "run": ["run", "--config", str(workdir / "missing.yaml")],
        "explain": ["explain", decisions, "--json", str(workdir / "f.out")],
        "loadgen": ["loadgen", "--trace", str(trace), "--map", f"serve-cluster0/classifier={closed}",
                    "--max-requests", "3", "--max-seconds", "2", "--timeout", "1", "--minutes", "1"],
        "trace export": ["trace", "export", "--config", str(exported), "--start", "2026-01-01T00:00:00Z",
                         "--end", "2026-01-01T01:00:00Z", "--out", str(workdir / "t.out")],
        "trace import": ["trace", "import", "azure-functions", str(day), "--out", str(workdir / "t.out")],
    }
    for name, argv in commands.items():
        tally.call(f"CLI flags ({name})", argv, args.timeout)  # the working line itself
        for position in [i for i, arg in enumerate(argv) if i > 0 and not arg.startswith("--")]:
            for value in rng.sample(HOSTILE_FLAGS, min(args.flag_values, len(HOSTILE_FLAGS))):
                tally.call(f"CLI flags ({name})", argv[:position] + [value] + argv[position + 1:], args.timeout)
        for extra in (["--no-such-flag"], ["--help"], argv[-2:], [argv[-2]]):
            tally.call(f"CLI flags ({name})", argv + extra, args.timeout)


def report(tally: Tally) -> None:
    readers = sorted(tally.tried)
    kinds = sorted({kind for _, kind in tally.outcomes})
    print(f"{'reader':<42}{'tried':>7}" + "".join(f"{kind:>22}" for kind in kinds))
    for reader in readers:
        print(f"{reader:<42}{tally.tried[reader]:>7}" + "".join(f"{tally.outcomes[reader, k]:>22}" for k in kinds))
    print(f"tracebacks: {tally.count('traceback')}; refusals not in one line: {tally.count('not one error line')}; "
          f"timed out: {tally.count('timed out')}; configs validate accepts that fail to start: "
          f"{tally.count('accepted but failing')}")
    for (reader, outcome), examples in sorted(tally.examples.items()):
        print(f"\n{reader}: {outcome} ({len(examples)}), first:")
        argv, detail = examples[0]
        print("  farod " + " ".join(repr(a) if not a.isprintable() or " " in a else a for a in argv)[:400])
        print("  " + detail.strip().replace("\n", "\n  ")[-1200:])


def main_(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="inputs per reader (and per config source)")
    parser.add_argument("--runs", type=int, default=1000, help="at most this many accepted configs are run")
    parser.add_argument("--flag-values", type=int, default=8, help="hostile values tried per flag value")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per in-process call")
    parser.add_argument("--run-timeout", type=float, default=90.0, help="seconds for `farod run` to answer /healthz")
    parser.add_argument("--budget", type=float, default=900.0, help="seconds for starting accepted configs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default="configs,plans,traces,csvs,flags", help="comma-separated subset")
    args = parser.parse_args(argv)
    rng, tally = random.Random(args.seed), Tally()
    signal.signal(signal.SIGALRM, _alarm)
    only = set(args.only.split(","))
    if only & {"configs", "traces"}:
        from farod.sim import kernel

        kernel.warm_up()  # compiling the simulator's kernel (once) is not the first input's time
    with tempfile.TemporaryDirectory(prefix="farod-adversarial-") as tmp:
        workdir = Path(tmp)
        os.chdir(workdir)  # a hostile flag value may become a relative output path
        (workdir / "good.jsonl").write_text("".join(json.dumps(line) + "\n" for line in small_trace(minutes=40)))
        if "configs" in only:
            run_accepted(tally, daemon_configs(tally, rng, workdir, args), workdir, args)
            print(f"configs: done, {sum(tally.tried.values())} inputs so far", file=sys.stderr)
        for name, reader in (("plans", plans), ("traces", traces), ("csvs", train_csvs), ("flags", cli_flags)):
            if name in only:
                reader(tally, rng, workdir, args)
                print(f"{name}: done, {sum(tally.tried.values())} inputs so far", file=sys.stderr)
    report(tally)
    return 1 if tally.count("traceback") or tally.count("accepted but failing") else 0


if __name__ == "__main__":
    sys.exit(main_())

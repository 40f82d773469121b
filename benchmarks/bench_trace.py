"""What tracing costs a user: whole pytest processes, kisys against pytest-otel and pytest-opentelemetry.

Every mode is one whole ``python -m pytest`` process, timed from outside (wall clock, and CPU as
user + system of the reaped child from ``RUSAGE_CHILDREN``, so the export thread counts). Modes
run interleaved, round by round, on the same generated suite of N trivial tests (one test
parametrized over N/2 values plus N/2 plain functions in 10 modules, as in the anchor study)
and on a 1-test suite; the marginal per-test cost of a mode over its baseline is
``((mode_N - base_N) - (mode_1 - base_1)) / (N - 1)``, computed per round (the mode and its
baseline ran back to back) and reported as the median with the min-max over rounds.

Each kind of environment is its own venv, built once and cached under ``--work``:

- ``bare``: pytest alone, **without** pytest-kisys (``plain``);
- ``kisys``: pytest-kisys (a wheel of this checkout, reinstalled on every run) and its runtime
  dependencies (wheels repacked from this environment: same versions, no network):
  ``kisys-off`` (installed, not enabled), ``kisys-notrace`` (``--kisys --kisys-scan none
  --kisys-offline --kisys-trace none``), ``kisys-nohistory`` (the same with
  ``KISYS_HISTORY=false``: what the run history costs), and the sinks over ``kisys-notrace``:
  ``kisys-discard`` (every span built, handed to a discarding exporter through
  ``pytest_kisys_span_exporter`` in the suite's conftest), ``kisys-otlp`` (OTLP/HTTP protobuf
  to a loopback receiver answering 200) and ``kisys-file`` (``--kisys-trace file:PATH``);
- ``pytest-otel`` and ``pytest-opentelemetry``, each pip-installed from the index into its own
  venv: off (``-p no:...``), on without export, and exporting OTLP/HTTP to the same receiver,
  each over its own venv's ``off``.

The load average is printed before and after (the machine may be shared: say so with figures).

``--instructions`` counts instead of timing, for the goal of ``--kisys`` without tracing
(15 µs a test, below what whole-process CPU resolves on a shared machine): ``plain``,
``kisys-notrace`` and ``kisys-nohistory`` once each at 1 and N tests under ``valgrind
--tool=callgrind`` (user-space instructions of the whole process, every thread,
``PYTHONHASHSEED=0``, warm bytecode: the counter of ``bench_off.py``; the run history flushes
once, at the end, see the suite's conftest), printed as instructions
per test over plain pytest, ``((mode_N - plain_N) - (mode_1 - plain_1)) / (N - 1)``, and the
history's share (``kisys-notrace`` minus ``kisys-nohistory``, per test the same way), each
also without the instructions of the garbage collector (``callgrind_annotate``, inclusive).

    python benchmarks/bench_trace.py [--tests 5000] [--rounds 5] [--no-peers] [--json out.json]
    python benchmarks/bench_trace.py --instructions [--tests 5000] [--json out.json]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
import json
import os
from pathlib import Path
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_off import _instructions as callgrind_instructions  # noqa: E402
from benchmarks.timing import load_average  # noqa: E402
from benchmarks.timing import spread  # noqa: E402
from tests.support.pkgindex import isolated_pip_env  # noqa: E402
from tests.support.wheelhouse import fresh_venv  # noqa: E402
from tests.support.wheelhouse import kisys_wheelhouse  # noqa: E402


NULL_EXPORTER_CONFTEST = '''
import os

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    """Benchmark only (--instructions): the run history flushes once, at the end.

    Its flushes are timed (at most every 0.5 s); under callgrind a run is about 50 times
    slower, so it would flush 50 times as often as a real run does, and as often as the
    machine's load makes it: the count would be neither a real run's nor repeatable.
    """
    if os.environ.get("KISYS_BENCH_FLUSH_AT_END") != "1":
        return
    history = session.config.pluginmanager.get_plugin("kisys-history")
    if history is not None:
        history.recorder.interval = history._log._interval = 1e9
        history._log._due = float("inf")


@pytest.hookimpl(optionalhook=True)
def pytest_kisys_span_exporter(config):
    """Benchmark only: build every span, then discard it (no I/O)."""
    if os.environ.get("KISYS_BENCH_NULL_EXPORTER") != "1":
        return None
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    return Discard()
'''


class Sink:
    """Loopback OTLP/HTTP endpoint that answers 200 and counts requests and bytes."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sink.requests += 1
                sink.bytes += len(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def write_suite(root: Path, tests: int) -> None:
    """The anchor study's shape: one parametrized test plus plain functions in 10 modules."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "conftest.py").write_text(NULL_EXPORTER_CONFTEST)
    if tests == 1:
        (root / "test_one.py").write_text("def test_one():\n    pass\n")
        return
    half = tests // 2
    (root / "test_param.py").write_text(
        f"import pytest\n\n\n@pytest.mark.parametrize('i', range({half}))\ndef test_param(i):\n    pass\n"
    )
    rest = tests - half
    for k in range(10):  # the remainder of an N that is not a multiple of 20 goes to the last module
        count = rest // 10 + (rest % 10 if k == 9 else 0)
        body = "".join(f"def test_f{j}():\n    pass\n\n\n" for j in range(count))
        (root / f"test_funcs_{k}.py").write_text(body)


def local_venvs(work: Path) -> dict[str, Path]:
    """``bare`` (pytest only) and ``kisys`` venvs from local wheels; kisys itself is fresh."""
    wheels = work / "wheels"
    stamp = work / "wheels.done"
    if not stamp.exists():
        shutil.rmtree(wheels, ignore_errors=True)
        kisys_wheelhouse(wheels)
        stamp.touch()
    else:
        # Only pytest-kisys changes between runs: a wheel of the checkout as it is now.
        for old in wheels.glob("pytest_kisys-*.whl"):
            old.unlink()
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
             "-w", str(wheels), str(ROOT)],
            check=True, env=isolated_pip_env(), capture_output=True,
        )
    pythons = {}
    for name, packages in (("bare", ["pytest"]), ("kisys", ["pytest-kisys"])):
        venv = work / f"venv-{name}"
        python = venv / "bin" / "python"
        if not python.exists():
            fresh_venv(venv, wheels, packages)
        pythons[name] = python
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(pythons["kisys"]), "install", "-q", "--no-index",
         "--no-deps", "--force-reinstall", "--find-links", str(wheels), "pytest-kisys"],
        check=True, env=isolated_pip_env(), capture_output=True,
    )
    return pythons


def peer_venv(work: Path, package: str) -> Path:
    """A venv with ``package`` pip-installed from the index (built once, then reused)."""
    venv = work / f"venv-{package}"
    python = venv / "bin" / "python"
    if not (venv / "installed").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", package],
            capture_output=True, text=True, check=False,
        )
        if install.returncode != 0:
            raise SystemExit(f"pip install {package} failed:\n{install.stderr[-3000:]}")
        (venv / "installed").touch()
    return python


def version_of(python: Path, dist: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@dataclass
class Mode:
    """One way of running pytest; ``baseline`` names the mode it is compared with."""

    name: str
    python: Path
    args: list[str]
    baseline: str
    env: dict[str, str] = field(default_factory=dict)
    wall: dict[int, list[float]] = field(default_factory=dict)
    cpu: dict[int, list[float]] = field(default_factory=dict)
    requests: int = 0
    payload: int = 0


def clean_env() -> dict[str, str]:
    """This environment without tracing, pytest or CI variables that would change behaviour."""
    drop = ("OTEL_", "TRACEPARENT", "TRACESTATE", "PYTEST_", "KISYS_", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def run_once(mode: Mode, suite: Path, tests: int, sink: Sink) -> None:
    """One whole process of ``mode`` on ``suite``; appends its wall and CPU seconds."""
    env = {**clean_env(), **mode.env}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    requests, payload = sink.requests, sink.bytes
    start = time.perf_counter()
    proc = subprocess.run(
        [str(mode.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *mode.args],
        cwd=suite, env=env, capture_output=True, text=True, check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or f"{tests} passed" not in proc.stdout:
        raise SystemExit(f"{mode.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    if "kisys: trace export" in proc.stdout:
        raise SystemExit(f"{mode.name}: spans were lost:\n{proc.stdout[-1000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    mode.wall.setdefault(tests, []).append(wall)
    mode.cpu.setdefault(tests, []).append(cpu)
    if tests > 1:
        mode.requests = sink.requests - requests
        mode.payload = sink.bytes - payload


def build_modes(work: Path, sink: Sink, peers: bool) -> tuple[list[Mode], dict[str, str]]:
    """The modes to run, and the versions of what they run."""
    pythons = local_venvs(work)
    bare, kisys_py = pythons["bare"], pythons["kisys"]
    kisys = ["--kisys", "--kisys-scan", "none", "--kisys-offline"]
    otlp_env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{sink.base}/v1/traces"}
    trace_file = work / "trace.jsonl"
    modes = [
        Mode("plain", bare, [], "plain"),
        Mode("kisys-off", kisys_py, [], "plain"),
        Mode("kisys-notrace", kisys_py, [*kisys, "--kisys-trace", "none"], "plain"),
        # Where --kisys without tracing spends its time: the same without the run history.
        Mode("kisys-nohistory", kisys_py, [*kisys, "--kisys-trace", "none"], "plain",
             {"KISYS_HISTORY": "false"}),
        Mode("kisys-discard", kisys_py, [*kisys, "--kisys-trace", "otlp"], "kisys-notrace",
             {"KISYS_BENCH_NULL_EXPORTER": "1"}),
        Mode("kisys-otlp", kisys_py, [*kisys, "--kisys-trace", "otlp"], "kisys-notrace", otlp_env),
        Mode("kisys-file", kisys_py, [*kisys, "--kisys-trace", f"file:{trace_file}"], "kisys-notrace"),
    ]
    versions = {"pytest": version_of(bare, "pytest"), "pytest-kisys": version_of(kisys_py, "pytest-kisys")}
    if not peers:
        return modes, versions
    otel = peer_venv(work, "pytest-otel")
    otel_endpoint = ["--otel-endpoint", sink.base, "--otel-exporter-protocol", "http/protobuf"]
    modes += [
        Mode("otel-off", otel, ["-p", "no:pytest_otel"], "otel-off"),
        Mode("otel-memory", otel, [], "otel-off"),
        Mode("otel-otlp", otel, otel_endpoint, "otel-off"),
    ]
    ot = peer_venv(work, "pytest-opentelemetry")
    ot_env = {"OTEL_TRACES_EXPORTER": "otlp_proto_http", **otlp_env}
    modes += [
        Mode("opentelemetry-off", ot, ["-p", "no:pytest_opentelemetry"], "opentelemetry-off"),
        Mode("opentelemetry-noexport", ot, [], "opentelemetry-off"),
        Mode("opentelemetry-otlp", ot, ["--export-traces"], "opentelemetry-off", ot_env),
    ]
    versions["pytest-otel"] = version_of(otel, "pytest-otel")
    versions["pytest (pytest-otel venv)"] = version_of(otel, "pytest")
    versions["pytest-opentelemetry"] = version_of(ot, "pytest-opentelemetry")
    versions["pytest (pytest-opentelemetry venv)"] = version_of(ot, "pytest")
    return modes, versions


def _spread(values: list[float], digits: int = 1) -> str:
    return spread(values, digits=digits) if values else "-"


def marginals(mode: Mode, base: Mode, tests: int, kind: str) -> list[float]:
    """Per-round marginal µs per test of ``mode`` over ``base`` (``kind``: wall or cpu)."""
    data, ref = getattr(mode, kind), getattr(base, kind)
    return [
        ((big - base_big) - (one - base_one)) / (tests - 1) * 1e6
        for big, base_big, one, base_one in zip(data[tests], ref[tests], data[1], ref[1], strict=True)
    ]


def report(modes: list[Mode], tests: int) -> list[dict[str, Any]]:
    """Print and return the figures: medians with [min-max] over rounds."""
    by_name = {m.name: m for m in modes}
    rows = []
    print(
        f"{'mode':<23} {'wall s':>19} {'cpu s':>19} {'wall x':>6} {'cpu x':>6} "
        f"{'marginal wall µs':>21} {'marginal cpu µs':>21} {'fixed cpu ms':>12}  vs"
    )
    for mode in modes:
        base = by_name[mode.baseline]
        wall_n, cpu_n = mode.wall[tests], mode.cpu[tests]
        own = mode is base
        m_wall = [] if own else marginals(mode, base, tests, "wall")
        m_cpu = [] if own else marginals(mode, base, tests, "cpu")
        fixed = [] if own else [(a - b) * 1e3 for a, b in zip(mode.cpu[1], base.cpu[1], strict=True)]
        wall_x = statistics.median(wall_n) / statistics.median(base.wall[tests])
        cpu_x = statistics.median(cpu_n) / statistics.median(base.cpu[tests])
        row = {
            "mode": mode.name,
            "baseline": mode.baseline,
            "wall_s": wall_n,
            "cpu_s": cpu_n,
            "wall_1_s": mode.wall[1],
            "cpu_1_s": mode.cpu[1],
            "wall_ratio": round(wall_x, 3),
            "cpu_ratio": round(cpu_x, 3),
            "marginal_wall_us": [round(v, 1) for v in m_wall],
            "marginal_cpu_us": [round(v, 1) for v in m_cpu],
            "fixed_cpu_ms": [round(v, 1) for v in fixed],
            "otlp_requests": mode.requests,
            "otlp_bytes": mode.payload,
        }
        rows.append(row)
        print(
            f"{mode.name:<23} {_spread(wall_n, digits=2):>19} {_spread(cpu_n, digits=2):>19} "
            f"{wall_x:6.3f} {cpu_x:6.3f} {_spread(m_wall):>21} {_spread(m_cpu):>21} "
            f"{_spread(fixed, digits=0):>12}  {mode.baseline}"
        )
    return rows


# (kisys mode, what it is compared with): the goals' ratios of marginal CPU per test.
RATIOS = (
    ("kisys-discard", "otel-memory"),
    ("kisys-discard", "opentelemetry-noexport"),
    ("kisys-otlp", "otel-otlp"),
    ("kisys-otlp", "opentelemetry-otlp"),
    ("kisys-file", "kisys-otlp"),
)


def ratios(modes: list[Mode], tests: int) -> dict[str, list[float]]:
    """Per-round ratios of marginal CPU per test, for the pairs of :data:`RATIOS` that ran."""
    by_name = {m.name: m for m in modes}
    out: dict[str, list[float]] = {}
    for mine, other in RATIOS:
        if mine not in by_name or other not in by_name:
            continue
        a, b = by_name[mine], by_name[other]
        pairs = zip(
            marginals(a, by_name[a.baseline], tests, "cpu"),
            marginals(b, by_name[b.baseline], tests, "cpu"),
            strict=True,
        )
        out[f"{mine} / {other}"] = [x / y for x, y in pairs if y > 0]
    return out


INSTRUCTION_MODES = ("plain", "kisys-notrace", "kisys-nohistory")
_GC_LINE = re.compile(r"^\s*([\d,]+) .*gcmodule\.c:gc_collect_main \[", re.MULTILINE)


def gc_instructions(profile: Path) -> int:
    """Instructions inside the cyclic garbage collector (``gc_collect_main``, inclusive)."""
    annotated = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(profile)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = _GC_LINE.search(annotated.stdout)
    return int(found.group(1).replace(",", "")) if found else 0


def count_instructions(
    modes: list[Mode], suites: dict[int, Path], tests: int, sink: Sink
) -> dict[str, Any]:
    """Instructions of :data:`INSTRUCTION_MODES` at 1 and ``tests`` tests; prints per test,
    with and without the garbage collector's share (whether the big run of a mode makes one
    full collection more than plain pytest's moves the per-test figure by 10-20k)."""
    counted = [m for m in modes if m.name in INSTRUCTION_MODES]
    counts: dict[str, dict[int, int]] = {}
    collected: dict[str, dict[int, int]] = {}
    profile = suites[1].parent / "callgrind.out"
    for mode in counted:
        env = {**clean_env(), **mode.env, "KISYS_BENCH_FLUSH_AT_END": "1"}
        if mode.args:  # the counter runs ``python -m pytest -q -p no:cacheprovider``: the rest here
            env["PYTEST_ADDOPTS"] = " ".join(mode.args)
        for size, suite in suites.items():
            run_once(mode, suite, size, sink)  # warm-up: bytecode, page cache; checks it passes
            counts.setdefault(mode.name, {})[size] = callgrind_instructions(
                str(mode.python), suite, env, profile
            )
            collected.setdefault(mode.name, {})[size] = gc_instructions(profile)
    profile.unlink(missing_ok=True)

    def per_test(sized: dict[int, int]) -> float:
        return (sized[tests] - sized[1]) / (tests - 1)

    no_gc = {
        name: {size: n - collected[name][size] for size, n in sized.items()} for name, sized in counts.items()
    }
    per_plain, per_plain_no_gc = per_test(counts["plain"]), per_test(no_gc["plain"])
    print(f"{tests} trivial tests and 1 test, instructions (valgrind --tool=callgrind, one run each)")
    print(
        f"{'mode':<17} {'1 test':>14} {f'{tests} tests':>16} {'per test':>12} {'over plain':>12}"
        f" {'gc per test':>12} {'over plain, no gc':>18}"
    )
    over: dict[str, float] = {}
    over_no_gc: dict[str, float] = {}
    for name, sized in counts.items():
        over[name] = per_test(sized) - per_plain
        over_no_gc[name] = per_test(no_gc[name]) - per_plain_no_gc
        print(
            f"{name:<17} {sized[1]:>14,} {sized[tests]:>16,} {per_test(sized):>12,.0f} {over[name]:>+12,.0f}"
            f" {per_test(collected[name]):>12,.0f} {over_no_gc[name]:>+18,.0f}"
        )
    history = over["kisys-notrace"] - over["kisys-nohistory"]
    history_no_gc = over_no_gc["kisys-notrace"] - over_no_gc["kisys-nohistory"]
    print(
        f"history share (kisys-notrace - kisys-nohistory): {history:+,.0f} instructions a test"
        f" ({history_no_gc:+,.0f} without gc)"
    )
    print(f"plain pytest: {per_plain:,.0f} instructions a test; goal: kisys-notrace <= 75k over plain")
    return {
        "counts": counts,
        "gc": collected,
        "per_test_plain": per_plain,
        "over_plain": over,
        "over_plain_no_gc": over_no_gc,
        "history_share": history,
        "history_share_no_gc": history_no_gc,
    }


def main() -> int:
    """Build or reuse the venvs, run the rounds, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "kisys-bench-trace",
        help="cache of the venvs and suites (reused by later runs)",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip the peer plugins")
    parser.add_argument("--only", nargs="+", help="run only these modes (and their baselines)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--instructions", action="store_true",
        help="count instructions (callgrind) of plain, kisys-notrace and kisys-nohistory instead of timing",
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    big, small = args.work / f"suite-{args.tests}", args.work / "suite-1"
    write_suite(big, args.tests)
    write_suite(small, 1)
    sink = Sink()
    modes, versions = build_modes(args.work, sink, peers=not args.no_peers and not args.instructions)
    if args.instructions:
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(f"started {started}; versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
        figures = count_instructions(modes, {1: small, args.tests: big}, args.tests, sink)
        if args.json:
            figures = {"tests": args.tests, "started": started, "versions": versions, **figures}
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
        return 0
    if args.only:
        keep = set(args.only)
        keep |= {m.baseline for m in modes if m.name in keep}
        keep |= {m.baseline for m in modes if m.name in keep}
        modes = [m for m in modes if m.name in keep]
    for mode in modes:  # warm-up: byte-compile, page cache
        run_once(mode, small, 1, sink)
        run_once(mode, big, args.tests, sink)
        mode.wall.clear()
        mode.cpu.clear()
    load_before = load_average()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for _ in range(args.rounds):
        for mode in modes:
            run_once(mode, big, args.tests, sink)
            run_once(mode, small, 1, sink)
    load_after = load_average()
    print(f"{args.tests} trivial tests and 1 test, {args.rounds} rounds interleaved, {os.cpu_count()} CPUs, "
          f"started {started}; median [min-max] over rounds")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    rows = report(modes, args.tests)
    by_round = ratios(modes, args.tests)
    for label, values in by_round.items():
        print(f"  marginal CPU ratio {label}: {_spread(values, digits=2)} (per round)")
    print(f"load average before {load_before}, after {load_after}")
    for mode in modes:
        if mode.requests:
            mb = mode.payload / 1e6
            print(f"  {mode.name}: {mode.requests} OTLP requests, {mb:.2f} MB per {args.tests} tests")
    if args.json:
        args.json.write_text(
            json.dumps({"tests": args.tests, "rounds": args.rounds, "started": started, "versions": versions,
                        "load_before": load_before, "load_after": load_after, "runs": rows,
                        "ratios": {k: [round(v, 3) for v in vals] for k, vals in by_round.items()}},
                       indent=2)
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Per-test tracing overhead: pytest-kisys against pytest-otel and pytest-opentelemetry.

One run measures, on the same generated suite (N trivial tests: one test parametrized over
N/2 values plus N/2 plain functions in 10 modules, like the anchor study) and on a 1-test
suite (fixed cost):

- ``plain``: pytest with pytest-kisys disabled (``-p no:kisys``), in the dev venv;
- ``kisys-notrace``: ``--kisys --kisys-scan none --kisys-trace none`` (kisys without spans);
- ``kisys-spans``: the same with spans built and handed to a discarding exporter (through the
  ``pytest_kisys_span_exporter`` hook in the suite's conftest; nothing leaves the process);
- ``kisys-otlp``: ``--kisys-trace otlp`` to a loopback OTLP/HTTP sink;
- ``otel-*`` / ``opentelemetry-*``: pytest-otel and pytest-opentelemetry, each in its own
  throwaway virtualenv under the work directory (pip-installed from the index on first use),
  off (``-p no:...``), on without export, and exporting OTLP/HTTP to the same sink.

Modes run round-robin, ``--repeats`` times; the minimum (or, with ``--stat median``, the
median) of wall and CPU (user+sys) time is reported, with the per-test cost against each
venv's own baseline and the marginal per-test cost (difference between the N-test and the
1-test suite, divided by N-1).

Run: ``/work/venv/bin/python benchmarks/bench_trace.py [--tests 2000] [--repeats 5]``.
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
import resource
import statistics
import subprocess
import sys
import threading
import time
from typing import Any


NULL_EXPORTER_CONFTEST = '''
import os

import pytest


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
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "conftest.py").write_text(NULL_EXPORTER_CONFTEST)
    if tests == 1:
        (root / "test_one.py").write_text("def test_one():\n    pass\n")
        return
    half = tests // 2
    (root / "test_param.py").write_text(
        f"import pytest\n\n\n@pytest.mark.parametrize('i', range({half}))\ndef test_param(i):\n    pass\n"
    )
    per_module = (tests - half) // 10
    for k in range(10):
        body = "".join(f"def test_f{j}():\n    pass\n\n\n" for j in range(per_module))
        (root / f"test_funcs_{k}.py").write_text(body)


def make_venv(path: Path, packages: list[str]) -> Path:
    """A throwaway venv with ``packages`` (reused when it already exists)."""
    python = path / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages],
            capture_output=True,
            text=True,
            check=False,
        )
        if install.returncode != 0:
            raise SystemExit(f"pip install {' '.join(packages)} failed:\n{install.stderr[-3000:]}")
    return python


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
    drop = ("OTEL_", "TRACEPARENT", "TRACESTATE", "PYTEST_", "KISYS_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def run_once(mode: Mode, suite: Path, tests: int, sink: Sink) -> None:
    env = {**clean_env(), **mode.env}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    requests, payload = sink.requests, sink.bytes
    start = time.perf_counter()
    proc = subprocess.run(
        [str(mode.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *mode.args],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or f"{tests} passed" not in proc.stdout:
        raise SystemExit(f"{mode.name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    mode.wall.setdefault(tests, []).append(wall)
    mode.cpu.setdefault(tests, []).append(cpu)
    if tests > 1:
        mode.requests = sink.requests - requests
        mode.payload = sink.bytes - payload


def build_modes(work: Path, sink: Sink, peers: bool) -> list[Mode]:
    dev = Path(sys.executable)
    kisys = ["--kisys", "--kisys-scan", "none", "--kisys-offline"]
    otlp_env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{sink.base}/v1/traces"}
    modes = [
        Mode("plain", dev, ["-p", "no:kisys"], "plain"),
        Mode("kisys-notrace", dev, [*kisys, "--kisys-trace", "none"], "plain"),
        Mode(
            "kisys-spans",
            dev,
            [*kisys, "--kisys-trace", "otlp"],
            "kisys-notrace",
            {"KISYS_BENCH_NULL_EXPORTER": "1"},
        ),
        Mode("kisys-otlp", dev, [*kisys, "--kisys-trace", "otlp"], "kisys-notrace", otlp_env),
    ]
    if not peers:
        return modes
    otel = make_venv(work / "venv-pytest-otel", ["pytest-otel"])
    otel_endpoint = ["--otel-endpoint", sink.base, "--otel-exporter-protocol", "http/protobuf"]
    modes += [
        Mode("otel-off", otel, ["-p", "no:pytest_otel"], "otel-off"),
        Mode("otel-on", otel, [], "otel-off"),
        Mode("otel-otlp", otel, otel_endpoint, "otel-off"),
    ]
    ot = make_venv(work / "venv-pytest-opentelemetry", ["pytest-opentelemetry"])
    ot_env = {"OTEL_TRACES_EXPORTER": "otlp_proto_http", **otlp_env}
    modes += [
        Mode("opentelemetry-off", ot, ["-p", "no:pytest_opentelemetry"], "opentelemetry-off"),
        Mode("opentelemetry-on", ot, [], "opentelemetry-off"),
        Mode("opentelemetry-otlp", ot, ["--export-traces"], "opentelemetry-off", ot_env),
    ]
    return modes


PAIRED = """
import json, os, sys, time
import pytest
base = ["-q", "-p", "no:cacheprovider", "--kisys", "--kisys-scan", "none", "--kisys-offline"]
modes = {
    "kisys-notrace": (["--kisys-trace", "none"], {}),
    "kisys-spans": (["--kisys-trace", "otlp"], {"KISYS_BENCH_NULL_EXPORTER": "1"}),
    "kisys-otlp": (["--kisys-trace", "otlp"], {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sys.argv[2]}),
}
cpu = {name: [] for name in modes}
for _ in range(int(sys.argv[1]) + 1):  # the first round warms up and is dropped
    for name, (args, env) in modes.items():
        saved = dict(os.environ)
        os.environ.update(env)
        start = time.process_time()
        pytest.main(base + args)
        cpu[name].append(time.process_time() - start)
        os.environ.clear()
        os.environ.update(saved)
print("PAIRED" + json.dumps({name: values[1:] for name, values in cpu.items()}), file=sys.stderr)
"""


def paired(suite: Path, tests: int, repeats: int, sink: Sink) -> dict[str, float]:
    """Per-test CPU µs of spans and OTLP export over kisys without tracing, in one warm process.

    Every mode runs in the same interpreter, alternating, so imports and interpreter start are
    paid once and the difference is the per-test cost alone (plus the per-run provider setup).
    """
    proc = subprocess.run(
        [sys.executable, "-c", PAIRED, str(repeats), f"{sink.base}/v1/traces"],
        cwd=suite,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in proc.stderr.splitlines() if x.startswith("PAIRED")), None)
    if line is None:
        raise SystemExit(f"paired run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    cpu = json.loads(line[len("PAIRED") :])
    base = min(cpu["kisys-notrace"])
    return {name: (min(values) - base) / tests * 1e6 for name, values in cpu.items()}


def report(modes: list[Mode], tests: int, pick: Any = min) -> list[dict[str, Any]]:
    """Print and return the figures; ``pick`` reduces the repeats (min: least disturbed run)."""
    by_name = {m.name: m for m in modes}
    rows = []
    header = (
        f"{'mode':<20} {'wall s':>7} {'cpu s':>7} {'ratio':>6} {'cpu r':>6} {'µs/test':>8} "
        f"{'marginal':>9} {'fixed ms':>9} {'cpu µs/test':>11} {'cpu marg':>9} {'cpu fixed':>9}  vs"
    )
    print(header)
    for mode in modes:
        base = by_name[mode.baseline]
        wall = pick(mode.wall[tests])
        cpu = pick(mode.cpu[tests])
        base_wall = pick(base.wall[tests])
        base_cpu = pick(base.cpu[tests])
        small = pick(mode.wall[1]) - pick(base.wall[1])
        delta = wall - base_wall
        per_test = delta / tests * 1e6
        marginal = (delta - small) / (tests - 1) * 1e6
        cpu_per_test = (cpu - base_cpu) / tests * 1e6
        cpu_small = pick(mode.cpu[1]) - pick(base.cpu[1])
        cpu_marginal = ((cpu - base_cpu) - cpu_small) / (tests - 1) * 1e6
        row = {
            "mode": mode.name,
            "baseline": mode.baseline,
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "ratio": round(wall / base_wall, 3),
            "cpu_ratio": round(cpu / base_cpu, 3),
            "us_per_test": round(per_test, 1),
            "marginal_us_per_test": round(marginal, 1),
            "fixed_ms": round(small * 1e3, 1),
            "cpu_us_per_test": round(cpu_per_test, 1),
            "cpu_marginal_us_per_test": round(cpu_marginal, 1),
            "cpu_fixed_ms": round(cpu_small * 1e3, 1),
            "otlp_requests": mode.requests,
            "otlp_bytes": mode.payload,
        }
        rows.append(row)
        print(
            f"{mode.name:<20} {wall:7.3f} {cpu:7.3f} {row['ratio']:6.3f} {row['cpu_ratio']:6.3f} "
            f"{per_test:8.1f} "
            f"{marginal:9.1f} {small * 1e3:9.1f} {cpu_per_test:11.1f} {cpu_marginal:9.1f} "
            f"{cpu_small * 1e3:9.1f}  {mode.baseline}"
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/kisys-bench-trace"))
    parser.add_argument("--no-peers", action="store_true", help="skip the peer plugins")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--stat",
        choices=("min", "median"),
        default="min",
        help="how repeats are reduced (min by default: other load only ever adds time)",
    )
    args = parser.parse_args()
    big, small = args.work / f"suite-{args.tests}", args.work / "suite-1"
    write_suite(big, args.tests)
    write_suite(small, 1)
    sink = Sink()
    modes = build_modes(args.work, sink, peers=not args.no_peers)
    for mode in modes:  # warm-up: byte-compile, fill caches
        run_once(mode, small, 1, sink)
    for _ in range(args.repeats):
        for mode in modes:
            run_once(mode, big, args.tests, sink)
            run_once(mode, small, 1, sink)
    print(f"{args.tests} trivial tests, {args.stat} of {args.repeats} runs, {os.cpu_count()} CPUs")
    rows = report(modes, args.tests, min if args.stat == "min" else statistics.median)
    extra = paired(big, args.tests, args.repeats, sink)
    print("paired in one warm process (CPU µs per test over kisys-notrace, min of runs):")
    for name, value in extra.items():
        if name != "kisys-notrace":
            print(f"  {name:<18} {value:6.1f}")
    if args.json:
        args.json.write_text(json.dumps({"runs": rows, "paired_cpu_us": extra}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

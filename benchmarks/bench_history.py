"""Run history: what recording costs a 2,000-test run, and how fast the dashboard's API answers
with 1,000 runs in the store.

Run: ``python benchmarks/bench_history.py [--repeat N]`` (one run, both parts).

1. The same 2,000 trivial tests under ``pytest --kisys --kisys-scan none``, alternating
   ``KISYS_HISTORY=false`` (the peer) and ``true`` (a fresh default SQLite store each time),
   ``--repeat`` times each; wall and CPU (user + system of the pytest process) with the ratio of
   medians and the min-max of each side.
2. A SQLite store filled with 1,000 runs (50 tests, 7 stages, 20 findings, 10 decisions,
   8 cost rows, 100 events each) served by a real ``kisys dashboard`` on 127.0.0.1; 50 timed
   requests each of ``/api/runs`` and of one run's findings (``/api/scans?run=ID``, plus
   ``/api/secrets`` and ``/api/vulnerabilities`` of that run), through one httpx client.

The load average is printed with the figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import httpx


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_kisys.history.interface import Batch  # noqa: E402
from pytest_kisys.history.interface import Event  # noqa: E402
from pytest_kisys.history.sqlite_store import SQLiteStore  # noqa: E402
from tests.support.dashboard import dashboard  # noqa: E402


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def make_suite(root: Path, tests: int = 2000, per_file: int = 100) -> None:
    for f in range(tests // per_file):
        body = "\n".join(f"def test_{n}():\n    assert {n} == {n}\n" for n in range(per_file))
        (root / f"test_m{f:02d}.py").write_text(body)
    (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")


def one_run(root: Path, history: bool, tmp: Path) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KISYS_"))}
    env.update(KISYS_HISTORY=str(history).lower(), KISYS_CACHE_DIR=str(tmp / "cache"))
    store = root / ".kisys"
    if store.exists():
        for p in store.iterdir():
            p.unlink()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--kisys", "--kisys-scan", "none", "-q", "-p", "no:cacheprovider"],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if "2000 passed" not in done.stdout or "not recorded" in done.stdout:
        raise SystemExit(f"unexpected run: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    if history and not (store / "history.db").exists():
        raise SystemExit("history=true wrote no store")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def bench_recording(repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kisys-bench-history-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "suite"
        root.mkdir()
        make_suite(root)
        one_run(root, False, tmp)  # warm the file cache and the import scan cache
        off: list[tuple[float, float]] = []
        on: list[tuple[float, float]] = []
        for _ in range(repeat):
            off.append(one_run(root, False, tmp))
            on.append(one_run(root, True, tmp))
        print(f"2,000 tests, pytest --kisys --kisys-scan none, {repeat} runs each, alternating ({load()})")
        for label, idx in (("wall", 0), ("cpu", 1)):
            a = [r[idx] for r in off]
            b = [r[idx] for r in on]
            ma, mb = statistics.median(a), statistics.median(b)
            print(
                f"  {label:<4} history=false median {ma:6.2f} s (min-max {min(a):.2f}-{max(a):.2f})"
                f"   history=true median {mb:6.2f} s (min-max {min(b):.2f}-{max(b):.2f})"
                f"   ratio {mb / ma:.3f}"
            )


def fill(path: Path, runs: int = 1000) -> str:
    store = SQLiteStore(path)
    middle = ""
    base = time.time() - runs * 60
    for n in range(runs):
        rid = f"{n:032x}"
        started = base + n * 60
        store.start_run({
            "id": rid, "name": f"bench {n}", "project": "/bench", "host": "h", "kisys_version": "0",
            "started": started, "ended": started + 30, "status": "finished", "exit_status": 0,
            "outcomes": '{"passed": 50}', "tests": 50, "findings": 20, "duration": 30.0,
            "cost_seconds": 25.0, "money": None, "settings": "{}",
        })
        findings = []
        for k in range(20):
            kind = ("code", "secrets", "deps")[k % 3]
            findings.append({
                "check_kind": kind, "tool": "t", "rule_id": f"R{k}", "rule_name": f"rule {k}",
                "severity": ("low", "medium", "high")[k % 3], "path": f"pkg/m{k}.py", "line": k,
                "message": "x" * 60, "fingerprint": f"{n:08x}{k:08x}",
                "package": "pkg" if kind == "deps" else None, "version": "1.0" if kind == "deps" else None,
                "fix_versions": '["1.1"]', "aliases": "[]",
            })
        store.write(rid, Batch(rows={
            "tests": tuple({"nodeid": f"t.py::test_{k}", "module": "t.py", "outcome": "passed",
                            "started": started + k, "duration": 0.5, "markers": "[]"} for k in range(50)),
            "stages": tuple({"name": f"s{k}", "status": "passed", "reason": "", "started": started,
                             "ended": started + k, "attempts": 1, "source": "builtin"} for k in range(7)),
            "findings": tuple(findings),
            "decisions": tuple({"kind": "decision", "name": f"p{k}", "action": "allow", "data": "{}"}
                               for k in range(10)),
            "costs": tuple({"grp": ("module", "marker")[k % 2], "name": f"g{k}", "seconds": float(k),
                            "money": None} for k in range(8)),
        }, events=tuple(Event("trace.span.ended", started, {"k": k}) for k in range(100))))
        if n == runs // 2:
            middle = rid
    store.close()
    return middle


def timed_gets(client: httpx.Client, path: str, n: int = 50) -> list[float]:
    client.get(path).raise_for_status()  # warm
    out = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - start) * 1e3)
        response.raise_for_status()
    return out


def bench_api() -> None:
    with tempfile.TemporaryDirectory(prefix="kisys-bench-api-") as tmp_name:
        db = Path(tmp_name) / "history.db"
        start = time.perf_counter()
        middle = fill(db)
        print(f"store: 1,000 runs written in {time.perf_counter() - start:.1f} s, "
              f"{db.stat().st_size / 1e6:.1f} MB")
        with dashboard(f"sqlite:///{db}") as server, httpx.Client(base_url=server.base, timeout=30) as client:
            assert client.get("/api/runs").json()["total"] == 1000
            print(f"API on 127.0.0.1, 50 requests each ({load()})")
            for path in ("/api/runs", "/api/runs?limit=50&offset=500", f"/api/scans?run={middle}",
                         f"/api/secrets?run={middle}", f"/api/vulnerabilities?run={middle}"):
                ms = sorted(timed_gets(client, path))
                p95 = ms[int(len(ms) * 0.95) - 1]
                median = statistics.median(ms)
                print(f"  {path:<48} median {median:6.2f} ms  p95 {p95:6.2f} ms  max {ms[-1]:6.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("recording", "api"), default=None)
    args = parser.parse_args()
    if args.only in (None, "recording"):
        bench_recording(args.repeat)
    if args.only in (None, "api"):
        bench_api()

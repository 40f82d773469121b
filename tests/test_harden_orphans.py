"""Issue 15 item 11: a SIGTERM'd (or killed) kisys leaves no scan worker running."""

from __future__ import annotations

import os
from pathlib import Path
import signal
import subprocess
import sys
import textwrap
import time

import pytest


_DRIVER = """
import sys
from pytest_kisys.scan.parallel import run_workers

root = sys.argv[1]
files = sorted(p for p in __import__("os").listdir(root) if p.endswith(".py"))
print("STARTING", flush=True)
run_workers("bandit", {"root": root}, [files[0::2], files[1::2]], timeout=300)
"""


def _workers_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if b"pytest_kisys.scan.worker" in cmdline and ppid == parent:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_scan_workers_die_with_their_parent(tmp_path: Path, signum: int) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    body = "".join(f"def f{i}(x):\n    return eval(x) + {i}\n\n" for i in range(300))
    for n in range(120):
        (root / f"m{n}.py").write_text(body)
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(_DRIVER))
    proc = subprocess.Popen(
        [sys.executable, str(driver), str(root)], stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        workers: list[int] = []
        for _ in range(200):
            workers = _workers_of(proc.pid)
            if len(workers) == 2:
                break
            time.sleep(0.05)
        assert len(workers) == 2
        time.sleep(0.5)  # they are scanning now
        os.kill(proc.pid, signum)
        proc.wait(30)
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [w for w in workers if _alive(w)] == []
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for worker in _workers_of(1) + workers:
            if _alive(worker):
                os.kill(worker, signal.SIGKILL)

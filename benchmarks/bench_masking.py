"""What masking costs: the same 2,000-test run with masking on and off.

The generated suite has ``--tests`` tests in 10 modules; every tenth test prints a secret
value (a secret-named environment variable, ``BENCH_API_TOKEN``), logs it, and fails with it
in its assertion message, so the redactor has real work in reports, captured sections and
``-rA`` output; the others pass. Both modes run ``pytest --kisys --kisys-scan none -rA -q``
with ``KISYS_MASK=true`` or ``false`` (everything else equal), round-robin, ``--repeats``
times. Reported: min and median wall and CPU (user+sys of the pytest process) per mode, the
on/off ratio of each, min-max, and the load average before and after.

Run: ``.venv/bin/python benchmarks/bench_masking.py [--tests 2000] [--repeats 5]``.
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


MASKED_VALUE = "bench-secret-value-0123456789"


def write_suite(root: Path, tests: int) -> None:
    """``tests`` tests in 10 modules; every tenth prints, logs and fails with the secret."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    per_module = tests // 10
    for k in range(10):
        lines = ["import logging, os", "TOKEN = os.environ['BENCH_API_TOKEN']", ""]
        for j in range(per_module):
            if j % 10 == 0:
                lines += [
                    f"def test_{j}():",
                    "    value = TOKEN",
                    "    print('using', value)",
                    "    logging.getLogger('bench').warning('token %s', value)",
                    "    assert value == 'expected', f'bad token {value}'",
                    "",
                ]
            else:
                lines += [f"def test_{j}():", "    assert True", ""]
        (root / f"test_mod_{k}.py").write_text("\n".join(lines))


def run_once(root: Path, mask: bool) -> tuple[float, float, str]:
    """Wall and CPU seconds of one pytest run, and its last output line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KISYS_"))}
    env.update({"BENCH_API_TOKEN": MASKED_VALUE, "KISYS_MASK": "true" if mask else "false"})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--kisys", "--kisys-scan", "none", "-rA", "-q",
         "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if not done.stdout.strip():
        raise SystemExit(f"pytest printed nothing (exit {done.returncode}): {done.stderr[-2000:]}")
    if (MASKED_VALUE in done.stdout) == mask:
        raise SystemExit(f"masking={mask} but the secret is {'shown' if mask else 'hidden'}")
    return wall, cpu, done.stdout.strip().splitlines()[-1]


def main() -> None:
    """Run both modes round-robin and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "suite"
        write_suite(root, args.tests)
        run_once(root, True)  # warm caches (bytecode, imports)
        samples: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        last = ""
        for _ in range(args.repeats):
            for mask in (False, True):
                wall, cpu, last = run_once(root, mask)
                samples[mask].append((wall, cpu))
    load_after = os.getloadavg()
    print(f"suite: {args.tests} tests, {args.tests // 10} fail printing a masked value; last: {last}")
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f}, after {load_after[0]:.2f}")
    for index, what in ((0, "wall"), (1, "cpu")):
        off = [s[index] for s in samples[False]]
        on = [s[index] for s in samples[True]]
        print(
            f"{what}: off min {min(off):.2f}s median {statistics.median(off):.2f}s "
            f"(max {max(off):.2f}) | on min {min(on):.2f}s median {statistics.median(on):.2f}s "
            f"(max {max(on):.2f}) | on/off min {min(on) / min(off):.3f} "
            f"median {statistics.median(on) / statistics.median(off):.3f}"
        )


if __name__ == "__main__":
    main()

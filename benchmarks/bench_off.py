"""Cost of pytest-kisys installed but off: 2,000 trivial tests, off vs ``-p no:kisys``.

Runs both variants alternately in one process (so machine noise hits both), several rounds,
and reports the median wall time of each and their ratio (goal: <= 1.01).

    python benchmarks/bench_off.py [--tests 2000] [--rounds 9]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def _make_suite(root: Path, count: int) -> None:
    per_file = 100
    for index in range(0, count, per_file):
        body = "".join(f"def test_{n}():\n    pass\n\n" for n in range(per_file))
        (root / f"test_trivial_{index // per_file:03d}.py").write_text(body)


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(root: Path, extra: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one pytest run."""
    cpu_before = _cpu_children()
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *extra],
        cwd=root,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start, _cpu_children() - cpu_before


def main() -> int:
    """Run the comparison and print a small table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    variants = {"installed, off": [], "-p no:kisys": ["-p", "no:kisys"]}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _make_suite(root, args.tests)
        for extra in variants.values():  # warm-up: bytecode caches, page cache
            _run(root, extra)
        wall: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, extra in variants.items():
                seconds, cpu_seconds = _run(root, extra)
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
    print(f"{args.tests} trivial tests, {args.rounds} rounds (alternating), medians")
    print(f"  {'variant':<16} {'wall s':>8} {'cpu s':>8}")
    for name in variants:
        print(f"  {name:<16} {statistics.median(wall[name]):8.3f} {statistics.median(cpu[name]):8.3f}")
    for label, samples in (("wall", wall), ("cpu", cpu)):
        ratio = statistics.median(samples["installed, off"]) / statistics.median(samples["-p no:kisys"])
        print(f"  ratio off / -p no:kisys ({label}) = {ratio:.3f}  (goal <= 1.01)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

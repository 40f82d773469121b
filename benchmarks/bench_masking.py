"""What masking costs: the same 2,000-test run with masking on and off.

The generated suite has ``--tests`` tests in 10 modules; every tenth test prints a secret
value (a secret-named environment variable, ``BENCH_API_TOKEN``), logs it, and fails with it
in its assertion message, so the redactor has real work in reports, captured sections and
``-rA`` output; the others pass. Both modes run ``pytest --kisys --kisys-scan none -rA -q``
with ``KISYS_MASK=true`` or ``false`` (everything else equal), round-robin, ``--repeats``
times, interleaved. Reported: median [min-max] wall and CPU (user+sys of the pytest process) per
mode, the on/off ratio of the medians with the min-max of the per-round ratios, and the load
average before and after (``benchmarks.timing``).

With ``--id-value`` one more test has the value as its explicit parametrize id and both modes
run with ``-v`` instead of ``-q``: the terminal writer masks everything it writes in such a
run (the line a test starts with is written from the item's own id); this is what that costs.

Run: ``.venv/bin/python benchmarks/bench_masking.py [--tests 2000] [--repeats 5] [--id-value]``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import resource
import subprocess
import sys
import tempfile
import time


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.timing import load_average  # noqa: E402
from benchmarks.timing import Sample  # noqa: E402
from benchmarks.timing import summary_row  # noqa: E402


MASKED_VALUE = "bench-secret-value-0123456789"


def write_suite(root: Path, tests: int, id_value: bool = False) -> None:
    """``tests`` tests in 10 modules; every tenth prints, logs and fails with the secret.

    ``id_value``: one more test, whose explicit parametrize id is the secret.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    per_module = tests // 10
    for k in range(10):
        lines = ["import logging, os, pytest", "TOKEN = os.environ['BENCH_API_TOKEN']", ""]
        if id_value and k == 0:
            lines += ["@pytest.mark.parametrize('v', [1], ids=[TOKEN])", "def test_id(v):", "    pass", ""]
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


def run_once(root: Path, mask: bool, verbose: bool = False) -> tuple[float, float, str]:
    """Wall and CPU seconds of one pytest run, and its last output line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KISYS_"))}
    env.update({"BENCH_API_TOKEN": MASKED_VALUE, "KISYS_MASK": "true" if mask else "false"})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--kisys",
            "--kisys-scan",
            "none",
            "-rA",
            "-v" if verbose else "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
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
    parser.add_argument("--id-value", action="store_true", help="one test's id is the secret; -v")
    args = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "suite"
        write_suite(root, args.tests, args.id_value)
        run_once(root, True, args.id_value)  # warm caches (bytecode, imports)
        samples: dict[bool, list[Sample]] = {True: [], False: []}
        last = ""
        for _ in range(args.repeats):
            for mask in (False, True):
                wall, cpu, last = run_once(root, mask, args.id_value)
                samples[mask].append(Sample(wall, cpu))
    load_after = load_average()
    extra = ", one more with the value as its id, -v" if args.id_value else ""
    print(f"suite: {args.tests} tests, {args.tests // 10} fail printing a masked value{extra}; last: {last}")
    print(f"{args.repeats} rounds interleaved; load average before {load_before}, after {load_after}")
    print(summary_row("masking off", samples[False], samples[False], "off"))
    print(summary_row("masking on", samples[True], samples[False], "off"))


if __name__ == "__main__":
    main()

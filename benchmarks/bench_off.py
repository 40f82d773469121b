"""What being installed costs: pytest in a venv with pytest-kisys against one without it.

Three fresh venvs (``python -m venv --without-pip``, then pip ``--no-index`` from wheels
repacked from this environment, so no network and identical versions):

* ``without``: pytest alone (pytest's own dependencies);
* ``with kisys``: ``pip install pytest-kisys`` (a wheel of this checkout), kisys off;
* ``with kisys, old deps``: the same plus httpx (anyio) and platformdirs, which the previous
  dependency set brought and which register pytest plugins of their own.

Each runs the same suite of trivial tests (``-p no:cacheprovider``), whole processes timed,
the variants interleaved round by round so machine noise hits all of them. Reported: median
wall and CPU (user + system of the child) per variant, min-max, ratios against ``without``
(goal <= 1.01) and the same ratio round by round (min-max), and the load average before and
after. The order of the variants rotates from round to round.

``--instructions`` counts instead of timing: one run of each variant under ``valgrind
--tool=callgrind`` (user-space instructions of the whole process, ``PYTHONHASHSEED=0``), which
is deterministic and independent of the machine's load, so a 1 % difference can be resolved
(``without`` and ``with kisys`` only).

    python benchmarks/bench_off.py [--tests 2000 5000] [--rounds 7] [--dont-write-bytecode]
    python benchmarks/bench_off.py --instructions [--tests 1 2000] [--dont-write-bytecode]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import re
import statistics
import subprocess
import sys
import tempfile


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.timing import load_average  # noqa: E402
from benchmarks.timing import run_timed  # noqa: E402
from benchmarks.timing import Sample  # noqa: E402
from benchmarks.timing import spread  # noqa: E402
from tests.support.wheelhouse import fresh_venv  # noqa: E402
from tests.support.wheelhouse import kisys_wheelhouse  # noqa: E402


OLD_EXTRAS = ("httpx", "platformdirs")


def _make_suite(root: Path, count: int) -> None:
    per_file = 100
    root.mkdir(parents=True)
    for index in range(0, count, per_file):
        body = "".join(f"def test_{n}():\n    pass\n\n" for n in range(min(per_file, count - index)))
        (root / f"test_trivial_{index // per_file:03d}.py").write_text(body)


def _venvs(base: Path) -> dict[str, str]:
    wheels = kisys_wheelhouse(base / "wheels", OLD_EXTRAS)
    wanted = {
        "without": ["pytest"],
        "with kisys": ["pytest-kisys"],
        "with kisys, old deps": ["pytest-kisys", *OLD_EXTRAS],
    }
    return {
        name: fresh_venv(base / name.replace(" ", "_").replace(",", ""), wheels, packages)
        for name, packages in wanted.items()
    }


def _run(python: str, suite: Path, env: dict[str, str]) -> Sample:
    """Wall and CPU seconds of one whole pytest process."""
    return run_timed([[python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]], cwd=suite, env=env)


def _env(dont_write_bytecode: bool) -> dict[str, str]:
    """This environment, with bytecode written (the default) or not: pytest rewrites the
    modules of installed plugins (pytest-kisys's entry point among them) and caches the result
    only where bytecode is written, so ``PYTHONDONTWRITEBYTECODE=1`` costs a plugin more."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if dont_write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _instructions(python: str, suite: Path, env: dict[str, str], out_file: Path | None = None) -> int:
    """User-space instructions of one whole pytest process, counted by callgrind (its
    profile kept in ``out_file`` when given, for ``callgrind_annotate``)."""
    if env.get("PYTHONDONTWRITEBYTECODE"):
        # pytest reads a rewritten module's cached pyc even where it may not write one: a
        # run with bytecode written before (another mode) would leave them behind.
        for where in (Path(python).parent.parent, suite):
            for cached in where.rglob("*-pytest-*.pyc"):
                cached.unlink()
    counted = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file or '/dev/null'}",
         python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=suite, env={**env, "PYTHONHASHSEED": "0"}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", counted.stderr)
    if found is None:
        raise SystemExit(f"callgrind gave no count: {counted.stderr[-1000:]}")
    return int(found.group(1))


def _count_instructions(pythons: dict[str, str], suite: Path, env: dict[str, str], count: int) -> None:
    # The old dependency set is a timing reference only: not worth its callgrind minutes.
    counted = {name: python for name, python in pythons.items() if name != "with kisys, old deps"}
    for python in counted.values():  # warm-up: bytecode, page cache
        _run(python, suite, env)
    counts = {name: _instructions(python, suite, env) for name, python in counted.items()}
    base = counts["without"]
    print(f"\n{count} trivial tests, instructions (callgrind, one run each)")
    for name, value in counts.items():
        print(f"  {name:<22} {value / 1e6:10.1f} M  {(value - base) / 1e6:+8.1f} M  {value / base:.4f}x")


def _plugins(python: str) -> str:
    code = (
        "import importlib.metadata as m; print(','.join(sorted(e.name for d in m.distributions()"
        " for e in d.entry_points if e.group == 'pytest11')) or '-')"
    )
    listed = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, check=True)
    return listed.stdout.strip()


def main() -> int:
    """Build the venvs, run every suite size, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, nargs="+", default=[2000, 5000])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--dont-write-bytecode", action="store_true", help="run pytest with PYTHONDONTWRITEBYTECODE=1"
    )
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions with callgrind instead of timing"
    )
    args = parser.parse_args()
    env = _env(args.dont_write_bytecode)
    print(f"PYTHONDONTWRITEBYTECODE={env.get('PYTHONDONTWRITEBYTECODE', '(unset)')}")
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="kisys-bench-off-") as tmp:
        base = Path(tmp)
        pythons = _venvs(base)
        for name, python in pythons.items():
            print(f"{name:<22} pytest11 plugins: {_plugins(python)}")
        for count in args.tests:
            suite = base / f"suite{count}"
            _make_suite(suite, count)
            if args.instructions:
                _count_instructions(pythons, suite, env, count)
                continue
            for python in pythons.values():  # warm-up: bytecode, page cache
                _run(python, suite, env)
            wall: dict[str, list[float]] = {name: [] for name in pythons}
            cpu: dict[str, list[float]] = {name: [] for name in pythons}
            names = list(pythons)
            for round_no in range(args.rounds):
                # Each round starts with another variant: no variant always runs right after
                # the same one (or first, after the previous size's set-up).
                shift = round_no % len(names)
                for name in names[shift:] + names[:shift]:
                    sample = _run(pythons[name], suite, env)
                    wall[name].append(sample.wall)
                    cpu[name].append(sample.cpu)
            print(f"\n{count} trivial tests, {args.rounds} rounds interleaved; median [min-max]")
            print(
                f"  {'variant':<22} {'wall s':>22} {'cpu s':>22} {'wall x':>7} {'cpu x':>7}"
                "  cpu x per round [min-max]"
            )
            base_wall = statistics.median(wall["without"])
            base_cpu = statistics.median(cpu["without"])
            for name in pythons:
                w, c = wall[name], cpu[name]
                paired = [mine / base for mine, base in zip(c, cpu["without"], strict=True)]
                print(
                    f"  {name:<22} {spread(w, digits=3):>22} {spread(c, digits=3):>22}"
                    f" {statistics.median(w) / base_wall:7.3f} {statistics.median(c) / base_cpu:7.3f}"
                    f"  {spread(paired, digits=3)}"
                )
    load_after = load_average()
    print(f"\nload average before {load_before}, after {load_after} (2 cores, shared)")
    print("goal: 'with kisys' <= 1.01x 'without'")
    return 0


if __name__ == "__main__":
    sys.exit(main())

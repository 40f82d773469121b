"""Warm ``kisys vet`` of 50 names as a whole process, against the interpreter's own start-up.

What a user pays for ``kisys vet NAME...`` when every answer is already in the vetting cache:
the whole process, timed from the outside (wall, and CPU as user + system). Each variant is a
fresh venv with a real (non-editable) install from wheels, bytecode compiled, as ``pip install
pytest-kisys`` leaves it:

* ``python -c pass``: the floor, the interpreter's start-up in the same venv;
* ``kisys vet`` of this checkout;
* ``kisys vet`` of ``--baseline REF`` (a wheel built from ``git archive REF``), when given.

The 50 names are served by the loopback index of the test suite; one cold run per variant fills
its own cache, then the rounds run interleaved. pip configuration is isolated
(``PIP_CONFIG_FILE=/dev/null``, no ``PIP_*``); the working directory has no project
configuration. Goal (issue 19 item 5): at most 0.15 s wall.

    python benchmarks/bench_vet_cli.py [--rounds 15] [--baseline REF] [--profile FILE]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
import subprocess
import sys
import tempfile


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.timing import load_average  # noqa: E402
from benchmarks.timing import run_timed  # noqa: E402
from benchmarks.timing import Sample  # noqa: E402
from benchmarks.timing import summary_row  # noqa: E402
from tests.support.pkgindex import isolated_pip_env  # noqa: E402
from tests.support.pkgindex import PackageIndex  # noqa: E402
from tests.support.wheelhouse import fresh_venv  # noqa: E402
from tests.support.wheelhouse import kisys_wheelhouse  # noqa: E402


NAMES = [f"kisys-bench-{i:02d}" for i in range(50)]


def baseline_wheel(ref: str, dest: Path) -> Path:
    """A wheel of ``git archive REF`` of this repository (built without network)."""
    source = dest / "src"
    source.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(dest), str(source)],
        check=True, env=isolated_pip_env(), capture_output=True,
    )  # fmt: skip
    (wheel,) = dest.glob("pytest_kisys-*.whl")
    return wheel


def venv_with(root: Path, wheels: Path, wheel: Path) -> str:
    """A fresh venv with ``wheel`` installed and its dependencies from ``wheels``."""
    return fresh_venv(root, wheels, [str(wheel)])


def main(argv: Sequence[str] | None = None) -> int:
    """Build the venvs, warm each cache, time the rounds, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--baseline", metavar="REF", help="also time kisys vet of this git ref")
    parser.add_argument("--profile", type=Path, help="write a cProfile of one warm run here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kisys-bench-vet-") as tmp:
        root = Path(tmp)
        wheels = kisys_wheelhouse(root / "wheels")
        (current,) = wheels.glob("pytest_kisys-*.whl")
        moved = root / "current" / current.name
        moved.parent.mkdir()
        current.rename(moved)
        pythons = {"kisys vet": venv_with(root / "venv-now", wheels, moved)}
        if args.baseline:
            wheel = baseline_wheel(args.baseline, root / "baseline")
            pythons[f"kisys vet @{args.baseline}"] = venv_with(root / "venv-base", wheels, wheel)
        env = isolated_pip_env()
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        work = root / "work"
        work.mkdir()
        index = PackageIndex().start()
        try:
            for name in NAMES:
                index.add_project(name, versions=("1.0", "1.1", "1.2"))

            def commands(label: str) -> list[list[str]]:
                if label == "python -c pass":
                    return [[pythons["kisys vet"], "-c", "pass"]]
                kisys = str(Path(pythons[label]).with_name("kisys"))
                cache = root / f"cache-{label.replace(' ', '_').replace('@', '')}"
                return [[kisys, "vet", "--index-url", index.simple_url, "--cache-dir", str(cache), *NAMES]]

            labels = ["python -c pass", *pythons]
            for label in labels:  # cold: fills each variant's cache; exit 1 = "confirm" rows
                run_timed(commands(label), env=env, cwd=work, ok_codes=(0, 1))
            served = len(index.requests)
            print(f"load average before: {load_average()}")
            samples: dict[str, list[Sample]] = {label: [] for label in labels}
            for _ in range(args.rounds):
                for label in labels:
                    samples[label].append(run_timed(commands(label), env=env, cwd=work, ok_codes=(0, 1)))
            if len(index.requests) != served:
                raise SystemExit("a warm run asked the index: the cache was not used")
            print(f"{args.rounds} interleaved rounds, warm, 50 names; wall and CPU median [min-max]")
            for label in labels:
                print(summary_row(label, samples[label], samples["python -c pass"], "python"))
            if args.profile:
                (command,) = commands("kisys vet")
                python = pythons["kisys vet"]
                profiled = [python, "-m", "cProfile", "-o", str(args.profile), "-m", "pytest_kisys.cli"]
                subprocess.run([*profiled, *command[1:]], env=env, cwd=work, check=False, capture_output=True)
                print(f"profile: {args.profile}")
        finally:
            index.stop()
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

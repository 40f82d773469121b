"""A run that reuses an overlay against the same run with the packages in the environment.

Issue 14's goal: ``pytest --kisys --kisys-isolate`` reusing an overlay adds at most 50 ms over
``pytest --kisys`` where the same packages are installed in the environment under test. Two
fresh venvs with the same pytest-kisys and pip (a real install from wheels, bytecode compiled):

* ``in-env``: the suite's packages installed into the venv with pip from the loopback index;
* ``overlay``: the venv without them; a first ``--kisys-isolate`` run builds the overlay
  (vetted, hash-pinned), and every timed run reuses it (checked: tree stamp, deny and
  known-malicious lists, then put on ``sys.path``).

The suite imports every package (``--packages`` of them, pure-Python wheels from the loopback
index of the test suite). Whole processes, interleaved round by round; wall and CPU (user +
system) medians with min-max, the difference of medians, and the load average.

    python benchmarks/bench_overlay.py [--packages 5] [--rounds 11] [--profile FILE]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import textwrap


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


def write_project(root: Path, index: PackageIndex, dists: Sequence[str], cache: Path) -> None:
    """The suite: one test importing every package, and its ``[tool.kisys]``."""
    modules = [d.replace("-", "_") for d in dists]
    root.mkdir(parents=True)
    (root / "test_uses.py").write_text(
        "".join(f"import {m}\n" for m in modules)
        + "\n\ndef test_values():\n"
        + "".join(f"    assert {m}.VALUE == 42\n" for m in modules)
    )
    allow = ", ".join(f'"{d}"' for d in dists)
    mapping = ", ".join(f'{m} = "{d}"' for m, d in zip(modules, dists, strict=True))
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [tool.kisys]
            scan = "none"
            cache_dir = "{cache}"
            allow = [{allow}]
            import_map = {{{mapping}}}
            index = {{url = "{index.simple_url}"}}
            """
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Build both venvs and the overlay, time the interleaved runs, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--profile", type=Path, help="write a cProfile of one overlay-reusing run")
    args = parser.parse_args(argv)
    dists = [f"kisys-ovbench-{i:02d}" for i in range(args.packages)]
    with tempfile.TemporaryDirectory(prefix="kisys-bench-overlay-") as tmp:
        root = Path(tmp)
        index = PackageIndex().start()
        try:
            for dist in dists:
                module = dist.replace("-", "_")
                files = {f"{module}/__init__.py": "VALUE = 42\n"}
                index.add_project(dist, ("1.0", "1.1", "2.0"), modules=files)
            wheels = kisys_wheelhouse(root / "wheels", ("pip",))
            env = isolated_pip_env()
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["CI"] = "true"
            names = ("in-env", "overlay")
            pythons = {name: fresh_venv(root / name, wheels, ["pytest-kisys", "pip"]) for name in names}
            subprocess.run(
                [sys.executable, "-m", "pip", "--python", pythons["in-env"], "install", "-q",
                 "--index-url", index.simple_url, *dists],
                check=True, env=env, capture_output=True,
            )  # fmt: skip
            projects = {}
            for name in pythons:
                projects[name] = root / f"project-{name}"
                write_project(projects[name], index, dists, root / f"cache-{name}")

            def command(name: str) -> list[list[str]]:
                flags = ["--kisys", *(["--kisys-isolate"] if name == "overlay" else [])]
                return [[pythons[name], "-m", "pytest", "-q", "-p", "no:cacheprovider", *flags]]

            for name in pythons:  # the overlay's first run builds it; in-env warms its caches
                run_timed(command(name), env=env, cwd=projects[name])
            overlays = list((root / "cache-overlay" / "overlays").glob("*"))
            if len(overlays) != 1:
                raise SystemExit(f"expected one overlay, found {overlays}")
            print(f"load average before: {load_average()}")
            samples: dict[str, list[Sample]] = {name: [] for name in pythons}
            for _ in range(args.rounds):
                for name in pythons:
                    samples[name].append(run_timed(command(name), env=env, cwd=projects[name]))
            if args.profile:
                (cmd,) = command("overlay")
                profiled = [cmd[0], "-m", "cProfile", "-o", str(args.profile), *cmd[1:]]
                subprocess.run(profiled, env=env, cwd=projects["overlay"], check=False, capture_output=True)
            if list((root / "cache-overlay" / "overlays").glob("*")) != overlays:
                raise SystemExit("a timed run built another overlay: it was not reused")
        finally:
            index.stop()
    print(f"{args.rounds} interleaved rounds, {args.packages} packages, pytest --kisys (one test)")
    for name in pythons:
        print(summary_row(name, samples[name], samples["in-env"], "in-env"))
    for what in ("wall", "cpu"):
        medians = {n: statistics.median(getattr(s, what) for s in samples[n]) for n in pythons}
        print(f"  overlay - in-env, {what}: {(medians['overlay'] - medians['in-env']) * 1000:+.0f} ms")
    print(f"load average after: {load_average()}  (goal: overlay adds at most 50 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

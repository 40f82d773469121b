"""Scanners from kisys's tool environment against scanners installed in the environment under test.

Two fresh venvs with the same pytest-kisys (wheels repacked from this environment, ``--no-index``):

* ``in-env``: ``pytest-kisys[scanners]``, the scanners installed where the tests run (the
  previous layout);
* ``tool env``: ``pytest-kisys`` alone; the scanners run from the tool environment, built once
  (``kisys tools create``, from the index in your pip configuration) before timing.

Both run ``pytest --kisys --kisys-scan all`` on the same copy of a tree (default: pip's
source, as installed here, plus a trivial test file), warm (every check's cache filled by a
first run), whole processes, interleaved round by round. The dependency check asks a loopback
OSV server. Goal: tool env <= 1.1x in-env. Wall and CPU medians with min-max, load average.

    python benchmarks/bench_tools.py [--tree DIR] [--rounds 5] [--cold]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.timing import load_average  # noqa: E402
from benchmarks.timing import run_timed  # noqa: E402
from benchmarks.timing import Sample  # noqa: E402
from benchmarks.timing import spread  # noqa: E402
from tests.support.osv_server import DEFAULT_RECORDS  # noqa: E402
from tests.support.osv_server import serve  # noqa: E402
from tests.support.wheelhouse import fresh_venv  # noqa: E402
from tests.support.wheelhouse import kisys_wheelhouse  # noqa: E402


SCANNERS = ("bandit", "detect-secrets", "pip-audit")


def _venvs(base: Path) -> dict[str, str]:
    wheels = kisys_wheelhouse(base / "wheels", SCANNERS)
    wanted = {"in-env": ["pytest-kisys", *SCANNERS], "tool env": ["pytest-kisys"]}
    return {name: fresh_venv(base / name.replace(" ", "_"), wheels, pkgs) for name, pkgs in wanted.items()}


def _run(python: str, tree: Path, env: dict[str, str]) -> Sample:
    command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--kisys", "--kisys-scan", "all",
               "--kisys-fail-on", "never", "test_bench_trivial.py"]  # fmt: skip
    return run_timed([command], env=env, cwd=tree, ok_codes=(0, 16))


def main() -> int:
    """Build both venvs and the tool environment, then time the interleaved runs."""
    parser = argparse.ArgumentParser(description=__doc__)
    import pip

    parser.add_argument("--tree", type=Path, default=Path(pip.__file__).resolve().parent.parent / "pip")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    load_before = load_average()
    server, _thread = serve(DEFAULT_RECORDS)
    try:
        with tempfile.TemporaryDirectory(prefix="kisys-bench-tools-") as tmp:
            base = Path(tmp)
            pythons = _venvs(base)
            tree = base / "tree"
            shutil.copytree(args.tree, tree / args.tree.name)
            (tree / "test_bench_trivial.py").write_text("def test_ok():\n    pass\n")
            env = {**os.environ, "KISYS_AUDIT_SERVICE": "osv", "KISYS_OSV_URL": server.url,
                   "KISYS_ALLOW_INCONCLUSIVE": "true"}
            envs = {
                name: {**env, "KISYS_CACHE_DIR": str(base / f"cache-{n}")} for n, name in enumerate(pythons)
            }
            kisys = str(Path(pythons["tool env"]).with_name("kisys"))
            started = time.perf_counter()
            subprocess.run([kisys, "tools", "create"], env=envs["tool env"], check=True)
            print(f"tool environment built in {time.perf_counter() - started:.1f} s (first use)")
            cold = {name: _run(python, tree, envs[name]) for name, python in pythons.items()}
            wall: dict[str, list[float]] = {name: [] for name in pythons}
            cpu: dict[str, list[float]] = {name: [] for name in pythons}
            for _ in range(args.rounds):
                for name, python in pythons.items():
                    sample = _run(python, tree, envs[name])
                    wall[name].append(sample.wall)
                    cpu[name].append(sample.cpu)
    finally:
        server.shutdown()
    load_after = load_average()
    print(f"tree: {args.tree} (copied); pytest --kisys --kisys-scan all, 1 trivial test")
    print("cold (first run, empty caches): " + ", ".join(
        f"{name} {sample.wall:.2f} s wall / {sample.cpu:.2f} s cpu" for name, sample in cold.items()))
    print(f"warm, {args.rounds} rounds interleaved; median [min-max]")
    base_wall, base_cpu = statistics.median(wall["in-env"]), statistics.median(cpu["in-env"])
    for name in pythons:
        w, c = wall[name], cpu[name]
        print(
            f"  {name:<9} wall {spread(w)}  cpu {spread(c)}"
            f"  x{statistics.median(w) / base_wall:.3f} wall, x{statistics.median(c) / base_cpu:.3f} cpu"
        )
    print(
        f"load average before {load_before}, after {load_after} (2 cores, shared)"
    )
    print("goal: tool env <= 1.1x in-env (warm)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

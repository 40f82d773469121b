"""Wheel inspection: time per MB of wheel, and what it adds to the 20-package uv batch.

Part 1 inspects every wheel in ``--wheels`` (default: the corpus directory that
``scripts/inspect_corpus.py`` fills; real wheels of the most-downloaded projects) and reports
wall and CPU seconds per MB of wheel, per round (min-max over ``--rounds``).

Part 2 is ``bench_install.py``'s batch: 20 pure-Python packages from the loopback index into a
fresh venv with the uv backend, timed around ``Installer.install()``, with inspection as it
ships and with inspection replaced by a no-op (the only change), interleaved round by round.
The ratio is what inspection adds (goal: at most 10 %). Load average is printed with every
figure: on the shared 2-core machine, other work inflates wall times.

    python benchmarks/bench_inspect.py [--wheels DIR] [--rounds 3] [--size 20]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_install import isolate  # noqa: E402
from benchmarks.bench_install import names_for  # noqa: E402
from tests.support.pkgindex import PackageIndex  # noqa: E402
from tests.support.venvs import make_base_venv  # noqa: E402


_DRIVER = """
import sys, time
from pathlib import Path
from pytest_kisys.install import release_gate
from pytest_kisys.install.consent import FixedConsent
from pytest_kisys.install.installer import Installer
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.settings import IndexSettings, Settings

index, mode, root, *names = sys.argv[1:]
if mode == "off":
    release_gate.inspect_batch = lambda *a, **k: release_gate.BatchInspection({}, {})
settings = Settings(index=IndexSettings(url=index), allow=tuple(names), rootdir=Path(root),
                    cache_dir=Path(root) / "kisys-cache", backend="uv")
installer = Installer(settings, consent=FixedConsent(False))
started, cpu = time.perf_counter(), time.process_time()
result = installer.install([InstallRequest(name, "benchmark") for name in names])
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
if result.error or len(result.installed) != len(names):
    sys.exit(f"kisys batch failed: {result.error or result.denied}")
print(elapsed, cpu)
"""


def per_megabyte(wheels: list[Path], rounds: int) -> None:
    from packaging.utils import canonicalize_name
    from packaging.utils import parse_wheel_filename

    from pytest_kisys.inspect import environment_view
    from pytest_kisys.inspect import inspect_wheel

    size = sum(p.stat().st_size for p in wheels) / 1e6
    view = environment_view([])
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        for path in wheels:
            inspect_wheel(path, canonicalize_name(parse_wheel_filename(path.name)[0]), "", view)
        walls.append((time.perf_counter() - wall) / size)
        cpus.append((time.process_time() - cpu) / size)
    wall_ms = [w * 1000 for w in walls]
    cpu_ms = [c * 1000 for c in cpus]
    print(
        f"part 1: {len(wheels)} wheels, {size:.0f} MB: wall {statistics.median(wall_ms):.0f} ms/MB "
        f"(min-max {min(wall_ms):.0f}-{max(wall_ms):.0f}), CPU {statistics.median(cpu_ms):.0f} ms/MB "
        f"(min-max {min(cpu_ms):.0f}-{max(cpu_ms):.0f}); load {os.getloadavg()[0]:.1f}"
    )


def batch(python: str, index: PackageIndex, names: list[str], mode: str, root: Path) -> tuple[float, float]:
    import subprocess

    root.mkdir(parents=True, exist_ok=True)
    driver = root / "driver.py"
    driver.write_text(_DRIVER, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.run(
        [python, str(driver), index.simple_url, mode, str(root), *names],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.strip() or proc.stdout.strip())
    wall, cpu = proc.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def main() -> int:
    """Run both parts and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wheels", type=Path, default=Path(tempfile.gettempdir()) / "kisys-inspect-corpus")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=20)
    parser.add_argument("--max-wheels", type=int, default=60)
    args = parser.parse_args()
    wheels = sorted(args.wheels.glob("*/*.whl"))[: args.max_wheels]
    if wheels:
        per_megabyte(wheels, args.rounds)
    else:
        print(f"part 1 skipped: no wheels under {args.wheels} (run scripts/inspect_corpus.py first)")
    with tempfile.TemporaryDirectory(prefix="kisys-bench-inspect-") as tmp:
        root = Path(tmp)
        isolate(root / "cache")
        index = PackageIndex().start()
        try:
            names = names_for(args.size)
            for name in names:
                index.add_project(name, ("1.0", "1.1", "1.2"))
            counter = iter(range(10_000))

            def fresh() -> str:
                return make_base_venv(root / f"venv{next(counter)}").python

            batch(fresh(), index, names, "on", root / "warm")  # warm uv's cache
            samples: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
            loads = []
            for number in range(args.rounds):
                for mode in ("off", "on"):
                    samples[mode].append(batch(fresh(), index, names, mode, root / f"{mode}-{number}"))
                loads.append(os.getloadavg()[0])
            on = statistics.median(w for w, _ in samples["on"])
            off = statistics.median(w for w, _ in samples["off"])
            on_cpu = statistics.median(c for _, c in samples["on"])
            off_cpu = statistics.median(c for _, c in samples["off"])
            off_walls = [w for w, _ in samples["off"]]
            on_walls = [w for w, _ in samples["on"]]
            print(
                f"part 2: uv batch of {args.size}, median of {args.rounds}: without inspection {off:.2f} s "
                f"(min-max {min(off_walls):.2f}-{max(off_walls):.2f}), with {on:.2f} s (min-max "
                f"{min(on_walls):.2f}-{max(on_walls):.2f}); inspection adds {100 * (on / off - 1):+.1f} % "
                f"wall; CPU in kisys {off_cpu:.2f} s -> {on_cpu:.2f} s; "
                f"load {min(loads):.1f}-{max(loads):.1f}"
            )
        finally:
            index.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

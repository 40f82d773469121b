"""Batch install with kisys (pip and uv backends) against one ``pip install`` per package.

The peer is what the earlier in-house engine did: one ``pip install NAME`` call per package,
one after another. N independent packages (3 releases each, pure-Python wheels) are served
by the loopback index of the test suite; each variant installs them into a fresh virtualenv
(venv creation is not timed). pip's and uv's caches live in a temporary directory and are
warmed once before timing, so every variant downloads from cache the same way.

kisys runs inside each fresh venv and installs into its own ``sys.executable``, as it does
under pytest. It is timed around ``Installer.install()``, first-use imports of the vetting
engine included: the whole pipeline of resolve (pip dry-run report, or uv compile for the uv
backend), vet every item against the index, install by hash, verify. Goals (issue 4): >= 5x
faster with uv, >= 2x with pip. Each figure is the median of ``--rounds`` interleaved rounds.

    python benchmarks/bench_install.py [--sizes 5 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.pkgindex import PackageIndex  # noqa: E402
from tests.support.venvs import make_base_venv  # noqa: E402


def isolate(cache: Path) -> None:
    """pip/uv started from here ignore the machine's configuration and use private caches."""
    for key in list(os.environ):
        if key.startswith(("PIP_", "UV_")):
            del os.environ[key]
    os.environ.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_CACHE_DIR=str(cache / "pip"),
        UV_CACHE_DIR=str(cache / "uv"),
        UV_NO_CONFIG="1",
    )


def names_for(size: int) -> list[str]:
    return [f"kisys-bench-pkg-{n:02d}" for n in range(size)]


def one_by_one(python: str, index: PackageIndex, names: list[str]) -> float:
    started = time.perf_counter()
    for name in names:
        subprocess.run(
            [python, "-m", "pip", "install", "-q", "--index-url", index.simple_url, name],
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - started


_DRIVER = """
import sys, time
from pathlib import Path
from pytest_kisys.install.consent import FixedConsent
from pytest_kisys.install.installer import Installer
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.settings import IndexSettings, Settings

index, backend, root, *names = sys.argv[1:]
settings = Settings(index=IndexSettings(url=index), allow=tuple(names), rootdir=Path(root),
                    cache_dir=Path(root) / "kisys-cache", backend=backend)
installer = Installer(settings, consent=FixedConsent(False))
started = time.perf_counter()
result = installer.install([InstallRequest(name, "benchmark") for name in names])
elapsed = time.perf_counter() - started
if result.error or len(result.installed) != len(names):
    sys.exit(f"kisys {backend} batch failed: {result.error or result.denied}")
print(elapsed)
"""


def kisys_batch(python: str, index: PackageIndex, names: list[str], backend: str, root: Path) -> float:
    """kisys inside the target environment, as under pytest (``sys.executable`` is the target).

    Timed inside the process around ``install()``: in a test session the interpreter is
    already running, so start-up is not part of what kisys adds.
    """
    root.mkdir(parents=True, exist_ok=True)
    driver = root / "driver.py"
    driver.write_text(_DRIVER, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.run(
        [python, str(driver), index.simple_url, backend, str(root), *names],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.strip() or proc.stdout.strip())
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kisys-bench-install-") as tmp:
        root = Path(tmp)
        isolate(root / "cache")
        index = PackageIndex().start()
        try:
            for name in names_for(max(args.sizes)):
                index.add_project(name, ("1.0", "1.1", "1.2"))
            counter = iter(range(10_000))

            def fresh() -> str:
                return make_base_venv(root / f"venv{next(counter)}").python

            # Warm pip's and uv's caches (the vetting cache is per run, so it is never warm).
            warm = names_for(max(args.sizes))
            kisys_batch(fresh(), index, warm, "pip", root / "warm-pip")
            kisys_batch(fresh(), index, warm, "uv", root / "warm-uv")
            one_by_one(fresh(), index, warm[:1])
            print(f"median of {args.rounds} round(s); every variant installs into a fresh venv")
            print(
                f"{'packages':>8} {'pip one by one':>15} {'kisys pip':>10} {'kisys uv':>10} "
                f"{'ratio pip':>10} {'ratio uv':>9}"
            )
            for size in args.sizes:
                names = names_for(size)
                samples: dict[str, list[float]] = {"peer": [], "pip": [], "uv": []}
                for number in range(args.rounds):
                    # Interleaved, so drifts in machine load hit every variant alike.
                    samples["peer"].append(one_by_one(fresh(), index, names))
                    for backend in ("pip", "uv"):
                        where = root / f"k{size}-{backend}-{number}"
                        samples[backend].append(kisys_batch(fresh(), index, names, backend, where))
                peer, pip, uv = (statistics.median(samples[key]) for key in ("peer", "pip", "uv"))
                print(
                    f"{size:>8} {peer:>14.2f}s {pip:>9.2f}s {uv:>9.2f}s "
                    f"{peer / pip:>9.1f}x {peer / uv:>8.1f}x"
                )
        finally:
            index.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

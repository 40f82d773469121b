"""``kisys install`` (uv and pip backends) side by side with plain uv, plain pip and the seed.

What a user pays: every variant is a whole process, timed from the outside (wall time, and the
CPU time of the process and all its children), installing N independent packages (3 releases
each, pure-Python wheels) from the loopback index of the test suite into a fresh virtualenv
(venv creation is not timed). The variants, interleaved round by round so that drifts in the
machine's load hit all of them alike:

* ``uv``: plain ``uv pip install --python V --index-url URL NAME...``;
* ``pip``: plain ``V -m pip install --index-url URL NAME...`` (one process);
* ``seed``: one ``V -m pip install NAME`` per package, one after another (what the earlier
  in-house engine did);
* ``kisys-uv`` / ``kisys-pip``: ``kisys install --python V --backend uv|pip --index-url URL
  --allow NAME... NAME...`` (resolve the whole set, vet every item against the index, install
  by hash, verify), with an empty vetting cache each time, as on a first run;
* ``kisys-uv-warm``: the same with the vetting cache of the previous round (a second run).

pip's and uv's caches live in a temporary directory and are warmed once before timing, so every
variant downloads from a warm cache. pip and uv are isolated from this machine's configuration
(``PIP_CONFIG_FILE=/dev/null``, no inherited ``PIP_*``/``UV_*``). Goals (issue 19 item 5):
``kisys-uv`` at most 3x ``uv`` at 20 packages; ``seed`` at least 2x ``kisys-pip`` at 5 packages.

    python benchmarks/bench_install.py [--sizes 5 20] [--rounds 5] [--only kisys-uv uv]
        [--profile DIR]

``--profile DIR`` additionally runs ``kisys install`` once per backend and size under cProfile
and writes ``DIR/kisys-<backend>-<size>.prof`` (not timed).

``--nagle`` serves the index as the test server did before it set ``TCP_NODELAY``: every
answer then waits about 40 ms for the client's delayed ACK (the setting of earlier figures).

``--baseline REF`` also times the kisys variants of ``git archive REF`` (``base-kisys-uv``,
``base-kisys-uv-warm``, ``base-kisys-pip``) in the same rounds; both kisys builds are then real
(non-editable) installs from wheels, each in its own venv with uv.
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
from tests.support.venvs import make_base_venv  # noqa: E402


VARIANTS = ("uv", "pip", "seed", "kisys-uv", "kisys-uv-warm", "kisys-pip")
BASE_VARIANTS = ("base-kisys-uv", "base-kisys-uv-warm", "base-kisys-pip")


def names_for(size: int) -> list[str]:
    return [f"kisys-bench-pkg-{n:02d}" for n in range(size)]


def kisys_exe() -> str:
    """The ``kisys`` console script next to this interpreter."""
    found = Path(sys.executable).with_name("kisys")
    if not found.exists():
        raise SystemExit(f"no kisys console script next to {sys.executable}: pip install -e .")
    return str(found)


def uv_exe() -> str:
    from pytest_kisys.install.uv_backend import find_uv

    uv = find_uv()
    if uv is None:
        raise SystemExit("uv not found: pip install pytest-kisys[uv]")
    return uv


def runtime_requires(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` entries of ``wheel`` that no extra guards."""
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(name).decode("utf-8").splitlines()
    found = [line.partition(":")[2].strip() for line in lines if line.startswith("Requires-Dist:")]
    return [req for req in found if "extra ==" not in req]


class Bench:
    """One loopback index, private caches, and a fresh venv per timed run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = isolated_pip_env()
        self.env.update(
            PIP_CACHE_DIR=str(root / "cache" / "pip"),
            UV_CACHE_DIR=str(root / "cache" / "uv"),
            XDG_CACHE_HOME=str(root / "cache" / "xdg"),
        )
        # As a user's environment: bytecode is written, so imports are not recompiled each run.
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.index = PackageIndex().start()
        self.uv = uv_exe()
        self.kisys = kisys_exe()
        self.base_kisys = ""
        self._count = 0
        self.warm_vet_cache = root / "kisys-warm-cache"

    def build_kisys(self, baseline: str) -> None:
        """Real installs of this checkout and of ``baseline``, each in its own venv with uv."""
        from benchmarks.bench_vet_cli import baseline_wheel
        from tests.support.wheelhouse import fresh_venv
        from tests.support.wheelhouse import kisys_wheelhouse
        from tests.support.wheelhouse import wheelhouse

        wheels = kisys_wheelhouse(self.root / "wheels", extra=["uv"])
        (current,) = wheels.glob("pytest_kisys-*.whl")
        moved = self.root / "current" / current.name
        moved.parent.mkdir()
        current.rename(moved)
        base = baseline_wheel(baseline, self.root / "baseline")
        # The baseline may need what this checkout no longer does (filelock before 1f22a1f).
        wheelhouse(runtime_requires(base), wheels)
        now = fresh_venv(self.root / "kisys-now", wheels, [str(moved), "uv"])
        then = fresh_venv(self.root / "kisys-base", wheels, [str(base), "uv"])
        for python in (now, then):  # repacked wheels carry no binary: the same uv for both
            Path(python).with_name("uv").symlink_to(self.uv)
        self.kisys = str(Path(now).with_name("kisys"))
        self.base_kisys = str(Path(then).with_name("kisys"))

    def fresh(self) -> str:
        self._count += 1
        return make_base_venv(self.root / f"venv{self._count}").python

    def cache_for(self, variant: str) -> Path:
        """The vetting cache of a kisys run: the shared warm one, or a new empty one."""
        if variant.endswith("kisys-uv-warm"):
            return self.warm_vet_cache.with_name(f"{variant}-cache")
        return self.root / f"kisys-cache-{self._count}"

    def command(self, variant: str, python: str, names: Sequence[str]) -> list[list[str]]:
        url = self.index.simple_url
        if variant == "uv":
            return [[self.uv, "pip", "install", "-q", "--python", python, "--index-url", url, *names]]
        if variant == "pip":
            return [[python, "-m", "pip", "install", "-q", "--index-url", url, *names]]
        if variant == "seed":
            return [[python, "-m", "pip", "install", "-q", "--index-url", url, name] for name in names]
        backend = "uv" if "kisys-uv" in variant else "pip"
        kisys = self.base_kisys if variant.startswith("base-") else self.kisys
        allow = [arg for name in names for arg in ("--allow", name)]
        return [
            [
                kisys, "install", "-q", "--python", python, "--backend", backend,
                "--index-url", url, *allow, *names,
            ]
        ]  # fmt: skip

    def run(self, variant: str, names: Sequence[str]) -> Sample:
        python = self.fresh()
        commands = self.command(variant, python, names)
        return run_timed(commands, env={**self.env, "KISYS_CACHE_DIR": str(self.cache_for(variant))})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print one table per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--profile", type=Path, help="also write cProfile files of kisys install")
    parser.add_argument("--baseline", metavar="REF", help="also time the kisys variants of this git ref")
    parser.add_argument("--nagle", action="store_true", help="the index server without TCP_NODELAY")
    args = parser.parse_args(argv)
    if args.baseline:
        args.only += [f"base-{v}" for v in args.only if f"base-{v}" in BASE_VARIANTS]
    with tempfile.TemporaryDirectory(prefix="kisys-bench-install-") as tmp:
        bench = Bench(Path(tmp))
        if args.nagle:
            bench.index.set_nodelay(False)
        try:
            if args.baseline:
                bench.build_kisys(args.baseline)
            for name in names_for(max(args.sizes)):
                bench.index.add_project(name, ("1.0", "1.1", "1.2"))
            warm = names_for(max(args.sizes))
            # Warm pip's and uv's caches, and the vetting cache of the "second run" variant.
            for variant in ("uv", "seed", *VARIANTS[3:], *BASE_VARIANTS):
                if variant in args.only or variant == "uv":
                    bench.run(variant, warm if variant != "seed" else warm[:1])
            if "pip" in args.only or "seed" in args.only:
                bench.run("pip", warm)
            print(f"load average before: {load_average()}")
            print(
                f"{args.rounds} interleaved round(s); whole processes into a fresh venv; "
                "wall and CPU (process + children), median [min-max]"
            )
            for size in args.sizes:
                names = names_for(size)
                samples: dict[str, list[Sample]] = {v: [] for v in args.only}
                for _ in range(args.rounds):
                    for variant in args.only:
                        samples[variant].append(bench.run(variant, names))
                print(f"\n{size} packages (load average {load_average()})")
                base = "uv" if "uv" in samples else args.only[0]
                for variant in args.only:
                    print(summary_row(variant, samples[variant], samples[base], base))
                for pip_variant in ("kisys-pip", "base-kisys-pip"):
                    if "seed" in samples and pip_variant in samples:
                        seed, pip = samples["seed"], samples[pip_variant]
                        print(summary_row(f"seed vs {pip_variant}", seed, pip, pip_variant))
            if args.profile:
                profile(bench, args.profile, args.sizes, args.only)
        finally:
            bench.index.stop()
    print(f"\nload average after: {load_average()}")
    return 0


def profile(bench: Bench, where: Path, sizes: Sequence[int], only: Sequence[str]) -> None:
    """One cProfile'd ``kisys install`` per backend and size (``--cache-dir`` fresh each time)."""
    where.mkdir(parents=True, exist_ok=True)
    for size in sizes:
        for variant in ("kisys-uv", "kisys-pip")[: 2 if "kisys-pip" in only else 1]:
            python = bench.fresh()
            (command,) = bench.command(variant, python, names_for(size))
            output = where / f"{variant}-{size}.prof"
            python_of_kisys = str(Path(bench.kisys).with_name("python"))
            profiled = [python_of_kisys, "-m", "cProfile", "-o", str(output), "-m", "pytest_kisys.cli"]
            env = {**bench.env, "KISYS_CACHE_DIR": str(bench.cache_for(variant))}
            subprocess.run([*profiled, *command[1:]], env=env, check=True, capture_output=True)
            print(f"profile: {output}")


if __name__ == "__main__":
    raise SystemExit(main())

"""Run real projects' test suites from their sdists: a bare venv with ``pytest --kisys`` against
a reference venv built from the project's own test declarations, and compare the counts.

    python scripts/real_suites.py                       # the projects of docs/real-world.md
    python scripts/real_suites.py --only humanize click --work /tmp/suites

Each project is downloaded once as an sdist (``pip download --no-binary :all:``) through this
machine's pip configuration. The kisys venv holds the project and pytest-kisys only; the run is
``CI=true pytest --kisys --kisys-scan none`` (the security checks are measured elsewhere: here
only "does the suite go green from nothing" counts). The reference venv gets the declarations
listed in :data:`PROJECTS`. The table printed at the end is the one in docs/real-world.md.
Needs uv on PATH or next to this interpreter, and the internet (PyPI) or a mirror.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import os
from pathlib import Path
import re
import shutil
import subprocess  # noqa: S404  # nosec B404 - this script drives pip, uv and pytest
import sys
import tarfile
import tempfile


ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Project:
    """One real suite: the sdist to fetch and what its own test environment installs."""

    name: str
    version: str
    reference: tuple[str, ...]  # uv pip install arguments, run inside the unpacked sdist
    pytest_args: tuple[str, ...] = ()


PROJECTS = (
    Project("requests", "2.34.2", (".[socks]", "-r", "requirements-dev.txt")),
    Project("asgiref", "3.13.0", (".[tests]",)),
    Project("humanize", "4.11.0", (".[tests]", "babel")),
    Project("click", "8.5.1", (".", "--group", "tests")),
)

_COUNT = re.compile(r"(\d+) (passed|failed|skipped|deselected|xfailed|xpassed|errors?|warnings?)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SUMMARY = re.compile(r"^=*\s*(\d+ [a-z]+.*) in [0-9.]+s", re.MULTILINE)


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 1800) -> str:
    """``command``'s combined output; a failure to start or a timeout ends the script loudly."""
    done = subprocess.run(  # noqa: S603  # nosec B603 - fixed argument lists
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return done.stdout + done.stderr


def counts(output: str) -> dict[str, int]:
    """pytest's closing summary as ``{"passed": 613, "failed": 4, ...}`` (empty if none)."""
    found = _SUMMARY.findall(_ANSI.sub("", output))
    if not found:
        return {}
    pairs = _COUNT.findall(found[-1])
    return {kind.rstrip("s") if kind.startswith("error") else kind: int(n) for n, kind in pairs}


def uv() -> str:
    """The uv executable: next to this interpreter, else on PATH."""
    local = Path(sys.executable).with_name("uv")
    found = str(local) if local.is_file() else shutil.which("uv")
    if found is None:
        raise SystemExit("real_suites: uv is needed (pip install uv)")
    return found


def fetch(project: Project, work: Path) -> Path:
    """The unpacked sdist of ``project`` under ``work`` (downloaded once)."""
    tree = work / f"{project.name}-{project.version}"
    if tree.is_dir():
        return tree
    downloads = work / "sdists"
    downloads.mkdir(parents=True, exist_ok=True)
    spec = f"{project.name}=={project.version}"
    output = run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                  "-d", str(downloads), spec], cwd=work)
    archives = sorted(downloads.glob(f"{project.name}-{project.version}.tar.gz")) or sorted(
        downloads.glob(f"{project.name.replace('-', '_')}-{project.version}.tar.gz"))
    if not archives:
        raise SystemExit(f"real_suites: could not download the sdist of {spec}:\n{output[-2000:]}")
    with tarfile.open(archives[0]) as archive:
        archive.extractall(work, filter="data")
    extracted = work / archives[0].name.removesuffix(".tar.gz")
    if extracted != tree:
        extracted.rename(tree)
    return tree


def kisys_wheel(work: Path) -> Path:
    """This checkout built as a wheel (once per work directory)."""
    out = work / "kisys-wheel"
    wheels = sorted(out.glob("pytest_kisys-*.whl"))
    if wheels:
        return wheels[-1]
    output = run([uv(), "build", "--wheel", "--out-dir", str(out), str(ROOT)], cwd=work)
    wheels = sorted(out.glob("pytest_kisys-*.whl"))
    if not wheels:
        raise SystemExit(f"real_suites: building pytest-kisys failed:\n{output[-2000:]}")
    return wheels[-1]


def trial(project: Project, work: Path, wheel: Path) -> tuple[dict[str, int], dict[str, int], str]:
    """Reference counts, kisys counts, and the kisys run's output."""
    tree = fetch(project, work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KISYS_"))}
    env["CI"] = "true"
    ref, kis = work / f"ref-{project.name}", work / f"kis-{project.name}"
    for venv in (ref, kis):
        shutil.rmtree(venv, ignore_errors=True)
        run([uv(), "venv", "-q", "--seed", str(venv)], cwd=work)
    run([uv(), "pip", "install", "-q", "--python", str(ref / "bin" / "python"), "pytest",
         *project.reference], cwd=tree)
    run([uv(), "pip", "install", "-q", "--python", str(kis / "bin" / "python"), ".", str(wheel)], cwd=tree)
    flags = ["-p", "no:cacheprovider", "--color=no", *project.pytest_args]
    reference = run([str(ref / "bin" / "python"), "-m", "pytest", "-q", *flags], cwd=tree, env=env)
    kisys = run([str(kis / "bin" / "python"), "-m", "pytest", "-q", "--kisys", "--kisys-scan", "none",
                 *flags], cwd=tree, env=env)
    return counts(reference), counts(kisys), kisys


def main(argv: list[str] | None = None) -> int:
    """Run the trials and print the comparison table; exit 1 when any counts differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "kisys-real-suites")
    parser.add_argument("--only", nargs="*", default=None, help="project names to run")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    wheel = kisys_wheel(args.work)
    chosen = [p for p in PROJECTS if not args.only or p.name in args.only]
    rows, same = [], True
    for project in chosen:
        reference, kisys, output = trial(project, args.work, wheel)
        keys = ("passed", "failed", "error")
        equal = bool(reference) and all(reference.get(k, 0) == kisys.get(k, 0) for k in keys)
        same &= equal
        verdict = "same" if equal else "DIFFERENT"
        rows.append(f"| {project.name} {project.version} | {reference} | {kisys} | {verdict} |")
        if not equal:
            print(f"--- {project.name}: the kisys run's last lines\n{output[-3000:]}", file=sys.stderr)
    print("| project | reference | `CI=true pytest --kisys --kisys-scan none` | passed/failed/errors |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())

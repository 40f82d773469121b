"""False-alarm corpus for wheel inspection: the wheels of the most-downloaded projects.

Downloads one wheel per project (the one pip would pick for this interpreter, ``--no-deps
--only-binary :all:``) of the first ``--top`` names of the bundled popular list, plus the
wheels that carry legitimate ``.pth`` files (setuptools, pytest-cov 5.0.0, zope.interface 6.3),
inspects each against an empty environment (a fresh venv's view: only the system's commands
on PATH), and prints every high and medium finding and the counts. Projects without a wheel
for this interpreter are listed as skipped. pip uses your own pip configuration (index,
mirrors).

    python scripts/inspect_corpus.py --top 300 --dest /tmp/kisys-corpus [--json out.json]
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
import json
from pathlib import Path
import subprocess
import sys
import time

from packaging.utils import canonicalize_name
from packaging.utils import parse_wheel_filename

from pytest_kisys.inspect import environment_view
from pytest_kisys.inspect import inspect_wheel
from pytest_kisys.vet.data import popular_ranks


MUST_INCLUDE = ("setuptools", "pytest-cov==5.0.0", "zope.interface==6.3")


def download(requirement: str, dest: Path) -> tuple[str, Path | None, str]:
    """``(requirement, wheel path or None, pip's last error line)``."""
    target = dest / canonicalize_name(requirement.split("==")[0])
    target.mkdir(parents=True, exist_ok=True)
    existing = sorted(target.glob("*.whl"))
    if existing:
        return requirement, existing[0], ""
    proc = subprocess.run(  # noqa: S603 - fixed pip command, names from the bundled list
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--quiet",
         "--dest", str(target), requirement],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    wheels = sorted(target.glob("*.whl"))
    last = (proc.stderr.strip().splitlines() or [""])[-1]
    return requirement, (wheels[0] if wheels else None), last


def main(argv: list[str] | None = None) -> int:
    """Download, inspect, print the findings; exit 1 when any wheel has a high finding."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=300)
    parser.add_argument("--dest", type=Path, default=Path("/tmp/kisys-inspect-corpus"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args(argv)
    names = list(popular_ranks())[: args.top]
    requirements = [*MUST_INCLUDE, *(n for n in names if n not in {"setuptools", "pytest-cov", "zope-interface"})]
    args.dest.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        fetched = list(pool.map(lambda r: download(r, args.dest), requirements))
    view = environment_view([])
    rows = []
    skipped = []
    started = time.perf_counter()
    total_bytes = 0
    for requirement, wheel, error in fetched:
        if wheel is None:
            skipped.append((requirement, error))
            continue
        name, version, _, _ = parse_wheel_filename(wheel.name)
        result = inspect_wheel(wheel, canonicalize_name(name), str(version), view)
        total_bytes += result.size
        rows.append(result)
    seconds = time.perf_counter() - started
    high = [r for r in rows if r.at("high")]
    medium = [r for r in rows if r.at("medium") and not r.at("high")]
    for result in rows:
        for finding in result.findings:
            if finding.severity != "low":
                print(f"{finding.severity.upper():6} {result.filename}: {finding.describe()}")
    print(
        f"\n{len(rows)} wheels inspected ({total_bytes / 1e6:.0f} MB in {seconds:.1f} s), "
        f"{len(skipped)} projects without a wheel here; "
        f"high: {len(high)} ({100 * len(high) / max(len(rows), 1):.1f} %), "
        f"medium only: {len(medium)} ({100 * len(medium) / max(len(rows), 1):.1f} %)"
    )
    for requirement, error in skipped:
        print(f"skipped {requirement}: {error}")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "inspected": len(rows),
                    "skipped": [r for r, _ in skipped],
                    "high": [r.filename for r in high],
                    "medium": [r.filename for r in medium],
                    "wheels": {r.filename: r.to_json() for r in rows},
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 1 if high else 0


if __name__ == "__main__":
    raise SystemExit(main())

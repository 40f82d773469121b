"""False-alarm corpus for wheel inspection: the wheels of the most-downloaded projects.

Downloads one wheel per project (the newest release's best wheel for this interpreter, as pip
would pick it, from the PEP 691 JSON of ``--index``, hash checked) for the first ``--top``
names of the bundled popular list, plus the wheels that carry legitimate ``.pth`` files
(setuptools, pytest-cov 5.0.0, zope.interface 6.3). Each is inspected against an empty
environment (a fresh venv's view: only the system's commands on PATH), or against the
site-packages given with ``--site`` (a real test environment: what its distributions own and
the commands they installed); every high and medium finding is printed with the counts.
Projects without a wheel for this interpreter are listed as skipped.

    python scripts/inspect_corpus.py --top 310 --dest DIR [--site SITE_PACKAGES] [--json out.json]
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
import hashlib
import json
from pathlib import Path
import tempfile
import time
from typing import Any
import urllib.parse

import httpx
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name
from packaging.utils import InvalidWheelFilename
from packaging.utils import parse_wheel_filename
from packaging.version import InvalidVersion
from packaging.version import Version

from pytest_kisys.inspect import environment_view
from pytest_kisys.inspect import inspect_wheel
from pytest_kisys.vet.data import popular_ranks


SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
MUST_INCLUDE = ("setuptools", "pytest-cov==5.0.0", "zope.interface==6.3")


def _best_wheel(
    files: list[dict[str, Any]], pinned: str | None, pre: bool = False
) -> dict[str, Any] | None:
    """The wheel pip would prefer here: newest (or pinned) version, best-ranked tag; a
    pre-release only when ``pre`` (pip takes one when a project has nothing else)."""
    rank = {tag: i for i, tag in enumerate(sys_tags())}
    best: tuple[Version, int, dict[str, Any]] | None = None
    for entry in files:
        filename = entry.get("filename", "")
        if not filename.endswith(".whl") or entry.get("yanked"):
            continue
        try:
            _, version, _, tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion):
            continue
        if (version.is_prerelease and not pre) or (pinned is not None and str(version) != pinned):
            continue
        scores = [rank[t] for t in tags if t in rank]
        if not scores:
            continue
        key = (version, -min(scores), entry)
        if best is None or key[:2] > best[:2]:
            best = key
    if best is None and not pre:
        return _best_wheel(files, pinned, pre=True)
    return best[2] if best else None


def download(client: httpx.Client, index: str, requirement: str, dest: Path) -> tuple[str, Path | None, str]:
    """``(requirement, wheel path or None, why not)``: one wheel from the PEP 691 index."""
    name, _, pinned = requirement.partition("==")
    target = dest / canonicalize_name(name)
    target.mkdir(parents=True, exist_ok=True)
    existing = sorted(target.glob("*.whl"))
    if existing:
        return requirement, existing[0], ""
    try:
        page = client.get(f"{index}/{canonicalize_name(name)}/", headers={"Accept": SIMPLE_JSON})
        page.raise_for_status()
        entry = _best_wheel(page.json().get("files", []), pinned or None)
        if entry is None:
            return requirement, None, "no wheel for this interpreter"
        url = urllib.parse.urljoin(str(page.url), entry["url"])
        data = client.get(url).content
    except (httpx.HTTPError, ValueError) as exc:
        return requirement, None, f"{type(exc).__name__}: {exc}"
    if hashlib.sha256(data).hexdigest() != entry.get("hashes", {}).get("sha256"):
        return requirement, None, "sha256 mismatch"
    path = target / entry["filename"]
    path.write_bytes(data)
    return requirement, path, ""


def main(argv: list[str] | None = None) -> int:
    """Download, inspect, print the findings; exit 1 when any wheel has a high finding."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=310)
    parser.add_argument("--dest", type=Path, default=Path(tempfile.gettempdir()) / "kisys-inspect-corpus")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--index", default="https://pypi.org/simple")
    parser.add_argument("--site", type=Path, action="append", default=[], help="a site-packages dir")
    args = parser.parse_args(argv)
    names = list(popular_ranks())[: args.top]
    requirements = [
        *MUST_INCLUDE,
        *(n for n in names if n not in {"setuptools", "pytest-cov", "zope-interface"}),
    ]
    args.dest.mkdir(parents=True, exist_ok=True)
    with httpx.Client(timeout=120, follow_redirects=True) as client, ThreadPoolExecutor(args.jobs) as pool:
        fetched = list(
            pool.map(lambda r: download(client, args.index.rstrip("/"), r, args.dest), requirements)
        )
    view = environment_view(args.site)
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

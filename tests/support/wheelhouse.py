"""Wheels of distributions already installed here, repacked from their RECORD (no network).

The footprint test installs pytest-kisys into a fresh venv with ``pip --no-index``: its
dependencies must come from somewhere local. Each installed distribution's files (as listed in
its ``RECORD``, inside site-packages) and its ``.dist-info`` are zipped back into a wheel with
the tag from its ``WHEEL`` file; console scripts are left out (pip writes them again from
``entry_points.txt``). Only the closure of one requirement set is repacked.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
import csv
import hashlib
import importlib.metadata as metadata
import io
from pathlib import Path
import zipfile

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def closure(requirements: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions that ``requirements`` need (markers evaluated, no extras)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        dist = metadata.distribution(req.name)
        seen[name] = dist
        for text in dist.requires or ():
            dep = Requirement(text)
            if dep.marker is None or dep.marker.evaluate({"extra": ""}):
                todo.append(dep)
    return list(seen.values())


def repack(dist: metadata.Distribution, dest: Path) -> Path:
    """Write ``dist`` as a wheel into ``dest``; returns the wheel's path."""
    info_dir = Path(str(dist._path))  # type: ignore[attr-defined]
    site = info_dir.parent
    tags = [
        line.split(":", 1)[1].strip()
        for line in (info_dir / "WHEEL").read_text().splitlines()
        if line.startswith("Tag:")
    ]
    # Every tag, as a compressed tag set: a py2.py3 wheel lists py2-none-any first.
    parts = [t.split("-") for t in tags]
    tag = "-".join(".".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    wheel = dest / f"{name}-{dist.version}-{tag}.whl"
    record_name = f"{info_dir.name}/RECORD"
    rows = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for row in csv.reader(io.StringIO((info_dir / "RECORD").read_text())):
            rel = row[0]
            path = (site / rel).resolve()
            if rel == record_name or not path.is_file() or site.resolve() not in path.parents:
                continue  # console scripts and data files outside site-packages
            if "__pycache__" in rel or rel.endswith("/direct_url.json") or rel.endswith("/INSTALLER"):
                continue
            data = path.read_bytes()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            archive.writestr(rel, data)
            rows.append(f"{rel},sha256={digest},{len(data)}")
        rows.append(f"{record_name},,")
        archive.writestr(record_name, "\n".join(rows) + "\n")
    return wheel


def wheelhouse(requirements: Iterable[str], dest: Path) -> list[Path]:
    """Repack the closure of ``requirements`` into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    return [repack(dist, dest) for dist in closure(requirements)]


def kisys_wheelhouse(dest: Path, extra: Iterable[str] = ()) -> Path:
    """``dest`` filled with a wheel of this checkout and its runtime closure (plus ``extra``)."""
    import importlib.metadata as md
    import subprocess
    import sys

    from tests.support.pkgindex import isolated_pip_env

    runtime = [r for r in md.requires("pytest-kisys") or [] if "extra ==" not in r]
    wheelhouse([*runtime, *extra], dest)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(dest), str(Path(__file__).resolve().parent.parent.parent)],
        check=True, env=isolated_pip_env(), capture_output=True,
    )
    return dest


def fresh_venv(root: Path, wheels: Path, packages: Iterable[str], *, compile: bool = True) -> str:
    """A venv without pip at ``root`` with ``packages`` installed from ``wheels`` only; its python."""
    import subprocess
    import sys

    from tests.support.pkgindex import isolated_pip_env

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = str(root / "bin" / "python")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-index",
         *([] if compile else ["--no-compile"]), "--find-links", str(wheels), *packages],
        check=True, env=isolated_pip_env(), capture_output=True,
    )
    return python

"""Wheel inspection before install: open each wheel, never import or run it, apply the rules.

:func:`inspect_wheel` is the entry point; the rules live in :mod:`pytest_kisys.inspect.rules`
(one function each), the archive reader and its refusals (traversal, symlinks, duplicate
names, archive bombs) in :mod:`pytest_kisys.inspect.archive`, and the shapes in
:mod:`pytest_kisys.inspect.model`. A wheel that cannot be opened is a high finding: a check
that could not run is never clean.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
import time
import zipfile

from pytest_kisys.inspect.archive import WheelArchive
from pytest_kisys.inspect.envview import environment_view
from pytest_kisys.inspect.model import EnvironmentView
from pytest_kisys.inspect.model import InspectFinding
from pytest_kisys.inspect.model import SEVERITY_ORDER
from pytest_kisys.inspect.model import WheelInspection
from pytest_kisys.inspect.rules import Rule
from pytest_kisys.inspect.rules import RULES


__all__ = [
    "EnvironmentView",
    "InspectFinding",
    "WheelInspection",
    "environment_view",
    "inspect_wheel",
]


def inspect_wheel(
    path: Path,
    owner: str,
    version: str = "",
    env: EnvironmentView | None = None,
    rules: Sequence[Rule] = RULES,
) -> WheelInspection:
    """Apply ``rules`` to the wheel at ``path`` (distribution ``owner``, canonical name)."""
    started = time.perf_counter()
    view = env if env is not None else EnvironmentView()
    findings: list[InspectFinding] = []
    try:
        with WheelArchive(path) as wheel:
            findings.extend(wheel.refusals)
            if not wheel.refusals:
                for rule in rules:
                    findings.extend(rule(wheel, view, owner))
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, zipfile.LargeZipFile) as exc:
        findings.append(
            InspectFinding("archive.unreadable", "high", path.name, 0, f"cannot be read as a zip ({exc})")
        )
    except (RuntimeError, NotImplementedError) as exc:  # encrypted or unsupported compression
        findings.append(InspectFinding("archive.unreadable", "high", path.name, 0, f"cannot be read ({exc})"))
    findings.sort(key=lambda f: (-SEVERITY_ORDER[f.severity], f.file, f.line))
    size = path.stat().st_size if path.exists() else 0
    return WheelInspection(owner, version, path.name, tuple(findings), time.perf_counter() - started, size)

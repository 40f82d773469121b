"""Crafted malicious wheels, one per inspection rule, each trying to write a canary file.

:func:`crafted_wheels` returns ``{rule id: Artifact}``; every payload, if it ever ran, would
create ``canary`` (so a test proves nothing ran by that file's absence). ``VICTIM`` is an
innocent project whose files the clobbering wheel overwrites.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
import zipfile

from tests.support.pkgindex import Artifact
from tests.support.pkgindex import build_wheel


VICTIM = "kisys-victim"
VERSION = "1.0"


def _touch(canary: Path) -> str:
    return f"open({str(canary)!r}, 'w').write('ran')"


def tamper(wheel: Artifact, member: str, data: bytes) -> Artifact:
    """``wheel`` with ``member`` replaced (RECORD left as it was: a mismatch)."""
    source = zipfile.ZipFile(io.BytesIO(wheel.data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, data if info.filename == member else source.read(info.filename))
    return Artifact(wheel.filename, buffer.getvalue())


def crafted_wheels(canary: Path) -> dict[str, tuple[str, Artifact]]:
    """Rule id -> (project name, wheel) for every inspection rule (and path traversal)."""
    touch = _touch(canary)
    encoded = base64.b64encode(touch.encode()).decode()
    out: dict[str, tuple[str, Artifact]] = {}

    def add(rule: str, name: str, modules: dict[str, str]) -> None:
        out[rule] = (name, build_wheel(name, VERSION, modules=modules))

    add(
        "pth.exec",
        "kisys-evil-pth",
        {"evil_pth/__init__.py": "", "evil-hook.pth": f"import os; os.system('touch {canary}')\n"},
    )
    add(
        "clobber.file",
        "kisys-evil-clobber",
        {"evil_clobber/__init__.py": "", "kisys_victim/__init__.py": touch + "\n"},
    )
    add(
        "shadow.command",
        "kisys-evil-shadow",
        {
            "evil_shadow/__init__.py": f"def main():\n    {touch}\n",
            f"kisys_evil_shadow-{VERSION}.dist-info/entry_points.txt": (
                "[console_scripts]\npip = evil_shadow:main\n"
            ),
        },
    )
    add(
        "import-time.decoded-exec",
        "kisys-evil-init",
        {"evil_init/__init__.py": f"import base64\nexec(base64.b64decode({encoded!r}))\n"},
    )
    add(
        "native.binary",
        "kisys-evil-native",
        {"evil_native/__init__.py": "", "evil_native/helper": "\x7fELF\x02\x01\x01" + "\x00" * 64},
    )
    honest = build_wheel("kisys-evil-record", VERSION, modules={"evil_record/__init__.py": "X = 1\n"})
    out["record.mismatch"] = (
        "kisys-evil-record",
        tamper(honest, "evil_record/__init__.py", (touch + "\n").encode()),
    )
    add(
        "archive.traversal",
        "kisys-evil-traversal",
        {"evil_traversal/__init__.py": "", "../../../../../kisys_escaped.py": touch + "\n"},
    )
    return out

"""The inspection rules: one function each, ``rule(wheel, env, owner) -> findings``.

Every rule reads the wheel through :class:`~pytest_kisys.inspect.archive.WheelArchive` and
never imports or runs anything from it. ``owner`` is the canonical name of the distribution
the wheel belongs to, so that a distribution replacing its own files or commands (an
upgrade) is not reported. docs/security-model.md describes each rule and the attack it stops.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
import configparser
import csv
import io
import re
import sys

from pytest_kisys.inspect.archive import WheelArchive
from pytest_kisys.inspect.behaviour import import_time_behaviour
from pytest_kisys.inspect.behaviour import might_behave
from pytest_kisys.inspect.model import EnvironmentView
from pytest_kisys.inspect.model import InspectFinding


Rule = Callable[[WheelArchive, EnvironmentView, str], list[InspectFinding]]

# Modules a .pth line may import without being "foreign": what the benign idioms use.
PTH_SAFE_IMPORTS = frozenset({"os", "sys", "types", "importlib", "site", "warnings"})
# Commands whose shadowing would hijack the environment or the shell, with their legitimate owner.
PROTECTED_COMMANDS: dict[str, str | None] = {
    "python": None,
    "python3": None,
    "pip": "pip",
    "pip3": "pip",
    "pytest": "pytest",
    "py.test": "pytest",
    "sh": None,
    "bash": None,
    "zsh": None,
    "env": None,
    "git": None,
    "ssh": None,
    "sudo": None,
    "ls": None,
    "cp": None,
    "mv": None,
    "rm": None,
    "curl": None,
    "wget": None,
    "uv": "uv",
    "tox": "tox",
    "coverage": "coverage",
}
_PYTHON_VERSIONED = re.compile(r"^(python|pip|pydoc|idle)\d+(\.\d+)?$")
_NATIVE_MAGIC = (
    (b"\x7fELF", "ELF executable or shared library"),
    (b"\xcf\xfa\xed\xfe", "Mach-O binary"),
    (b"\xce\xfa\xed\xfe", "Mach-O binary"),
    (b"\xfe\xed\xfa\xcf", "Mach-O binary"),
    (b"MZ", "Windows PE executable"),
)
# Windows launcher stubs that setuptools and distlib (inside pip) ship in pure wheels; they
# cannot run here, so they are recorded, not counted against the wheel.
_WINDOWS_LAUNCHER = re.compile(r"(^|/)(cli|gui|t|w)(-?(32|64))?(-arm(64)?)?\.exe$")
_SIGNATURE_FILES = ("RECORD.jws", "RECORD.p7s")


def _python_sources(wheel: WheelArchive) -> list[tuple[str, str]]:
    """``(member, installed path)`` of top-level modules and every package ``__init__.py``."""
    out = []
    for member, target in wheel.site_files():
        first = target.split("/", 1)[0]
        if first.endswith((".dist-info", ".data")):
            continue
        if ("/" not in target and target.endswith(".py")) or target.endswith("/__init__.py"):
            out.append((member, target))
    return out


def pth_files(wheel: WheelArchive, env: EnvironmentView, owner: str) -> list[InspectFinding]:
    """``.pth`` lines that run code at every interpreter start.

    Benign idioms pass: namespace ``-nspkg.pth`` (``sys``/``types``/``importlib`` only),
    setuptools' ``distutils-precedence.pth`` and pytest-cov's hook (they import only the
    wheel's own package, the latter through ``exec`` of a literal that is analysed too).
    Processes, connections, credential reads and exec of decoded or computed data are high;
    importing someone else's module, or a path entry outside site-packages, is medium.
    """
    findings: list[InspectFinding] = []
    own = wheel.top_levels()
    for member, target in wheel.site_files():
        if "/" in target or not target.endswith(".pth"):
            continue
        text = wheel.text(member)
        if text is None:
            findings.append(InspectFinding("pth.unreadable", "medium", member, 0, "not UTF-8 text"))
            continue
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if not line.startswith(("import ", "import\t")):
                if stripped.startswith("/") or ".." in stripped.split("/"):
                    findings.append(
                        InspectFinding(
                            "pth.path",
                            "medium",
                            member,
                            number,
                            f"adds {stripped!r}, outside site-packages, to sys.path",
                        )
                    )
                continue
            try:
                tree = ast.parse(line)
            except SyntaxError:
                findings.append(
                    InspectFinding(
                        "pth.unparsable", "medium", member, number, "executable line does not parse"
                    )
                )
                continue
            analysis = import_time_behaviour(tree, number - 1)
            # A .pth line has no package of its own: exec of any file's source is an attack too.
            details = [b.detail for b in analysis.behaviours]
            details += ["execs source read from a file" for _ in analysis.runs_files]
            findings.extend(
                InspectFinding(
                    "pth.exec", "high", member, number, f"runs at every interpreter start and {detail}"
                )
                for detail in details
            )
            for module, _ in analysis.imports:
                top = module.split(".", 1)[0]
                if top not in own and top not in PTH_SAFE_IMPORTS:
                    findings.append(
                        InspectFinding(
                            "pth.import",
                            "medium",
                            member,
                            number,
                            f"imports {module!r}, not part of this wheel, at every interpreter start",
                        )
                    )
    return findings


def clobbering(wheel: WheelArchive, env: EnvironmentView, owner: str) -> list[InspectFinding]:
    """Files that would overwrite another distribution's, or shadow a standard-library module."""
    findings: list[InspectFinding] = []
    stdlib_hits: set[str] = set()
    for member, target in wheel.site_files():
        first = target.split("/", 1)[0]
        if first.endswith((".dist-info", ".data")):
            continue
        other = env.files.get(target)
        if other is not None and other != owner:
            findings.append(
                InspectFinding(
                    "clobber.file", "high", member, 0, f"overwrites {target} of the installed {other}"
                )
            )
            continue
        top = first.removesuffix(".py") if "/" not in target else first
        holder = env.top_levels.get(top)
        defines = target == f"{top}.py" or target == f"{top}/__init__.py"
        if holder is not None and holder != owner and defines:
            # Another distribution's package or module (a namespace package has no __init__).
            findings.append(
                InspectFinding(
                    "clobber.package",
                    "high",
                    member,
                    0,
                    f"replaces the top-level {top!r} of the installed {holder}",
                )
            )
            continue
        if top in sys.stdlib_module_names and top not in stdlib_hits and not top.startswith("__"):
            stdlib_hits.add(top)
            findings.append(
                InspectFinding(
                    "clobber.stdlib",
                    "high",
                    member,
                    0,
                    f"installs a top-level {top!r}, the name of a standard-library module",
                )
            )
    return findings


def _entry_point_scripts(wheel: WheelArchive) -> list[tuple[str, str, int]]:
    if wheel.dist_info is None:
        return []
    member = f"{wheel.dist_info}/entry_points.txt"
    text = wheel.text(member)
    if text is None:
        return []
    parser = configparser.RawConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error:
        return [("", member, 0)]
    found = []
    lines = text.splitlines()
    for section in ("console_scripts", "gui_scripts"):
        if not parser.has_section(section):
            continue
        for name in parser.options(section):
            number = next((i for i, line in enumerate(lines, 1) if line.split("=", 1)[0].strip() == name), 0)
            found.append((name, member, number))
    return found


def shadowing(wheel: WheelArchive, env: EnvironmentView, owner: str) -> list[InspectFinding]:
    """Console scripts (and ``.data/scripts``) named like a protected command or another
    distribution's command in the environment (high); a system command on ``PATH`` is
    recorded (low): every venv shadows those by design (pygments' ``pygmentize``)."""
    findings: list[InspectFinding] = []
    commands = _entry_point_scripts(wheel)
    commands += [(m.rsplit("/", 1)[1], m, 0) for m in wheel.scripts()]
    for name, member, line in commands:
        if not name:
            findings.append(
                InspectFinding("shadow.entry-points", "medium", member, 0, "unparsable entry_points.txt")
            )
            continue
        stem = name.removesuffix(".exe")
        legit = PROTECTED_COMMANDS.get(stem, "")
        versioned = _PYTHON_VERSIONED.match(stem)
        if legit != "" or versioned:
            if versioned:
                legit = "pip" if stem.startswith("pip") else None
            if legit != owner:
                findings.append(
                    InspectFinding(
                        "shadow.command",
                        "high",
                        member,
                        line,
                        f"installs a command {name!r} that shadows {stem}",
                    )
                )
            continue  # its own command (pip's pip): the system's copy is meant to be shadowed
        other = env.commands.get(name)
        if other is not None and other != owner:
            findings.append(
                InspectFinding(
                    "shadow.command", "high", member, line, f"replaces the command {name!r} of {other}"
                )
            )
        elif other is None and name in env.path_commands:
            findings.append(
                InspectFinding(
                    "shadow.path", "low", member, line, f"command {name!r} shadows one already on PATH"
                )
            )
    return findings


def import_time(wheel: WheelArchive, env: EnvironmentView, owner: str) -> list[InspectFinding]:
    """Top-level modules and package ``__init__`` files that, when imported, exec decoded or
    computed data, start processes, connect to the network, read credential stores, or
    collect the environment and send it away."""
    findings: list[InspectFinding] = []
    for member, _target in _python_sources(wheel):
        findings.extend(_import_time_of(wheel, member, via=None))
    return findings


def _import_time_of(wheel: WheelArchive, member: str, via: str | None) -> list[InspectFinding]:
    """The import-time findings of one source ``member``; a file of its own package that it
    execs (the version-file idiom) is inspected the same way, once (``via`` says by whom)."""
    text = wheel.text(member)
    if text is None or not might_behave(text):
        return []
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []  # Python 2 leftovers and such never import; nothing runs
    analysis = import_time_behaviour(tree)
    prefix = f"on import (run by {via}): " if via else "on import: "
    findings = [
        InspectFinding(f"import-time.{b.kind}", "high", member, b.line, prefix + b.detail)
        for b in analysis.behaviours
    ]
    folder = member.rsplit("/", 1)[0] + "/" if "/" in member else ""
    inspected: set[str] = set()  # compile() then exec() of one file names it twice
    for name, line in analysis.runs_files:
        sibling = f"{folder}{name}" if name and "/" not in name and ".." not in name else None
        if sibling in inspected:
            continue
        if via is None and sibling is not None and wheel.text(sibling) is not None:
            inspected.add(sibling)
            findings.extend(_import_time_of(wheel, sibling, via=f"{member}:{line}"))
        else:
            findings.append(
                InspectFinding(
                    "import-time.decoded-exec",
                    "high",
                    member,
                    line,
                    prefix + "exec of a file of its own package that is not in the wheel or "
                    "runs further files",
                )
            )
    return findings


def native_code(wheel: WheelArchive, env: EnvironmentView, owner: str) -> list[InspectFinding]:
    """Executables or shared libraries inside a wheel tagged pure (``*-none-any``)."""
    if not wheel.is_pure:
        return []
    findings: list[InspectFinding] = []
    for member, (_digest, _size, head) in wheel.digests.items():
        for magic, what in _NATIVE_MAGIC:
            if not head.startswith(magic):
                continue
            if magic == b"MZ" and not member.lower().endswith((".exe", ".dll", ".pyd", ".sys")):
                break  # "MZ" starts plenty of text files
            launcher = magic == b"MZ" and _WINDOWS_LAUNCHER.search(member)
            findings.append(
                InspectFinding(
                    "native.binary",
                    "low" if launcher else "high",
                    member,
                    0,
                    f"{what} in a pure wheel ({', '.join(wheel.tags) or 'none-any'})"
                    + (" (a Windows launcher stub; it cannot run here)" if launcher else ""),
                )
            )
            break
    return findings


def record(wheel: WheelArchive, env: EnvironmentView, owner: str) -> list[InspectFinding]:
    """RECORD must list every file with a sha256 and size that match, and nothing else."""
    if wheel.dist_info is None:
        return [InspectFinding("record.missing", "high", wheel.filename, 0, "no single .dist-info directory")]
    name = f"{wheel.dist_info}/RECORD"
    text = wheel.text(name)
    if text is None:
        return [InspectFinding("record.missing", "high", name, 0, "RECORD is missing or not UTF-8")]
    findings: list[InspectFinding] = []
    listed: dict[str, tuple[str, str, int]] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row:
            continue
        if len(row) != 3:
            findings.append(InspectFinding("record.mismatch", "high", name, number, "row without 3 fields"))
            continue
        listed[row[0]] = (row[1], row[2], number)
    exempt = {name, *(f"{wheel.dist_info}/{s}" for s in _SIGNATURE_FILES)}
    for member in wheel.infos:
        if member in exempt:
            continue
        entry = listed.get(member)
        if entry is None:
            findings.append(InspectFinding("record.mismatch", "high", member, 0, "file not listed in RECORD"))
            continue
        expected, size, number = entry
        if not expected.startswith("sha256="):
            findings.append(
                InspectFinding("record.mismatch", "high", name, number, f"{member} has no sha256 in RECORD")
            )
            continue
        actual, actual_size, _head = wheel.digests[member]
        if actual != expected or (size and size != str(actual_size)):
            findings.append(
                InspectFinding(
                    "record.mismatch", "high", member, 0, f"contents do not match RECORD line {number}"
                )
            )
    for path, (_hash, _size, number) in listed.items():
        if path not in wheel.infos and path not in exempt:
            findings.append(
                InspectFinding(
                    "record.mismatch", "high", name, number, f"lists {path}, which is not in the wheel"
                )
            )
    return findings


RULES: tuple[Rule, ...] = (pth_files, clobbering, shadowing, import_time, native_code, record)
"""Every rule, in the order they run."""

"""The test dependencies a project declares, read from its files without running any code.

Sources, in this order (the first to name a distribution is its ``requested_by``):

* PEP 735 ``[dependency-groups]`` named test, tests, testing or dev (``{include-group = ...}``
  followed, cycles refused);
* ``[project.optional-dependencies]`` extras named test, tests or testing;
* requirements files kept for tests (:data:`REQUIREMENTS_FILES`), following ``-r``/``-c``;
  ``-e .[extra]`` and ``.[extra]`` mean "the project's own extras";
* tox.ini ``[testenv]`` ``deps`` and ``extras``; hatch ``[tool.hatch.envs.*]``; PDM and Poetry
  test/dev groups (:mod:`pytest_kisys.resolve.declared_tools`);
* the project's own optional extras (all but documentation, lint and release tooling, or the
  ``project_extras`` setting), because a library's suite tests every feature.

Everything else in such files (URLs, paths other than the project, pip options, hashes, VCS
links) is refused with the reason and never reaches an installer: each entry goes through the
one requirement parser, :func:`pytest_kisys.vet.requirements.parse_requirement`. Nothing here
makes a request or starts a subprocess.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import enum
from pathlib import Path
import re
import tomllib
from typing import Any

from packaging.utils import canonicalize_name

from pytest_kisys.errors import RequirementError
from pytest_kisys.vet.requirements import parse_requirement


__all__ = [
    "DEFAULT_GROUPS",
    "REQUIREMENTS_FILES",
    "Declarations",
    "Declared",
    "Refused",
    "Source",
    "read_declared",
]

DEFAULT_GROUPS = ("test", "tests", "testing", "dev")
"""Group names (dependency groups, hatch envs, PDM and Poetry groups) read by default."""
TEST_EXTRAS = ("test", "tests", "testing")
REQUIREMENTS_FILES = (
    "requirements-dev.txt",
    "requirements_dev.txt",
    "dev-requirements.txt",
    "requirements-test.txt",
    "requirements-tests.txt",
    "requirements-testing.txt",
    "requirements_test.txt",
    "test-requirements.txt",
    "requirements/test.txt",
    "requirements/tests.txt",
    "requirements/testing.txt",
    "requirements/dev.txt",
    "requirements/test.in",
    "requirements/tests.in",
)
NON_TEST_EXTRAS = frozenset(
    {"doc", "docs", "documentation", "lint", "linting", "typing", "mypy", "release", "build", "publish"}
)
"""Extras not installed by default: they serve documentation, linting or releases, not tests."""


class Source(enum.Enum):
    """Where a declared requirement was found."""

    DEPENDENCY_GROUP = "dependency-group"
    TEST_EXTRA = "extra"
    REQUIREMENTS = "requirements"
    TOX = "tox"
    HATCH = "hatch"
    PDM = "pdm"
    POETRY = "poetry"
    PROJECT_EXTRA = "project-extra"


@dataclass(frozen=True)
class Declared:
    """One requirement the project declares for its tests."""

    requirement: str
    """The PEP 508 string, as parsed (``name[extras]specifier ; marker``)."""
    name: str
    """PEP 503 canonical distribution name."""
    requested_by: str
    """``dependency-group tests (pyproject.toml:42)``, ``requirements-dev.txt:4``..."""
    source: Source

    def to_json(self) -> dict[str, Any]:
        """Report form."""
        return {
            "requirement": self.requirement,
            "requested_by": self.requested_by,
            "source": self.source.value,
        }


class RefusalReason(enum.Enum):
    """Why an entry of a declaration file is not passed to any installer."""

    URL = "url"
    VCS = "vcs"
    PATH = "path"
    OPTION = "option"
    HASH = "hash"
    INVALID = "invalid"
    CYCLE = "cycle"
    CONFLICT = "conflict"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Refused:
    """An entry that was refused, with the reason and where it was written."""

    text: str
    requested_by: str
    reason: RefusalReason
    detail: str

    def message(self) -> str:
        """``requirements-dev.txt:3: --index-url ... refused: ...``."""
        return f"{self.requested_by}: {self.text!r} refused: {self.detail}"

    def to_json(self) -> dict[str, Any]:
        """Report form."""
        return {
            "text": self.text,
            "requested_by": self.requested_by,
            "reason": self.reason.value,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Declarations:
    """Everything :func:`read_declared` found: requirements, refusals and warnings."""

    requirements: tuple[Declared, ...] = ()
    refused: tuple[Refused, ...] = ()
    warnings: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    """The files that were read, relative to the project root."""

    def to_json(self) -> dict[str, Any]:
        """Report form."""
        return {
            "requirements": [d.to_json() for d in self.requirements],
            "refused": [r.to_json() for r in self.refused],
            "warnings": list(self.warnings),
            "files": list(self.files),
        }


_VCS = re.compile(r"^(git|hg|svn|bzr)(\+|:)", re.IGNORECASE)


@dataclass
class Collector:
    """Accumulates requirements and refusals while the sources are read."""

    root: Path
    project: str | None = None
    extras: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """The project's own ``[project.optional-dependencies]``."""
    extras_lines: Mapping[str, int] = field(default_factory=dict)
    found: dict[str, Declared] = field(default_factory=dict)
    constraints: dict[str, str] = field(default_factory=dict)
    refused: list[Refused] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    extras_file: str = "pyproject.toml"
    extras_text: str | None = None
    own_extras: list[str] = field(default_factory=list)
    """Project extras asked for by ``.[extra]`` lines, tox ``extras`` or hatch ``features``."""

    def refuse(self, text: str, where: str, reason: RefusalReason, detail: str) -> None:
        """Record an entry that will not be installed."""
        self.refused.append(Refused(text.strip(), where, reason, detail))

    def add(self, text: str, where: str, source: Source) -> None:
        """Validate one requirement string and record it (or its refusal)."""
        stripped = text.strip()
        if not stripped:
            return
        kind = classify(stripped)
        if kind is not None:
            self.refuse(stripped, where, *kind)
            return
        try:
            parsed = parse_requirement(stripped)
        except RequirementError as exc:
            self.refuse(stripped, where, RefusalReason.INVALID, str(exc))
            return
        if self.project is not None and parsed.name == self.project:
            # The project itself (``myproject[extra]``, a self-referencing extra): its extras.
            self.own_extras.extend(e for e in parsed.extras if e not in self.own_extras)
            return
        if parsed.name not in self.found:
            self.found[parsed.name] = Declared(str(parsed), parsed.name, where, source)

    def declarations(self) -> Declarations:
        """The result, with ``-c`` constraints applied to the requirements they name."""
        out = []
        for declared in self.found.values():
            constraint = self.constraints.get(declared.name)
            if constraint:
                head, sep, marker = declared.requirement.partition(" ; ")
                joined = f"{head},{constraint}" if re.search(r"[<>=!~]", head) else head + constraint
                declared = Declared(
                    joined + (sep + marker if sep else ""),
                    declared.name,
                    declared.requested_by,
                    declared.source,
                )
            out.append(declared)
        return Declarations(tuple(out), tuple(self.refused), tuple(self.warnings), tuple(self.files))


def classify(text: str) -> tuple[RefusalReason, str] | None:
    """Why ``text`` must be refused before it is parsed as a requirement, or None."""
    lower = text.lower()
    if lower.startswith("-"):
        return RefusalReason.OPTION, "installer options are never passed on (kisys chooses index and flags)"
    if _VCS.match(lower) or re.search(r"@\s*(git|hg|svn|bzr)\+", lower):
        return RefusalReason.VCS, "VCS links are not vetted: declare a released version on the index"
    if "://" in lower or lower.startswith("file:"):
        return RefusalReason.URL, "URLs and direct references bypass the index vetting"
    if text.startswith((".", "/", "~")) or "\\" in text:
        return RefusalReason.PATH, "local paths other than the project itself are not installed"
    return None


def find_line(text: str, needle: str, after: int = 0) -> int:
    """The 1-based line of the first occurrence of ``needle`` in ``text`` at or after line ``after``."""
    lines = text.splitlines()
    for number in range(max(after, 1), len(lines) + 1):
        if needle in lines[number - 1]:
            return number
    return after or 0


def section_line(text: str, header: str) -> int:
    """The line of a TOML/INI section header such as ``[dependency-groups]`` (0 if absent)."""
    pattern = re.compile(
        r"^\s*\[\s*" + re.escape(header.strip("[]")).replace(r"\.", r"\s*\.\s*") + r"\s*\]\s*$"
    )
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return 0


def _dependency_groups(
    collector: Collector, groups: Mapping[str, Any], names: Sequence[str], text: str
) -> None:
    """PEP 735 groups ``names`` (those that exist), with ``include-group`` followed."""
    canonical = {canonicalize_name(k): k for k in groups}
    start = section_line(text, "dependency-groups")

    def walk(name: str, chain: tuple[str, ...]) -> None:
        key = canonical.get(canonicalize_name(name))
        if key is None:
            return
        if key in chain:
            collector.refuse(
                f"{{include-group = {name!r}}}",
                f"dependency-group {chain[-1]} (pyproject.toml)",
                RefusalReason.CYCLE,
                "include-group cycle: " + " -> ".join((*chain, key)),
            )
            return
        entries = groups[key]
        group_line = find_line(text, key, start)
        if not isinstance(entries, list):
            collector.warnings.append(
                f"dependency-group {key} (pyproject.toml:{group_line}) is not a list: ignored"
            )
            return
        for entry in entries:
            if isinstance(entry, dict) and set(entry) == {"include-group"}:
                walk(str(entry["include-group"]), (*chain, key))
            elif isinstance(entry, str):
                line = find_line(text, entry, group_line)
                collector.add(
                    entry, f"dependency-group {key} (pyproject.toml:{line})", Source.DEPENDENCY_GROUP
                )
            else:
                collector.refuse(
                    str(entry),
                    f"dependency-group {key} (pyproject.toml:{group_line})",
                    RefusalReason.INVALID,
                    "not a requirement string or include-group table",
                )

    for name in names:
        walk(name, ())


def _extra_requirements(collector: Collector, extra: str, source: Source, text: str, seen: set[str]) -> None:
    key = canonicalize_name(extra)
    if key in seen:
        return
    seen.add(key)
    entries = collector.extras.get(key)
    if entries is None:
        collector.warnings.append(
            f"extra {extra!r} is not one of the project's extras "
            f"({', '.join(collector.extras) or 'none'}): ignored"
        )
        return
    base = collector.extras_lines.get(key, 0)
    before = len(collector.own_extras)
    for entry in entries:
        line = find_line(collector.extras_text or text, str(entry), base)
        label = "extra" if source is Source.TEST_EXTRA else "project extra"
        collector.add(str(entry), f"{label} {key} ({collector.extras_file}:{line})", source)
    # Self-references (``proj[a]`` inside extra ``all``) expand the named extras too.
    for nested in collector.own_extras[before:]:
        _extra_requirements(collector, nested, source, text, seen)


def _conflicts(pyproject: Mapping[str, Any]) -> list[set[str]]:
    """``[tool.uv] conflicts`` sets of extras that cannot be installed together."""
    raw = pyproject.get("tool", {}).get("uv", {}).get("conflicts", [])
    out: list[set[str]] = []
    for group in raw if isinstance(raw, list) else []:
        names = {
            str(canonicalize_name(str(i["extra"]))) for i in group if isinstance(i, dict) and "extra" in i
        }
        if len(names) > 1:
            out.append(names)
    return out


def _pins(collector: Collector, extra: str) -> dict[str, str]:
    pins = {}
    for entry in collector.extras.get(extra, ()):
        try:
            parsed = parse_requirement(str(entry))
        except RequirementError:
            continue
        pin = parsed.exact_version()
        if pin is not None:
            pins[parsed.name] = pin
    return pins


def choose_extras(
    collector: Collector, wanted: Sequence[str] | None, pyproject: Mapping[str, Any]
) -> list[str]:
    """The project extras to install: ``wanted`` (or every test-relevant one) minus conflicts."""
    if wanted is None:
        chosen = [e for e in collector.extras if e not in NON_TEST_EXTRAS]
    else:
        chosen = [canonicalize_name(e) for e in wanted]
    for extra in collector.own_extras:
        if extra not in chosen:
            chosen.append(extra)
    kept: list[str] = []
    declared_conflicts = _conflicts(pyproject)
    for extra in chosen:
        clash = None
        for other in kept:
            if any({extra, other} <= group for group in declared_conflicts):
                clash = f"[tool.uv] conflicts declares {other!r} and {extra!r} incompatible"
                break
            mine, theirs = _pins(collector, extra), _pins(collector, other)
            both = sorted(n for n in set(mine) & set(theirs) if mine[n] != theirs[n])
            if both:
                pin = both[0]
                clash = f"it pins {pin}=={mine[pin]} and extra {other!r} pins {pin}=={theirs[pin]}"
                break
        if clash:
            collector.warnings.append(f"project extra {extra!r} dropped: {clash}")
        else:
            kept.append(extra)
    return kept


def read_declared(
    root: Path,
    *,
    pyproject: Mapping[str, Any] | None = None,
    declared: Sequence[str] = (),
    project_extras: Sequence[str] | None = None,
) -> Declarations:
    """Read the project's declared test dependencies under ``root``.

    :param pyproject: the parsed ``pyproject.toml`` when the caller already has it.
    :param declared: extra group names or file paths (relative to ``root``) to read too.
    :param project_extras: the project extras to install (None: all but docs/lint/release).
    """
    from pytest_kisys.resolve import declared_tools
    from pytest_kisys.resolve import reqfiles

    collector = Collector(root=root.resolve())
    text = ""
    if pyproject is None:
        try:
            text = (root / "pyproject.toml").read_text(encoding="utf-8")
            pyproject = tomllib.loads(text)
        except FileNotFoundError:
            pyproject = {}
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            collector.warnings.append(
                f"pyproject.toml could not be read ({exc}): its declarations are ignored"
            )
            pyproject = {}
    else:
        try:
            text = (root / "pyproject.toml").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
    if pyproject:
        collector.files.append("pyproject.toml")
    project = pyproject.get("project", {}) if isinstance(pyproject.get("project"), dict) else {}
    name = project.get("name") or pyproject.get("tool", {}).get("poetry", {}).get("name")
    collector.project = canonicalize_name(str(name)) if name else None
    raw_extras = project.get("optional-dependencies", {})
    if isinstance(raw_extras, dict):
        extras_start = section_line(text, "project.optional-dependencies")
        collector.extras = {
            canonicalize_name(k): [str(x) for x in v] for k, v in raw_extras.items() if isinstance(v, list)
        }
        collector.extras_lines = {canonicalize_name(k): find_line(text, k, extras_start) for k in raw_extras}
    if not collector.extras and (root / "setup.cfg").is_file():
        reqfiles.read_setup_cfg(collector, root / "setup.cfg")
    groups = pyproject.get("dependency-groups", {})
    extra_names = [d for d in declared if not _is_file(d)]
    names = [*group_names(groups), *extra_names]
    if isinstance(groups, dict):
        _dependency_groups(collector, groups, names, text)
    seen: set[str] = set()
    for extra in [*TEST_EXTRAS, *(d for d in declared if not _is_file(d))]:
        if canonicalize_name(extra) in collector.extras:
            _extra_requirements(collector, extra, Source.TEST_EXTRA, text, seen)
    files = [*REQUIREMENTS_FILES, *(d for d in declared if _is_file(d))]
    for relative in files:
        path = root / relative
        if path.is_file():
            reqfiles.read_requirements_file(collector, path, chain=())
    reqfiles.read_tox(collector, root / "tox.ini")
    declared_tools.read_tools(collector, pyproject, text, extra_names)
    for extra in choose_extras(collector, project_extras, pyproject):
        _extra_requirements(collector, extra, Source.PROJECT_EXTRA, text, seen)
    return collector.declarations()


def group_names(groups: object) -> list[str]:
    """test/tests/testing; ``dev`` only when none of those exists (it often holds linters)."""
    present = {canonicalize_name(str(k)) for k in groups} if isinstance(groups, dict) else set()
    tests = [g for g in DEFAULT_GROUPS if g != "dev" and g in present]
    return tests or ["dev"]


def _is_file(name: str) -> bool:
    return "/" in name or name.endswith((".txt", ".in"))


def requirement_names(declarations: Iterable[Declared]) -> set[str]:
    """The canonical names of ``declarations`` (helper for callers that merge sources)."""
    return {d.name for d in declarations}

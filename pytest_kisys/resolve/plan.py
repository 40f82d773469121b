"""From the imports read from files to one install batch: what is missing, what it maps to, what is refused.

Pure logic: the environment (is a module importable, which version of a distribution is
installed) and the name resolution are passed in as callables, so the rules are unit-tested
without touching ``sys.path`` or an index. :mod:`pytest_kisys.resolve.pipeline` wires the real ones.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
import sys
from typing import Any
from typing import Protocol

from packaging.specifiers import InvalidSpecifier
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from pytest_kisys.errors import RequirementError
from pytest_kisys.resolve.firstparty import FirstParty
from pytest_kisys.resolve.imports import FileImports


__all__ = [
    "Malformed",
    "Need",
    "Plan",
    "Unmapped",
    "build_plan",
    "is_stdlib",
    "requirement_satisfied",
]


class _Resolution(Protocol):
    """The part of ``pytest_kisys.resolve.names.ImportResolution`` the plan reads."""

    @property
    def distribution(self) -> str | None: ...

    @property
    def kind(self) -> str: ...


class _Parsed(Protocol):
    """The part of ``pytest_kisys.vet.ParsedRequirement`` the plan reads."""

    @property
    def name(self) -> str: ...

    @property
    def specifier(self) -> str: ...

    def applies(self, environment: dict[str, str] | None = None) -> bool: ...


ResolveImport = Callable[[str], _Resolution]
ParseRequirement = Callable[[str], _Parsed]
InstalledVersion = Callable[[str], str | None]
Importable = Callable[[str], bool]


def is_stdlib(name: str) -> bool:
    """Whether the top-level module of ``name`` ships with this interpreter."""
    top = name.split(".", 1)[0]
    return top in sys.stdlib_module_names or top in sys.builtin_module_names or top == "__main__"


def requirement_satisfied(parsed: _Parsed, installed: InstalledVersion) -> bool:
    """Whether the installed version of ``parsed.name`` meets its specifier (pre-releases count)."""
    version = installed(parsed.name)
    if version is None:
        return False
    if not parsed.specifier:
        return True
    try:
        return SpecifierSet(parsed.specifier).contains(version, prereleases=True)
    except InvalidSpecifier:
        return False


def _where(path: Path, line: int, rootdir: Path) -> str:
    try:
        rel = path.relative_to(rootdir)
    except ValueError:
        rel = path
    return f"{rel}:{line}"


@dataclass(frozen=True)
class Need:
    """One requirement to send to the installer, and everything in the suite that needs it."""

    requirement: str
    distribution: str
    reasons: tuple[str, ...]
    import_name: str | None = None
    via: str = "import"
    """``import`` (read statically), ``marker`` (``requires``) or ``safety-net`` (collection)."""

    @property
    def reason(self) -> str:
        """One line for the consent and the report."""
        shown = list(self.reasons[:3])
        if len(self.reasons) > 3:
            shown.append(f"and {len(self.reasons) - 3} more")
        return "; ".join(shown)

    def to_json(self) -> dict[str, Any]:
        """Report form."""
        return {
            "requirement": self.requirement,
            "distribution": self.distribution,
            "import": self.import_name,
            "via": self.via,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class Unmapped:
    """A missing import that is not installed: first-party, or no trusted distribution for it."""

    import_name: str
    where: str
    why: str
    hint: str

    def to_json(self) -> dict[str, Any]:
        """Report form."""
        return {"import": self.import_name, "where": self.where, "why": self.why, "hint": self.hint}


@dataclass(frozen=True)
class Malformed:
    """A ``requires`` argument that is not an acceptable requirement."""

    text: str
    where: str
    error: str

    def to_json(self) -> dict[str, Any]:
        """Report form."""
        return {"requirement": self.text, "where": self.where, "error": self.error}


@dataclass(frozen=True)
class Plan:
    """The outcome of planning: one batch of needs plus what was left alone and why."""

    needs: tuple[Need, ...] = ()
    mapped: tuple[tuple[str, str, str], ...] = ()
    """(import name, distribution, resolution kind) for every missing import that was mapped."""
    unmapped: tuple[Unmapped, ...] = ()
    malformed: tuple[Malformed, ...] = ()
    lazy_missing: tuple[tuple[str, str], ...] = ()
    """(import name, where) for imports inside functions that are not importable now."""
    satisfied: int = 0
    """How many distinct third-party imports and requirements were already there."""

    def to_json(self) -> dict[str, Any]:
        """Report form."""
        return {
            "needs": [n.to_json() for n in self.needs],
            "mapped": [list(m) for m in self.mapped],
            "unmapped": [u.to_json() for u in self.unmapped],
            "malformed": [m.to_json() for m in self.malformed],
            "lazy_missing": [list(x) for x in self.lazy_missing],
            "satisfied": self.satisfied,
        }


@dataclass
class _Builder:
    rootdir: Path
    needs: dict[str, Need] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def add(self, requirement: str, distribution: str, reason: str, **kw: Any) -> None:
        key = requirement
        existing = self.needs.get(key)
        if existing is None:
            self.needs[key] = Need(requirement, distribution, (reason,), **kw)
            self.order.append(key)
        elif reason not in existing.reasons:
            self.needs[key] = Need(
                existing.requirement,
                existing.distribution,
                (*existing.reasons, reason),
                existing.import_name,
                existing.via,
            )


def unmapped_for(import_name: str, kind: str, first_party: FirstParty, where: str) -> Unmapped:
    """The explanation for an import that will not be installed, by resolution kind."""
    top = import_name.split(".", 1)[0]
    if kind == "first_party" or top in first_party:
        origin = first_party.origin(top) or "this project"
        return Unmapped(
            import_name,
            where,
            f"first-party module from {origin}, never looked up on a package index",
            "install your project (pip install -e .) or fix sys.path/pythonpath",
        )
    return Unmapped(
        import_name,
        where,
        "no trusted distribution is known to provide this import",
        f'map it in [tool.kisys] import_map = {{{top} = "<distribution>"}} '
        f'or declare @pytest.mark.requires("<distribution>")',
    )


def build_plan(
    files: Iterable[FileImports],
    *,
    rootdir: Path,
    first_party: FirstParty,
    importable: Importable,
    installed_version: InstalledVersion,
    resolve_import: ResolveImport,
    parse_requirement: ParseRequirement,
) -> Plan:
    """Decide what one batch must install for these files to be collected and run."""
    builder = _Builder(rootdir)
    mapped: dict[str, tuple[str, str, str]] = {}
    unmapped: dict[str, Unmapped] = {}
    malformed: list[Malformed] = []
    lazy: dict[str, str] = {}
    present: set[str] = set()
    checked: dict[str, bool] = {}

    def missing(name: str) -> bool:
        if name not in checked:
            checked[name] = not importable(name)
        return checked[name]

    for found in files:
        for use in found.imports:
            if use.kind not in ("required", "plugin", "dynamic", "lazy"):
                continue
            top = use.top_level
            # First-party names are never looked up anywhere: not even "is it missing?",
            # since pytest puts their directories on sys.path only later.
            if not top or is_stdlib(top) or top in first_party:
                continue
            where = _where(found.path, use.line, rootdir)
            if not missing(use.name):
                present.add(top)
                continue
            if use.kind == "lazy":
                lazy.setdefault(use.name, where)
                continue
            try:
                resolution = resolve_import(use.name)
            except RequirementError:
                continue  # not a dotted identifier (a computed name): nothing to install
            dist = resolution.distribution
            if resolution.kind in ("stdlib", "installed"):
                continue
            if resolution.kind == "first_party" or dist is None or resolution.kind == "unknown":
                unmapped.setdefault(use.name, unmapped_for(use.name, resolution.kind, first_party, where))
                continue
            mapped.setdefault(use.name, (use.name, dist, resolution.kind))
            builder.add(dist, dist, f"import {use.name} in {where}", import_name=use.name, via="import")
        for text, line in found.requirements():
            where = _where(found.path, line, rootdir)
            try:
                parsed = parse_requirement(text)
            except RequirementError as exc:
                malformed.append(Malformed(text, where, str(exc)))
                continue
            if not parsed.applies():
                continue
            if requirement_satisfied(parsed, installed_version):
                present.add(parsed.name)
                continue
            builder.add(
                text.split(";", 1)[0].strip(),
                canonicalize_name(parsed.name),
                f"@pytest.mark.requires({text!r}) in {where}",
                via="marker",
            )
    # Lazy imports that a batch installs anyway are no longer missing.
    batch = {n.import_name for n in builder.needs.values() if n.import_name}
    return Plan(
        needs=tuple(builder.needs[k] for k in builder.order),
        mapped=tuple(mapped.values()),
        unmapped=tuple(unmapped.values()),
        malformed=tuple(malformed),
        lazy_missing=tuple((n, w) for n, w in lazy.items() if n not in batch),
        satisfied=len(present),
    )

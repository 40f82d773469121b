"""The needs a suite has beyond its imports: declared test dependencies, plugins, config modules.

Gathered before the import plan and merged into it, declarations first:

1. the project's declared test dependencies (:mod:`pytest_kisys.resolve.declared`), as
   requirements with their ``requested_by``; installed ones that satisfy them count as present,
   and one that would replace an installed distribution (``pytest<9`` while pytest 9 runs) is
   left alone with a note, because the running session cannot change it;
2. plugins found by what the suite uses (:mod:`pytest_kisys.resolve.usage`,
   :mod:`pytest_kisys.resolve.plugintable`): fixtures, markers, ini keys, ``addopts`` options
   and ``-p`` names;
3. modules the configuration names: ``filterwarnings`` categories and ``-p`` module names the
   table does not know, resolved like imports.

An import need for a distribution that is also declared is folded into the declared one.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from pytest_kisys.errors import RequirementError
from pytest_kisys.resolve.declared import Declarations
from pytest_kisys.resolve.plan import Need
from pytest_kisys.resolve.plan import Plan
from pytest_kisys.resolve.plan import requirement_satisfied
from pytest_kisys.resolve.plugintable import Ambiguous
from pytest_kisys.resolve.plugintable import PluginNeed
from pytest_kisys.resolve.usage import ConfigUsage
from pytest_kisys.resolve.usage import FileUsage


__all__ = ["SuiteNeeds", "gather_suite_needs", "merge_into"]

RUNNING = frozenset({"pytest", "pluggy", "pytest-kisys", "iniconfig", "packaging"})
"""Distributions the running session has imported: a declaration never replaces them."""


@dataclass(frozen=True)
class SuiteNeeds:
    """What the declarations, the plugin table and the configuration add to the plan."""

    needs: tuple[Need, ...] = ()
    declarations: Declarations | None = None
    plugins: tuple[PluginNeed, ...] = ()
    ambiguous: tuple[Ambiguous, ...] = ()
    notes: tuple[str, ...] = ()
    satisfied: int = 0

    def to_json(self) -> dict[str, Any]:
        """Report form."""
        return {
            "declarations": self.declarations.to_json() if self.declarations is not None else None,
            "plugins": [
                {
                    "distribution": p.distribution,
                    "provides": p.provides.value,
                    "name": p.name,
                    "where": p.where,
                }
                for p in self.plugins
            ],
            "ambiguous": [
                {
                    "provides": a.provides.value,
                    "name": a.name,
                    "where": a.where,
                    "candidates": list(a.candidates),
                }
                for a in self.ambiguous
            ],
            "notes": list(self.notes),
        }

    def lines(self) -> list[str]:
        """Lines for the kisys terminal section."""
        out: list[str] = []
        declarations = self.declarations
        if declarations is not None and declarations.files:
            out.append(
                f"declared test dependencies: {len(declarations.requirements)} in "
                f"{', '.join(declarations.files)}"
            )
        for need in self.needs:
            if need.via == "declared":
                out.append(f"declared: {need.requirement} ({need.reasons[0]})")
        out.extend(
            f"plugin: {p.distribution} for {p.provides.value} {p.name} ({p.where})" for p in self.plugins
        )
        if declarations is not None:
            out.extend(f"refused declaration: {r.message()}" for r in declarations.refused)
            out.extend(f"declarations: {w}" for w in declarations.warnings)
        out.extend(f"not installed: {a.hint()}" for a in self.ambiguous)
        out.extend(self.notes)
        return out


def _relative(path: Path, rootdir: Path) -> str:
    try:
        return str(path.relative_to(rootdir))
    except ValueError:
        return str(path)


def gather_suite_needs(
    *,
    rootdir: Path,
    usages: Sequence[tuple[Path, FileUsage]],
    config: ConfigUsage,
    declarations: Declarations | None,
    installed_version: Callable[[str], str | None],
    importable: Callable[[str], bool],
    resolve_import: Callable[[str], Any],
    parse_requirement: Callable[[str], Any],
    first_party: Any,
) -> SuiteNeeds:
    """Declared requirements, plugin needs and config modules, as plan needs."""
    from pytest_kisys.resolve.plan import is_stdlib

    needs: dict[str, Need] = {}
    notes: list[str] = []
    satisfied = 0
    for declared in declarations.requirements if declarations is not None else ():
        try:
            parsed = parse_requirement(declared.requirement)
        except RequirementError:
            continue  # the reader already refused what the parser refuses
        if not parsed.applies():
            continue
        if requirement_satisfied(parsed, installed_version):
            satisfied += 1
            continue
        have = installed_version(parsed.name)
        if have is not None and (parsed.name in RUNNING or parsed.specifier):
            notes.append(
                f"declared {declared.requirement} ({declared.requested_by}) is not installed: "
                f"{parsed.name} {have} is already installed"
                + (" and runs this session" if parsed.name in RUNNING else "")
                + "; kisys does not replace installed packages"
            )
            continue
        needs.setdefault(
            parsed.name, Need(declared.requirement, parsed.name, (declared.requested_by,), None, "declared")
        )
    from pytest_kisys.resolve.plugintable import load_table
    from pytest_kisys.resolve.plugintable import plugin_needs

    found, ambiguous = plugin_needs(
        [(_relative(path, rootdir), usage) for path, usage in usages],
        config,
        table=load_table(),
        installed=lambda d: installed_version(d) is not None,
    )
    plugins = [p for p in found if canonicalize_name(p.distribution) not in needs]
    for plugin in plugins:
        needs[plugin.distribution] = Need(
            plugin.distribution, plugin.distribution, (plugin.reason,), None, "plugin"
        )
    table = load_table()
    from pytest_kisys.resolve.plugintable import Provides

    modules = list(config.filter_modules)
    modules.extend(
        (name, f"-p {name}") for name in config.plugins if not table.providers(Provides.PLUGIN, name)
    )
    for module, entry in modules:
        top = module.split(".", 1)[0]
        if is_stdlib(top) or top in first_party or importable(module):
            continue
        try:
            resolution = resolve_import(module)
        except RequirementError:
            continue
        dist = resolution.distribution
        if dist is None or resolution.kind in ("unknown", "first_party", "stdlib", "installed"):
            notes.append(
                f"not installed: module {module} named in {config.where} ({entry!r}) has no "
                f'trusted distribution; map it in [tool.kisys] import_map = {{{top} = "<distribution>"}}'
            )
            continue
        key = canonicalize_name(dist)
        reason = f"{entry!r} in {config.where}"
        if key in needs:
            old = needs[key]
            needs[key] = dataclasses.replace(old, reasons=(*old.reasons, reason))
        else:
            needs[key] = Need(dist, dist, (reason,), module, "config")
    return SuiteNeeds(
        tuple(needs.values()), declarations, tuple(plugins), tuple(ambiguous), tuple(notes), satisfied
    )


def merge_into(plan: Plan, extra: SuiteNeeds) -> Plan:
    """The plan with ``extra``'s needs first; an import need of a declared distribution joins it."""
    by_dist = {canonicalize_name(n.distribution): n for n in extra.needs}
    rest: list[Need] = []
    for need in plan.needs:
        key = canonicalize_name(need.distribution)
        if key in by_dist and need.via == "import":
            known = by_dist[key]
            by_dist[key] = dataclasses.replace(
                known,
                reasons=(*known.reasons, *need.reasons),
                import_name=known.import_name or need.import_name,
            )
        else:
            rest.append(need)
    return dataclasses.replace(
        plan, needs=(*by_dist.values(), *rest), satisfied=plan.satisfied + extra.satisfied
    )

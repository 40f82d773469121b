"""Session checks contributed by plugins and conftests through ``pytest_kisys_scanners``.

:func:`collect_scanners` calls the hook once, checks every returned object (a usage error names
the scanner and the problem) and wraps each in a :class:`GuardedScanner`, so a third-party
scanner goes through the same :func:`~pytest_kisys.scan.runner.run_check` path as the built-in
ones and can never crash the session or pass unchecked: an exception of any kind, or output
that is not a :class:`~pytest_kisys.scan.interface.ScanOutput` of findings with known
severities, makes the check inconclusive.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from dataclasses import dataclass
import re
from typing import Any

import pytest

from pytest_kisys.errors import ScanError
from pytest_kisys.scan.interface import CHECK_KINDS
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.interface import Inconclusive
from pytest_kisys.scan.interface import ScanOutput
from pytest_kisys.settings import Settings
from pytest_kisys.settings import SEVERITY_RANK


KIND = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
# Words the ``scan`` setting gives a meaning of its own; a check may not be called that.
RESERVED_KINDS = frozenset({*CHECK_KINDS, "all", "none"})
ACCEPTED_KIND = (
    "a new check name: lowercase letters, digits, '_' and '-', starting with a letter, at most "
    f"40 characters, not one of {', '.join(sorted(RESERVED_KINDS))}"
)


def scanner_name(scanner: object) -> str:
    """How messages name a scanner: the dotted path of its class (``conftest.LicenseScanner``)."""
    cls = type(scanner)
    return f"{cls.__module__}.{cls.__qualname__}"


def _checked_output(output: object, tool: str) -> ScanOutput:
    """``output`` with tuples for its sequences; ScanError if it is not a proper ScanOutput."""
    if not isinstance(output, ScanOutput):
        raise ScanError(
            f"{tool}: scan() returned {type(output).__name__}; expected "
            "pytest_kisys.scan.interface.ScanOutput"
        )
    findings = tuple(output.findings)
    baselined = tuple(output.baselined)
    inconclusive = tuple(output.inconclusive)
    for finding in (*findings, *baselined):
        if not isinstance(finding, Finding):
            raise ScanError(f"{tool}: a finding is {type(finding).__name__}, expected Finding")
        if finding.severity not in SEVERITY_RANK:
            # An unknown severity would rank as the lowest one: fail closed instead.
            raise ScanError(
                f"{tool}: finding {finding.rule_id} has severity {finding.severity!r}; "
                f"expected one of {', '.join(SEVERITY_RANK)}"
            )
    for item in inconclusive:
        if not isinstance(item, Inconclusive):
            raise ScanError(
                f"{tool}: an inconclusive item is {type(item).__name__}, expected Inconclusive"
            )
    return dataclasses.replace(
        output, findings=findings, baselined=baselined, inconclusive=inconclusive
    )


# Not frozen: the Scanner protocol declares plain (settable) kind and tool attributes.
@dataclass
class GuardedScanner:
    """A plugin's scanner as the runner sees it: ``kind`` and ``tool`` fixed when it was
    accepted, and every failure of ``scan`` turned into :class:`ScanError` (inconclusive)."""

    kind: str
    tool: str
    inner: Any = dataclasses.field(compare=False, repr=False)
    source: str = ""
    """:func:`scanner_name` of the wrapped scanner, for messages and the stage's source."""

    def scan(self, settings: Settings) -> ScanOutput:
        """Run the wrapped scanner and check what it returned."""
        try:
            return _checked_output(self.inner.scan(settings), self.tool)
        except (ScanError, OSError):
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin's bug is an inconclusive check, not a crash
            raise ScanError(f"{self.tool} raised {type(exc).__name__}: {exc}") from exc


def _usage(scanner: object, problem: str) -> pytest.UsageError:
    return pytest.UsageError(f"kisys: pytest_kisys_scanners: scanner {scanner_name(scanner)}: {problem}")


def accept_scanner(scanner: object, taken: Mapping[str, GuardedScanner]) -> GuardedScanner:
    """Check one returned scanner against the built-in kinds and those ``taken`` already."""
    kind: object = getattr(scanner, "kind", None)
    tool: object = getattr(scanner, "tool", None)
    if not callable(getattr(scanner, "scan", None)):
        raise _usage(scanner, "has no scan(settings) method; expected a Scanner with kind, tool, scan")
    if not isinstance(kind, str) or not KIND.match(kind) or kind in RESERVED_KINDS:
        what = "is a built-in check" if kind in CHECK_KINDS else "is not accepted"
        raise _usage(scanner, f"kind {kind!r} {what}; expected {ACCEPTED_KIND}")
    if kind in taken:
        raise _usage(
            scanner, f"kind {kind!r} is already used by scanner {taken[kind].source}; choose another"
        )
    if not isinstance(tool, str) or not tool.strip():
        raise _usage(scanner, f"tool {tool!r} is not accepted; expected the tool's name, a non-empty string")
    return GuardedScanner(kind, tool.strip(), scanner, scanner_name(scanner))


def collect_scanners(config: pytest.Config, settings: Settings) -> dict[str, GuardedScanner]:
    """Every scanner from ``pytest_kisys_scanners``, by kind, in the order they were returned.

    Raises :class:`pytest.UsageError` naming the scanner for a bad or duplicate ``kind``, a
    missing ``tool`` or ``scan``, and for a hook result that is not a sequence of scanners.
    """
    accepted: dict[str, GuardedScanner] = {}
    for returned in config.hook.pytest_kisys_scanners(config=config, settings=settings):
        items: list[object]
        if isinstance(returned, list | tuple):
            items = list(returned)
        elif hasattr(returned, "scan"):
            items = [returned]
        else:
            raise pytest.UsageError(
                f"kisys: pytest_kisys_scanners returned {returned!r}; expected a list of scanners "
                "(objects with kind, tool and scan(settings)) or None"
            )
        for scanner in items:
            guarded = accept_scanner(scanner, accepted)
            accepted[guarded.kind] = guarded
    return accepted

"""Run one check end to end: scanner, ``ignore`` rules, timing, and failing closed.

:func:`run_check` is the unit the stage engine and the pytest plugin call, one per check
kind. It never raises for a scanner problem: a :class:`~pytest_kisys.errors.ScanError` (or an
``OSError`` from the file system) becomes an inconclusive :class:`CheckResult`, which fails
the run unless ``allow_inconclusive`` is set.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
import datetime as dt
import time

from pytest_kisys.errors import ConfigError
from pytest_kisys.errors import ScanError
from pytest_kisys.scan.interface import CHECK_KINDS
from pytest_kisys.scan.interface import CheckResult
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.interface import Inconclusive
from pytest_kisys.scan.interface import Scanner
from pytest_kisys.scan.interface import Suppressed
from pytest_kisys.scan.interface import TOOL_OF_KIND
from pytest_kisys.settings import IgnoreRule
from pytest_kisys.settings import Settings


def scanner_for(kind: str, settings: Settings | None = None) -> Scanner:
    """The built-in scanner for ``kind`` (``code``, ``deps`` or ``secrets``).

    For ``code`` the tools come from ``settings`` (bandit, plus semgrep when rules are set).
    """
    if kind == "code":
        from pytest_kisys.scan.code import code_tools
        from pytest_kisys.scan.code import CodeScanner

        return CodeScanner(code_tools(settings) if settings is not None else ("bandit",))
    if kind == "deps":
        from pytest_kisys.scan.pip_audit import PipAuditScanner

        return PipAuditScanner()
    if kind == "secrets":
        from pytest_kisys.scan.secrets import SecretsScanner

        return SecretsScanner()
    raise ConfigError(f"unknown check {kind!r}; accepted: {', '.join(CHECK_KINDS)}")


def apply_ignores(
    findings: Iterable[Finding], rules: Iterable[IgnoreRule], today: dt.date | None = None
) -> tuple[list[Finding], list[Suppressed], list[str]]:
    """Split ``findings`` into counted and ignored ones.

    Returns ``(kept, suppressed, expired)`` where ``expired`` lists the ids of rules that
    would have matched a finding but whose expiry date has passed, so they no longer apply.
    """
    active = [r for r in rules if not r.expired(today)]
    expired_rules = [r for r in rules if r.expired(today)]
    kept: list[Finding] = []
    suppressed: list[Suppressed] = []
    expired: list[str] = []
    for finding in findings:
        rule = next((r for r in active if finding.matches(r.id)), None)
        if rule is not None:
            suppressed.append(Suppressed(finding, "ignore", rule.reason))
            continue
        kept.append(finding)
        for old in expired_rules:
            if finding.matches(old.id) and old.id not in expired:
                expired.append(old.id)
    return kept, suppressed, expired


def run_check(
    kind: str, settings: Settings, *, scanner: Scanner | None = None
) -> CheckResult:
    """Run the ``kind`` check under ``settings`` and return its result (never raises ScanError)."""
    scanner = scanner if scanner is not None else scanner_for(kind, settings)
    started = time.perf_counter()
    try:
        output = scanner.scan(settings)
    except (ScanError, OSError) as exc:
        return CheckResult(
            kind=kind,
            tool=scanner.tool,
            tool_version="",
            inconclusive=(Inconclusive(scanner.tool, kind, f"check could not run: {exc}"),),
            duration_s=time.perf_counter() - started,
        )
    kept, suppressed, expired = apply_ignores(output.findings, settings.ignore)
    baselined = [
        Suppressed(f, "baseline", f"in {settings.baseline.get(kind, 'the baseline')}")
        for f in output.baselined
    ]
    return CheckResult(
        kind=kind,
        tool=scanner.tool,
        tool_version=output.tool_version,
        findings=tuple(kept),
        inconclusive=output.inconclusive,
        suppressed=tuple(baselined + suppressed),
        expired_ignores=tuple(expired),
        items_checked=output.items_checked,
        cache_hits=output.cache_hits,
        subject=output.subject,
        tool_source=output.tool_source,
        duration_s=time.perf_counter() - started,
        tool_versions=output.tool_versions,
    )


def run_checks(
    settings: Settings,
    kinds: Iterable[str] | None = None,
    *,
    on_result: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run several checks concurrently (one thread each; the heavy work is in processes).

    Results come back in :data:`CHECK_KINDS` order; ``on_result`` is called as each finishes.
    """
    wanted = [k for k in CHECK_KINDS if k in set(kinds if kinds is not None else settings.scan)]
    if not wanted:
        return []
    with ThreadPoolExecutor(max_workers=len(wanted), thread_name_prefix="kisys-check") as pool:
        futures = {kind: pool.submit(run_check, kind, settings) for kind in wanted}
        results = []
        for kind in wanted:
            result = futures[kind].result()
            if on_result is not None:
                on_result(result)
            results.append(result)
    return results


def checks_fail(results: Iterable[CheckResult], settings: Settings) -> bool:
    """Whether the results fail the run under ``fail_on`` and ``allow_inconclusive``."""
    return any(r.fails(settings.fail_on, settings.allow_inconclusive) for r in results)


__all__ = ["TOOL_OF_KIND", "apply_ignores", "checks_fail", "run_check", "run_checks", "scanner_for"]

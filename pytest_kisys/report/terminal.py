"""The ``kisys checks`` terminal section: per tool, counts by severity, each finding with its
location and rule, what was suppressed, what was inconclusive and why, and the verdict.

Pure functions returning ``(text, markup)`` pairs, so the plugin and ``kisys scan`` print the
same thing and tests can check it without a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_kisys.options import SEVERITIES
from pytest_kisys.options import SEVERITY_RANK
from pytest_kisys.scan.interface import CheckResult
from pytest_kisys.settings import Settings


Line = tuple[str, dict[str, Any]]
# Findings listed per tool before "... and N more" (all of them with -v).
SHOWN_PER_TOOL = 25
SHOWN_INCONCLUSIVE = 10


def _counts(result: CheckResult) -> str:
    counts = result.severity_counts()
    return ", ".join(f"{name} {counts[name]}" for name in reversed(SEVERITIES) if counts[name])


def render_check(result: CheckResult, settings: Settings, *, verbose: bool = False) -> list[Line]:
    """The lines for one check."""
    version = f" {result.tool_version}" if result.tool_version else ""
    cached = f", {result.cache_hits} cached" if result.cache_hits else ""
    where = f" in {result.subject}" if result.subject else ""
    scope = f"{result.items_checked} checked{where}{cached}, {result.duration_s:.2f}s"
    head = f"{result.tool}{version} ({result.kind}): "
    if result.inconclusive:
        lines: list[Line] = [(head + f"INCONCLUSIVE ({scope})", {"red": True, "bold": True})]
    elif result.findings:
        failing = bool(result.failing_findings(settings.fail_on))
        text = f"{len(result.findings)} finding(s) [{_counts(result)}] ({scope})"
        lines = [(head + text, {"red": True, "bold": True} if failing else {"yellow": True})]
    else:
        lines = [(head + f"clean ({scope})", {"green": True})]
    ordered = sorted(
        result.findings, key=lambda f: (-SEVERITY_RANK.get(f.severity, 0), f.path, f.line)
    )
    shown = ordered if verbose else ordered[:SHOWN_PER_TOOL]
    for finding in shown:
        where = f"{finding.path}:{finding.line}" if finding.path else (finding.package or "")
        red = finding.at_or_above(settings.fail_on)
        label = finding.rule_id if len(result.tools) < 2 else f"{finding.tool} {finding.rule_id}"
        also = "".join(f" [also {m.tool} {m.rule_id}]" for m in finding.merged)
        lines.append(
            (
                f"  {finding.severity:<8} {label:<10} {where}  {finding.message}{also}"
                f"  [id {finding.fingerprint}]",
                {"red": red},
            )
        )
    if len(ordered) > len(shown):
        lines.append((f"  ... and {len(ordered) - len(shown)} more (-v shows all)", {}))
    missed_shown = result.inconclusive if verbose else result.inconclusive[:SHOWN_INCONCLUSIVE]
    for missed in missed_shown:
        lines.append((f"  could not check {missed.item}: {missed.reason}", {"red": True}))
    if len(result.inconclusive) > len(missed_shown):
        more = len(result.inconclusive) - len(missed_shown)
        lines.append((f"  ... and {more} more not checked (-v shows all)", {"red": True}))
    if result.suppressed:
        by_baseline = sum(1 for s in result.suppressed if s.by == "baseline")
        by_ignore = len(result.suppressed) - by_baseline
        lines.append(
            (f"  suppressed: {by_baseline} by baseline, {by_ignore} by ignore entries", {})
        )
        if verbose:
            for item in result.suppressed:
                f = item.finding
                where = f"{f.path}:{f.line}" if f.path else (f.package or "")
                lines.append((f"    {f.rule_id} {where} ({item.by}: {item.reason})", {}))
    for ident in result.expired_ignores:
        rule = next((r for r in settings.ignore if r.id == ident), None)
        when = f" on {rule.expires.isoformat()}" if rule and rule.expires else ""
        lines.append(
            (f"  ignore entry {ident!r} expired{when} and no longer applies", {"yellow": True})
        )
    return lines


def verdict(results: Sequence[CheckResult], settings: Settings) -> tuple[bool, list[str]]:
    """Whether the checks fail the run, and the reasons in words."""
    reasons: list[str] = []
    failing = sum(len(r.failing_findings(settings.fail_on)) for r in results)
    if failing:
        reasons.append(f"{failing} finding(s) at or above {settings.fail_on!r}")
    inconclusive = [r for r in results if r.inconclusive]
    if inconclusive and not settings.allow_inconclusive:
        names = ", ".join(r.tool for r in inconclusive)
        reasons.append(
            f"{len(inconclusive)} inconclusive check(s) ({names}); "
            "set allow_inconclusive = true to accept"
        )
    return bool(reasons), reasons


def render_checks(
    results: Sequence[CheckResult], settings: Settings, *, verbose: bool = False
) -> list[Line]:
    """The whole section: every check, then the verdict line."""
    lines: list[Line] = []
    for result in results:
        lines.extend(render_check(result, settings, verbose=verbose))
    failed, reasons = verdict(results, settings)
    if failed:
        lines.append(("kisys checks FAILED: " + "; ".join(reasons), {"red": True, "bold": True}))
    else:
        accepted = [r.tool for r in results if r.inconclusive]
        if accepted:
            # Passing with checks that could not run must never read like a clean bill of health.
            lines.append(
                (
                    f"kisys checks passed (fail_on = {settings.fail_on}), but {len(accepted)} "
                    f"check(s) could not check everything ({', '.join(accepted)}); accepted "
                    "because allow_inconclusive = true",
                    {"yellow": True, "bold": True},
                )
            )
        else:
            lines.append((f"kisys checks passed (fail_on = {settings.fail_on})", {"green": True}))
    return lines

"""GitHub Actions workflow commands (``::error file=...,line=...::message``) for findings.

Printed when ``GITHUB_ACTIONS=true``: findings at or above ``fail_on`` become ``error``
annotations, the others ``warning`` (medium and up) or ``notice``; an inconclusive check is an
``error`` without a file. Values are escaped as the runner expects.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_kisys.scan.interface import CheckResult
from pytest_kisys.settings import Settings
from pytest_kisys.settings import SEVERITY_RANK


def escape_data(text: str) -> str:
    """Escape a command's message part (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value (additionally ``:`` and ``,``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(level: str, message: str, **props: str) -> str:
    given = ",".join(f"{k}={escape_property(v)}" for k, v in props.items() if v)
    return f"::{level} {given}::{escape_data(message)}" if given else f"::{level}::{escape_data(message)}"


def workflow_commands(results: Sequence[CheckResult], settings: Settings) -> list[str]:
    """One workflow command per counted finding and per inconclusive item."""
    lines: list[str] = []
    for result in results:
        for finding in result.findings:
            if finding.at_or_above(settings.fail_on):
                level = "error"
            elif SEVERITY_RANK.get(finding.severity, 0) >= SEVERITY_RANK["medium"]:
                level = "warning"
            else:
                level = "notice"
            props = {"title": f"{finding.tool} {finding.rule_id} ({finding.severity})"}
            if finding.path:
                props = {"file": finding.path, "line": str(max(finding.line, 1)), **props}
            lines.append(_command(level, f"{finding.message} [id {finding.fingerprint}]", **props))
        for item in result.inconclusive:
            level = "warning" if settings.allow_inconclusive else "error"
            title = f"{result.tool} could not check {item.item}"
            lines.append(_command(level, item.reason, title=title))
    return lines

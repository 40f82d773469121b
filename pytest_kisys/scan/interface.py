"""The one interface every session check speaks: findings, inconclusive items, check results.

A check is *clean* only when its scanner ran over everything it was asked to cover and found
nothing. Anything it could not look at (a file bandit could not parse, a dependency pip-audit
skipped, a crash, a timeout, output that is not the expected JSON) is an :class:`Inconclusive`
item, and a check with one of those is never reported as clean.

Nothing in this module imports a scanner library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
import hashlib
from typing import Any
from typing import Literal
from typing import Protocol
from typing import TYPE_CHECKING

from pytest_kisys.options import SEVERITIES
from pytest_kisys.options import SEVERITY_RANK


if TYPE_CHECKING:
    # Type only: scan workers import this module in the tool environment, without pytest.
    from pytest_kisys.settings import Settings


CheckKind = Literal["code", "deps", "secrets"]
CHECK_KINDS: tuple[CheckKind, ...] = ("code", "deps", "secrets")
TOOL_OF_KIND: Mapping[str, str] = {
    "code": "bandit",
    "deps": "pip-audit",
    "secrets": "detect-secrets",  # pragma: allowlist secret
}



def fingerprint(*parts: str) -> str:
    """A stable 16-hex-digit id from the parts that identify a finding (never a line number)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class Finding:
    """One problem a scanner reported.

    ``fingerprint`` survives line shifts: it is built from the tool, the rule, the file and the
    offending content (the stripped source line for bandit, the secret's SHA-1 for
    detect-secrets, package and advisory for pip-audit), never from a line number. For secrets
    ``message`` names the secret type only; the value is never stored anywhere.
    """

    tool: str
    rule_id: str
    severity: str
    confidence: str
    path: str
    line: int
    message: str
    fingerprint: str
    rule_name: str = ""
    cwe: int | None = None
    help_url: str | None = None
    fix_versions: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    package: str | None = None
    version: str | None = None
    merged: tuple[Finding, ...] = ()
    """Other tools' findings of the same problem, merged into this one (see ``scan/merge.py``)."""

    @property
    def tools(self) -> tuple[str, ...]:
        """This finding's tool, then those of the findings merged into it."""
        return (self.tool, *(m.tool for m in self.merged if m.tool != self.tool))

    def matches(self, ident: str) -> bool:
        """Whether an ignore entry ``ident`` names this finding (fingerprint, rule id or alias),
        or one of the findings merged into it."""
        if ident in (self.fingerprint, self.rule_id, self.rule_name) or ident in self.aliases:
            return True
        return any(m.matches(ident) for m in self.merged)

    def at_or_above(self, threshold: str) -> bool:
        """Whether the severity reaches ``threshold`` (``"never"`` is never reached)."""
        if threshold not in SEVERITY_RANK:
            return False
        return SEVERITY_RANK.get(self.severity, 0) >= SEVERITY_RANK[threshold]

    def to_json(self) -> dict[str, Any]:
        """The finding as documented in docs/report-schema.md."""
        return {
            "id": self.fingerprint,
            "tool": self.tool,
            "rule_id": self.rule_id,
            "rule_name": self.rule_name,
            "severity": self.severity,
            "confidence": self.confidence,
            "path": self.path,
            "line": self.line,
            "message": self.message,
            "cwe": self.cwe,
            "help_url": self.help_url,
            "fix_versions": list(self.fix_versions),
            "aliases": list(self.aliases),
            "package": self.package,
            "version": self.version,
            "tools": list(self.tools),
            "rule_ids": {self.tool: self.rule_id, **{m.tool: m.rule_id for m in self.merged}},
            "merged": [
                {"tool": m.tool, "rule_id": m.rule_id, "severity": m.severity, "line": m.line,
                 "id": m.fingerprint, "message": m.message}
                for m in self.merged
            ],
        }


@dataclass(frozen=True)
class Inconclusive:
    """Something a scanner could not check, and why; it makes the whole check inconclusive."""

    tool: str
    item: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        """``{"tool", "item", "reason"}``."""
        return {"tool": self.tool, "item": self.item, "reason": self.reason}


@dataclass(frozen=True)
class Suppressed:
    """A finding that was found but does not count: in a baseline, or named by an ignore entry."""

    finding: Finding
    by: Literal["baseline", "ignore"]
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The finding plus ``suppressed_by`` and ``reason``."""
        return {**self.finding.to_json(), "suppressed_by": self.by, "reason": self.reason}


@dataclass(frozen=True)
class ScanOutput:
    """What a :class:`Scanner` hands back before ignore rules and verdicts are applied."""

    tool_version: str
    findings: tuple[Finding, ...] = ()
    inconclusive: tuple[Inconclusive, ...] = ()
    baselined: tuple[Finding, ...] = ()
    items_checked: int = 0
    cache_hits: int = 0
    subject: str = ""
    tool_source: str = ""
    tool_versions: Mapping[str, str] = field(default_factory=dict)
    """Version of each tool, when a check runs more than one (``code``: bandit and semgrep)."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check (code, deps or secrets), as recorded in ``RunRecord.checks``.

    ``findings`` are the ones that count (after baseline and ``ignore``); ``suppressed`` the
    ones that do not; ``expired_ignores`` the ``ignore`` ids whose expiry date has passed and
    that therefore stopped applying. Telemetry reads ``findings`` for span events.
    ``subject`` says what was checked when it is not the project tree (``the environment of
    /venv/bin/python``); ``tool_source`` where the tool ran from (``kisys tool environment``).
    """

    kind: str
    tool: str
    tool_version: str
    findings: tuple[Finding, ...] = ()
    inconclusive: tuple[Inconclusive, ...] = ()
    suppressed: tuple[Suppressed, ...] = ()
    expired_ignores: tuple[str, ...] = ()
    items_checked: int = 0
    cache_hits: int = 0
    duration_s: float = 0.0
    timings: Mapping[str, float] = field(default_factory=dict)
    subject: str = ""
    tool_source: str = ""
    tool_versions: Mapping[str, str] = field(default_factory=dict)
    """Version of each tool of the check (one entry per tool it ran)."""

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools this check ran: ``tool_versions``' keys, else ``tool``."""
        return tuple(self.tool_versions) or (self.tool,)

    @property
    def status(self) -> Literal["clean", "findings", "inconclusive"]:
        """``inconclusive`` wins over ``findings``: a partial scan is never a verdict."""
        if self.inconclusive:
            return "inconclusive"
        return "findings" if self.findings else "clean"

    def failing_findings(self, fail_on: str) -> tuple[Finding, ...]:
        """Findings at or above ``fail_on``."""
        return tuple(f for f in self.findings if f.at_or_above(fail_on))

    def fails(self, fail_on: str, allow_inconclusive: bool) -> bool:
        """Whether this check makes the run fail under the given policy."""
        if self.inconclusive and not allow_inconclusive:
            return True
        return bool(self.failing_findings(fail_on))

    def severity_counts(self) -> dict[str, int]:
        """Number of counted findings per severity, every severity present (zeros included)."""
        counts = dict.fromkeys(SEVERITIES, 0)
        for finding in self.findings:
            counts[finding.severity] = counts.get(finding.severity, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        """The check as documented in docs/report-schema.md (``checks[]``)."""
        return {
            "kind": self.kind,
            "tool": self.tool,
            "tool_version": self.tool_version,
            "tool_versions": dict(self.tool_versions) or {self.tool: self.tool_version},
            "status": self.status,
            "counts": self.severity_counts(),
            "findings": [f.to_json() for f in self.findings],
            "inconclusive": [i.to_json() for i in self.inconclusive],
            "suppressed": [s.to_json() for s in self.suppressed],
            "expired_ignores": list(self.expired_ignores),
            "items_checked": self.items_checked,
            "subject": self.subject,
            "tool_source": self.tool_source,
            "cache_hits": self.cache_hits,
            "duration_s": round(self.duration_s, 4),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


class Scanner(Protocol):
    """One backend. ``scan`` raises :class:`~pytest_kisys.errors.ScanError` when it cannot run.

    Implementations report raw findings; the runner applies ``ignore`` rules, timing and the
    timeout, and turns a :class:`~pytest_kisys.errors.ScanError` into an inconclusive result.
    """

    kind: str
    tool: str

    def scan(self, settings: Settings) -> ScanOutput:
        """Scan what ``settings`` describe (``rootdir``, baselines, cache, workers)."""
        ...

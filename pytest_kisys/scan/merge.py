"""One finding per problem when several code scanners report it.

Two findings from different tools are the same problem when they point at the same file and
line and either carry the same CWE or form a pair named in ``code_rule_pairs`` (semgrep rule
id = bandit test id). The merged finding is the one with the higher severity (the earlier
tool on a tie), and it keeps the other as :attr:`Finding.merged`, so the report names both
tools and each tool's rule id.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses

from pytest_kisys.scan.interface import Finding
from pytest_kisys.settings import SEVERITY_RANK


def _parts(finding: Finding) -> tuple[Finding, ...]:
    return (dataclasses.replace(finding, merged=()), *finding.merged)


def _paired(a: Finding, b: Finding, pairs: Mapping[str, str]) -> bool:
    return pairs.get(a.rule_id) == b.rule_id or pairs.get(b.rule_id) == a.rule_id


def same_problem(a: Finding, b: Finding, pairs: Mapping[str, str]) -> bool:
    """Whether ``a`` and ``b`` (from different tools) report one problem (see the module doc)."""
    if a.path != b.path or a.line != b.line or not a.path:
        return False
    ours, theirs = _parts(a), _parts(b)
    if {f.tool for f in ours} & {f.tool for f in theirs}:
        return False
    return any(
        (x.cwe is not None and x.cwe == y.cwe) or _paired(x, y, pairs)
        for x in ours
        for y in theirs
    )


def combine(a: Finding, b: Finding) -> Finding:
    """``a`` and ``b`` as one finding: the higher severity leads, the other is merged into it."""
    rank = SEVERITY_RANK.get
    lead, other = (a, b) if rank(a.severity, 0) >= rank(b.severity, 0) else (b, a)
    rest = tuple(f for f in (*_parts(lead)[1:], *_parts(other)))
    return dataclasses.replace(lead, merged=rest)


def merge_findings(
    groups: Sequence[Iterable[Finding]], pairs: Mapping[str, str] | None = None
) -> list[Finding]:
    """The findings of each tool's group, with the same problem from several tools once.

    Within one tool nothing is merged (two rules on one line are two findings).
    """
    pairs = pairs or {}
    out: list[Finding] = []
    by_place: dict[tuple[str, int], list[int]] = {}
    for group in groups:
        for finding in group:
            place = (finding.path, finding.line)
            match = next(
                (i for i in by_place.get(place, ()) if same_problem(out[i], finding, pairs)), None
            )
            if match is None:
                by_place.setdefault(place, []).append(len(out))
                out.append(finding)
            else:
                out[match] = combine(out[match], finding)
    return out

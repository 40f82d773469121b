"""The vetting engine's public interface: requests in, decisions out, evidence in between.

Other subsystems (installer, collection) code against the names defined or re-exported here:
:class:`VetRequest`, :class:`Decision`, :class:`ParsedRequirement`, :func:`parse_requirement`,
:class:`ProjectSignals`, :class:`Evidence` and the :class:`IndexClient` protocol. The concrete
:class:`~pytest_kisys.vet.vetter.Vetter` and :func:`~pytest_kisys.vet.policy.decide` live in their
own modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
import datetime as dt
from typing import Any
from typing import Literal
from typing import Protocol
from typing import TYPE_CHECKING

from pytest_kisys.vet.requirements import parse_requirement
from pytest_kisys.vet.requirements import ParsedRequirement


if TYPE_CHECKING:
    from pytest_kisys.inspect.model import InspectFinding
    from pytest_kisys.vet.indexset import IndexSetVerdict

__all__ = [
    "Action",
    "Decision",
    "Evidence",
    "IndexClient",
    "ParsedRequirement",
    "ProjectSignals",
    "VetRequest",
    "parse_requirement",
]

Action = Literal["allow", "confirm", "block"]


@dataclass(frozen=True)
class VetRequest:
    """One distribution to vet.

    :param version: the exact version when the installer already resolved one (dry-run report).
    :param requested_by: who asked: import names, test node ids, ``marker``, ``cli``...
    :param transitive_of: name of the allowed request that pulled this one in; popular, clean
        transitive dependencies of an allowed request are allowed at balanced and autonomous.
    :param declared: the project declares it for its tests (allowed when clean at balanced).
    """

    requirement: ParsedRequirement
    version: str | None = None
    requested_by: tuple[str, ...] = ()
    transitive_of: str | None = None
    inspection: tuple[InspectFinding, ...] = ()
    """Findings of the wheel inspection of the resolved file (high blocks, medium asks)."""
    sha256: str | None = None
    """The resolved file's sha256 (checked against the index a name is pinned to)."""
    declared: bool = False
    installing: bool = True
    """False for ``kisys vet``: nothing is installed, so texts say what *would* be installed."""

    @classmethod
    def of(cls, text: str, *requested_by: str, version: str | None = None) -> VetRequest:
        """Parse ``text`` (raises ``RequirementError``) and wrap it in a request."""
        return cls(parse_requirement(text), version=version, requested_by=tuple(requested_by))

    @property
    def name(self) -> str:
        """Canonical distribution name."""
        return self.requirement.name

    @property
    def pinned_version(self) -> str | None:
        """``version`` if given, else the ``==X`` pin of the requirement, else None."""
        return self.version or self.requirement.exact_version()


@dataclass(frozen=True)
class ProjectSignals:
    """What the package index says about one project (or why it could not say).

    ``checked`` False means the lookup was inconclusive (offline with no cache entry, network
    error, bad response); ``error`` then says why, and no other field may be trusted.
    Times are POSIX timestamps.
    """

    name: str
    index_url: str
    checked: bool
    exists: bool = False
    error: str | None = None
    versions: tuple[str, ...] = ()
    yanked_versions: tuple[str, ...] = ()
    wheel_versions: tuple[str, ...] = ()
    first_upload: float | None = None
    last_upload: float | None = None
    has_wheels: bool = False
    summary: str | None = None
    project_urls: Mapping[str, str] = field(default_factory=dict)
    fetched_at: float = 0.0
    source: Literal["network", "cache", "none"] = "network"
    status: str | None = None
    """PEP 792 project status (``active``, ``archived``, ``quarantined``, ``deprecated``)."""
    status_reason: str | None = None
    uploads: Mapping[str, float] = field(default_factory=dict)
    """Version -> time its first file was uploaded (for the release-age cooldown)."""
    file_hashes: Mapping[str, str] = field(default_factory=dict)
    """File name -> sha256 the index gives (to tell a mirror from a different project)."""

    @property
    def release_count(self) -> int:
        """Number of versions with at least one file."""
        return len(self.versions)

    @property
    def all_yanked(self) -> bool:
        """True when the project has releases and every one of them is yanked."""
        return bool(self.versions) and set(self.versions) <= set(self.yanked_versions)

    @property
    def sdist_only(self) -> bool:
        """True when the project has releases but no wheel at all."""
        return bool(self.versions) and not self.has_wheels

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable form (also the on-disk cache format)."""
        data = asdict(self)
        data["project_urls"] = dict(self.project_urls)
        data["uploads"] = dict(self.uploads)
        data["file_hashes"] = dict(self.file_hashes)
        for key in ("versions", "yanked_versions", "wheel_versions"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProjectSignals:
        """Inverse of :meth:`to_json`; raises ``KeyError``/``TypeError`` on malformed input."""
        return cls(
            name=str(data["name"]),
            index_url=str(data["index_url"]),
            checked=bool(data["checked"]),
            exists=bool(data["exists"]),
            error=data.get("error"),
            versions=tuple(str(v) for v in data["versions"]),
            yanked_versions=tuple(str(v) for v in data["yanked_versions"]),
            wheel_versions=tuple(str(v) for v in data["wheel_versions"]),
            first_upload=data.get("first_upload"),
            last_upload=data.get("last_upload"),
            has_wheels=bool(data["has_wheels"]),
            summary=data.get("summary"),
            project_urls=dict(data.get("project_urls") or {}),
            fetched_at=float(data["fetched_at"]),
            source=data.get("source", "network"),
            status=data.get("status"),
            status_reason=data.get("status_reason"),
            uploads={str(k): float(v) for k, v in (data.get("uploads") or {}).items()},
            file_hashes={str(k): str(v) for k, v in (data.get("file_hashes") or {}).items()},
        )


@dataclass(frozen=True)
class Evidence:
    """Everything the policy needs about one request, gathered by the vetter (cheap checks first).

    ``index`` is None when the index was not consulted (a deny/malicious hit short-circuits).
    """

    on_deny_list: bool = False
    on_malicious_list: bool = False
    whitelisted: bool = False
    popular: bool = False
    typosquat_of: str | None = None
    typosquat_signal: str | None = None
    """How the name imitates ``typosquat_of`` (a ``typosquat_signals.Signal`` value)."""
    index: ProjectSignals | None = None
    offline: bool = False
    now: float = 0.0
    index_set: IndexSetVerdict | None = None
    """The dependency-confusion verdict when more than one index is configured."""


@dataclass(frozen=True)
class Decision:
    """The verdict on one distribution, with human-readable reasons and machine evidence.

    ``evidence`` is JSON-serialisable; a typosquat match is under ``typosquat_of``.
    """

    name: str
    version: str | None
    action: Action
    reasons: tuple[str, ...]
    evidence: Mapping[str, Any] = field(default_factory=dict)
    requested_by: tuple[str, ...] = ()
    level: str = "balanced"
    requirement: str | None = None
    suspicious: bool = False
    """The vetter warned about it (typosquat, very new, ...): only a person may confirm it."""

    @property
    def allowed(self) -> bool:
        """True when the action is ``allow``."""
        return self.action == "allow"

    def to_json(self) -> dict[str, Any]:
        """Keys: name, version, requirement, action, suspicious, level, reasons, evidence,
        requested_by."""
        return {
            "name": self.name,
            "version": self.version,
            "requirement": self.requirement,
            "action": self.action,
            "suspicious": self.suspicious,
            "level": self.level,
            "reasons": list(self.reasons),
            "evidence": dict(self.evidence),
            "requested_by": list(self.requested_by),
        }

    def audit_line(self, now: float) -> dict[str, Any]:
        """The audit-log record: decision plus the UTC time it was written."""
        record = {"time": dt.datetime.fromtimestamp(now, dt.UTC).isoformat()}
        record.update(self.to_json())
        return record


class IndexClient(Protocol):
    """Looks projects up on a package index; never raises for a per-project failure."""

    def lookup_many(self, names: Sequence[str]) -> dict[str, ProjectSignals]:
        """Signals for every name (inconclusive ones have ``checked=False`` and ``error``)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

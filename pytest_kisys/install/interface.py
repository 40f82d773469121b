"""The installer's public shapes: what callers ask for and what one batch did.

Callers (the collection hooks, the safety net, ``kisys install``) build
:class:`InstallRequest` objects and hand them to :meth:`pytest_kisys.install.Installer.install`;
they get one :class:`BatchResult` back. Everything here is a frozen value with a ``to_json()``
so it can go straight into the run record and the JSON report.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal
from typing import Protocol
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from pytest_kisys.install.environment import TargetEnv


Change = Literal["new", "upgrade", "downgrade"]
Answer = Literal["yes", "no"]
AnsweredBy = Literal["person", "plugin", "nobody", "fixed"]
"""Who gave a consent answer: a person at the terminal, a ``pytest_kisys_approve`` plugin,
nobody (no terminal, CI, an xdist worker: the answer is "no"), or a fixed answer."""



def change_of(version: str, installed: str | None) -> Change:
    """How installing ``version`` changes the environment: ``new``, ``upgrade`` or ``downgrade``.

    Versions compare by PEP 440 (by text when one is not a PEP 440 version); the same version
    as the installed one is ``new`` (nothing is replaced by something else).
    """
    if installed is None or installed == version:
        return "new"
    from packaging.version import InvalidVersion
    from packaging.version import Version

    try:
        newer = Version(version) > Version(installed)
    except InvalidVersion:
        newer = version > installed
    return "upgrade" if newer else "downgrade"

@dataclass(frozen=True)
class InstallRequest:
    """One thing the test suite needs.

    :param requirement: a PEP 508 requirement by name (``"numpy>=1.26"``, ``"rich[jupyter]"``);
        URLs, paths and pip options are refused; a request whose marker does not apply to the
        interpreter is skipped.
    :param reason: why it is needed, shown in the consent and the report, for example
        ``"import yaml in tests/test_io.py:3"`` or ``"@pytest.mark.requires in tests/test_x.py"``.
    :param import_name: the import the suite will do (``"yaml"`` for ``PyYAML``). When given,
        the wheel that would be installed must provide it, or the request is refused.
    :param declared: the project declares it for its tests (a dependency group, test extra,
        requirements file...): at the balanced level it is allowed when clean, like the allow
        list, and still vetted for everything else.
    """

    requirement: str
    reason: str
    import_name: str | None = None
    declared: bool = False


@dataclass(frozen=True)
class PlannedItem:
    """One artifact of the resolved batch, exactly as the resolver reported it."""

    name: str
    version: str
    url: str
    sha256: str
    requested: bool
    change: Change = "new"
    installed_version: str | None = None
    yanked: bool = False
    requires: tuple[str, ...] = ()
    wheel_file: str | None = None
    """The inspected, hash-checked local copy of this artifact: the backends install it
    instead of downloading it again, so what was inspected is what is installed."""

    @property
    def filename(self) -> str:
        """The artifact's file name (last path segment of its URL)."""
        return self.url.rsplit("/", 1)[-1].split("#", 1)[0]

    def to_json(self) -> dict[str, Any]:
        """JSON form for reports."""
        return {
            "name": self.name,
            "version": self.version,
            "url": self.url,
            "sha256": self.sha256,
            "requested": self.requested,
            "change": self.change,
            "installed_version": self.installed_version,
            "yanked": self.yanked,
        }


@dataclass(frozen=True)
class InstalledItem:
    """A distribution the batch installed."""

    name: str
    version: str
    sha256: str
    duration: float
    reasons: tuple[str, ...] = ()
    change: Change = "new"

    def to_json(self) -> dict[str, Any]:
        """JSON form for reports and the audit log."""
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "duration_s": round(self.duration, 3),
            "reasons": list(self.reasons),
            "change": self.change,
        }


@dataclass(frozen=True)
class DeniedItem:
    """A distribution (or a request) that was not installed, with what would allow it.

    ``hint`` is the exact thing to type, e.g. ``--kisys-allow rich`` or a config line;
    it is empty when no setting can allow it (blocked packages, broken requirements).
    """

    name: str
    version: str | None
    reason: str
    hint: str
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON form for reports and the audit log."""
        return {
            "name": self.name,
            "version": self.version,
            "reason": self.reason,
            "hint": self.hint,
            "requested_by": list(self.reasons),
        }


@dataclass(frozen=True)
class RefusedChange:
    """A change to an already installed distribution that the batch would need, and refused."""

    name: str
    installed_version: str
    wanted_version: str
    change: Change
    reason: str

    def to_json(self) -> dict[str, Any]:
        """JSON form for reports and the audit log."""
        return {
            "name": self.name,
            "installed_version": self.installed_version,
            "wanted_version": self.wanted_version,
            "change": self.change,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class BatchResult:
    """What one :meth:`Installer.install` call did.

    ``error`` is set when the batch failed as a whole (resolver or installer error, interrupted,
    environment refused); in that case the environment was restored and ``installed`` is empty.
    ``satisfied`` lists requirements that were already met and needed nothing.
    """

    installed: tuple[InstalledItem, ...] = ()
    denied: tuple[DeniedItem, ...] = ()
    refused: tuple[RefusedChange, ...] = ()
    satisfied: tuple[str, ...] = ()
    error: str | None = None
    backend: str = ""
    duration: float = 0.0
    rolled_back: bool = False
    learned: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when nothing failed and nothing was denied or refused."""
        return self.error is None and not self.denied and not self.refused

    def to_json(self) -> dict[str, Any]:
        """JSON form for the run record and the report (``installs`` entries)."""
        return {
            "kind": "install-batch",
            "backend": self.backend,
            "duration_s": round(self.duration, 3),
            "installed": [item.to_json() for item in self.installed],
            "denied": [item.to_json() for item in self.denied],
            "refused": [item.to_json() for item in self.refused],
            "satisfied": list(self.satisfied),
            "error": self.error,
            "rolled_back": self.rolled_back,
            "learned": list(self.learned),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ConsentItem:
    """One line of the consent prompt."""

    name: str
    version: str
    reasons: tuple[str, ...]
    why_confirm: tuple[str, ...]
    evidence: tuple[str, ...] = ()
    change: Change = "new"
    installed_version: str | None = None
    needs_answer: bool = True
    suspicious: bool = False
    """The vetter warned about it (typosquat, very new, few releases, sdist only...): only a
    person at a terminal may confirm it, never a ``pytest_kisys_approve`` hook."""


@dataclass(frozen=True)
class ConsentRequest:
    """Everything the person is asked about in one batch."""

    items: tuple[ConsentItem, ...]

    def asking(self) -> tuple[ConsentItem, ...]:
        """The items that need an answer (the others are shown for context)."""
        return tuple(item for item in self.items if item.needs_answer)


@dataclass(frozen=True)
class ConsentAnswer:
    """The answer to one consent request and why it was given (``"CI is set"``, ``"typed y"``).

    ``per_item`` overrides the answer for named items (``(name, answer)`` pairs): a plugin's
    yes covers the clean items while the suspicious ones get the terminal's answer.
    """

    answer: Answer
    why: str
    per_item: tuple[tuple[str, ConsentAnswer], ...] = ()
    answered_by: AnsweredBy = "person"

    @property
    def yes(self) -> bool:
        """Whether the person agreed."""
        return self.answer == "yes"

    def for_item(self, name: str) -> ConsentAnswer:
        """The answer that applies to the item ``name``."""
        for item_name, answer in self.per_item:
            if item_name == name:
                return answer
        return self


class Consent(Protocol):
    """Asks once per batch; must never block when nobody can answer."""

    def ask(self, request: ConsentRequest) -> ConsentAnswer:
        """Return yes or no for all items of ``request`` that need an answer."""
        ...


class Recorder(Protocol):
    """Where batch results go (a :class:`pytest_kisys.record.RunRecord` fits)."""

    def add(self, kind: str, item: Any) -> None:
        """Append ``item`` under ``kind``."""
        ...


@dataclass(frozen=True)
class Resolution:
    """The outcome of resolving one batch.

    ``items`` is the whole transitive set pip would install, in report order. ``unavailable``
    maps a requirement to why it could not be resolved at all (no wheel, not on the index).
    ``conflict`` is set when the requests need a change to something installed; ``items`` then
    come from an unconstrained resolve and show those changes.
    """

    items: tuple[PlannedItem, ...]
    unavailable: Mapping[str, str]
    conflict: str | None = None
    environment: Mapping[str, str] | None = None
    graph: Mapping[str, set[str]] | None = None
    """Item -> the planned items it requires, when the resolver knows (else from metadata)."""
    graph_fallback: Callable[[], Mapping[str, set[str]]] | None = field(default=None, compare=False)
    """The resolver's own graph on demand (uv: a second compile), for when ``graph`` is None
    and the inspected wheels' metadata leaves it uncertain (extras; :mod:`.wheelgraph`)."""


@dataclass(frozen=True)
class ResolverOptions:
    """Index settings and policy knobs of the resolver."""

    index_url: str | None = None
    cert: str | None = None
    retries: int = 2
    timeout: float = 600.0
    offline: bool = False
    uploaded_before: float | None = None
    """Release-age cooldown: only files uploaded before this POSIX time (None: off)."""
    exempt: frozenset[str] = frozenset()
    """Canonical names the cooldown does not apply to (``release_age_exempt``)."""
    fresh: Callable[[Sequence[str]], Mapping[str, Sequence[str]]] | None = None
    """Name -> too-fresh versions, from the index's upload times: pip's fallback cooldown
    when its own ``--uploaded-prior-to`` is missing or exemptions apply."""
    excluded: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Name -> versions never to pick (``name!=version`` constraints): the versions other
    indexes offer for a name pinned to one index with ``index_for``."""

    def exclusion_constraints(self) -> str:
        """``excluded`` as a constraints file's text (empty when there is nothing to exclude)."""
        lines = [f"{name}!={v}" for name, versions in sorted(self.excluded.items()) for v in sorted(versions)]
        return "\n".join(lines) + "\n" if lines else ""


@dataclass(frozen=True)
class BackendOptions:
    """Where an installer backend gets packages from, and how patiently."""

    index_url: str | None = None
    cert: str | None = None
    retries: int = 2
    timeout: float = 1800.0
    offline: bool = False


class Resolver(Protocol):
    """Resolves one batch's requirements to exact, hash-pinned wheels (pip's or uv's resolver)."""

    def resolve(self, requirements: Sequence[str]) -> Resolution:
        """The transitive set for ``requirements``, without installing anything."""
        ...


@dataclass(frozen=True)
class BackendOutcome:
    """What one backend invocation did."""

    returncode: int
    stdout: str
    stderr: str
    duration: float
    command: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Exit status zero."""
        return self.returncode == 0


class InstallBackend(Protocol):
    """Installs exactly the given, hash-pinned artifacts, without dependencies."""

    name: str

    def install(self, python: str, items: Sequence[PlannedItem]) -> BackendOutcome:
        """Run one installer process for all ``items`` into the environment of ``python``."""
        ...

    def prewarm(self, python: str) -> None:
        """Start what the install will need early, so it overlaps resolving and vetting."""
        ...

    def discard(self) -> None:
        """End whatever :meth:`prewarm` started and the batch did not use."""
        ...

    def resolver(self, env: TargetEnv, options: ResolverOptions) -> Resolver:
        """The resolver that goes with this installer, for the environment ``env``."""
        ...

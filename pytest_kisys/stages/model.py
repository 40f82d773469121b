"""The value types of the stage graph: a declared :class:`Stage`, what one run of it returned
(:class:`StageOutcome`) and the recorded :class:`StageResult` that lands in the JSON report.

Everything here is frozen and imports only the standard library and pytest, so other subsystems
(and plugins implementing ``pytest_kisys_stages``) can import it cheaply.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Literal
from typing import TYPE_CHECKING

import pytest

from pytest_kisys.errors import StageError


if TYPE_CHECKING:
    from pytest_kisys.settings import Settings


Status = Literal["passed", "failed", "skipped"]
SkipKind = Literal["condition", "needs", "off", "not-run"]
OutcomeKind = Literal["completed", "timeout"]
"""How a stage attempt ended: it returned (whatever its status), or it ran out of time."""

BUILTIN_STAGES = (
    "resolve",
    "vet",
    "install",
    "scan.code",
    "scan.deps",
    "scan.secrets",
    "tests",
    "report",
)


class StageConfigError(StageError):
    """The declared stages are invalid; the message names the stage and the problem.

    Inside pytest it is re-raised as :class:`pytest.UsageError`; ``kisys stages`` prints it
    and exits 2.
    """


@dataclass(frozen=True)
class Retry:
    """How often a stage is attempted and how long to wait between attempts.

    The wait before attempt ``n`` (``n >= 2``) is ``min(cap, base * 2 ** (n - 2))`` seconds:
    ``base``, ``2 * base``, ``4 * base``, ... never more than ``cap``.
    """

    attempts: int = 1
    base: float = 1.0
    cap: float = 30.0

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (1-based; the first has none)."""
        if attempt <= 1:
            return 0.0
        from pytest_kisys.retry import backoff_delay

        return backoff_delay(attempt - 2, self.base, cap=self.cap)

    def schedule(self) -> tuple[float, ...]:
        """Every wait of a stage that fails each attempt, in order."""
        return tuple(self.delay_before(n) for n in range(2, self.attempts + 1))


@dataclass(frozen=True)
class StageFinding:
    """A problem a stage reported, e.g. a command stage that exited non-zero."""

    stage: str
    severity: str
    message: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """The finding as it appears under ``stages[].findings`` in the JSON report."""
        return {
            "stage": self.stage,
            "severity": self.severity,
            "message": self.message,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class StageOutcome:
    """What one stage action returns. Returning ``None`` from an action means passed."""

    status: Status = "passed"
    reason: str = ""
    findings: tuple[StageFinding, ...] = ()
    kind: OutcomeKind = "completed"

    @classmethod
    def failed(cls, reason: str, *findings: StageFinding) -> StageOutcome:
        """A failed outcome with its reason and any findings."""
        return cls("failed", reason, tuple(findings))

    @classmethod
    def timed_out(cls, reason: str, *findings: StageFinding) -> StageOutcome:
        """A failed outcome because the stage ran out of time (its span says ``timeout``)."""
        return cls("failed", reason, tuple(findings), kind="timeout")

    @classmethod
    def skipped(cls, reason: str) -> StageOutcome:
        """The action decided there was nothing to do; dependants still run."""
        return cls("skipped", reason)


@dataclass(frozen=True)
class StageContext:
    """What a stage action is given for one attempt."""

    stage: Stage
    attempt: int
    settings: Settings | None
    config: pytest.Config | None
    env: Mapping[str, str]
    rootdir: Path
    timeout: float | None = None
    """Seconds this attempt may take; the runner stops waiting after that (None: no limit)."""

    @property
    def matrix(self) -> Mapping[str, str]:
        """The matrix values of this expanded stage (empty when it has no matrix)."""
        return self.stage.matrix_values


StageAction = Callable[[StageContext], StageOutcome | None]


@dataclass(frozen=True)
class Stage:
    """One node of the stage graph.

    ``action`` is what runs: a callable for built-in and plugin stages, a command built from
    ``run`` for config stages. A built-in stage without an action is run by its subsystem
    (through :func:`pytest_kisys.stages.stage_scope`) or is off in this run.
    """

    name: str
    needs: tuple[str, ...] = ()
    condition: str | None = None
    """The ``if`` expression (see :mod:`pytest_kisys.stages.condition`)."""
    always: bool = False
    retry: Retry = field(default_factory=Retry)
    timeout: float | None = None
    matrix: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    run: tuple[str, ...] = ()
    shell: bool = False
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    severity: str = "high"
    description: str = ""
    action: StageAction | None = field(default=None, compare=False, repr=False)
    source: str = "plugin"
    """Where the stage was declared: ``built-in``, ``kisys.yaml``, a plugin name, ..."""
    base: str = ""
    """For a matrix expansion, the declared name it was expanded from."""
    matrix_values: Mapping[str, str] = field(default_factory=dict)

    @property
    def declared_name(self) -> str:
        """The name as declared (the matrix base for an expanded stage)."""
        return self.base or self.name


@dataclass(frozen=True)
class StageResult:
    """The recorded result of one stage: a row of ``stages`` in the JSON report."""

    name: str
    status: Status
    reason: str = ""
    attempts: int = 0
    started: float | None = None
    ended: float | None = None
    findings: tuple[StageFinding, ...] = ()
    skip_kind: SkipKind | None = None
    source: str = ""
    matrix: Mapping[str, str] = field(default_factory=dict)
    kind: OutcomeKind = "completed"

    @property
    def duration(self) -> float | None:
        """Seconds between start and end (None for a stage that never started)."""
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started

    @property
    def blocks_dependants(self) -> bool:
        """Whether stages needing this one are skipped (unless they are ``always``).

        A failure blocks, and so does a skip caused by an ``if`` or by a failed need. A
        built-in stage that is off in this run, or an action that found nothing to do, does not.
        """
        if self.status == "failed":
            return True
        return self.status == "skipped" and self.skip_kind in ("condition", "needs")

    def to_json(self) -> dict[str, Any]:
        """The row for ``stages`` in the JSON report (times are seconds since the epoch)."""
        return {
            "name": self.name,
            "status": self.status,
            "reason": self.reason,
            "attempts": self.attempts,
            "start": self.started,
            "end": self.ended,
            "duration": self.duration,
            "source": self.source,
            "matrix": dict(self.matrix),
            "findings": [finding.to_json() for finding in self.findings],
        }

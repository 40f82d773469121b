"""The JSON report, schema ``kisys-report/1`` (documented in docs/report-schema.md).

One document per run with everything the subsystems recorded in the
:class:`~pytest_kisys.record.RunRecord` (decisions, installs, checks, stages), a flat list of
counted findings and of inconclusive items across checks, and the verdict. Secret values never
appear: scanner findings carry type, file, line and hash only.
"""

from __future__ import annotations

from collections.abc import Sequence
import datetime as dt
import json
from pathlib import Path
import platform
import sys
from typing import Any

from pytest_kisys._version import __version__
from pytest_kisys.record import RunRecord
from pytest_kisys.report.terminal import verdict
from pytest_kisys.scan.interface import CheckResult
from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.settings import Settings


SCHEMA = "kisys-report/1"


def check_results(record: RunRecord) -> list[CheckResult]:
    """The :class:`CheckResult` objects among the record's checks."""
    return [c for c in record.checks if isinstance(c, CheckResult)]


def build_report(
    record: RunRecord, settings: Settings, *, exit_status: int | None = None
) -> dict[str, Any]:
    """The report document for one run."""
    checks = check_results(record)
    failed, reasons = verdict(checks, settings)
    stages_failed = _failing_stages(record, settings)
    reasons = [
        *reasons,
        *(f"stage {s.name!r} failed the run: {s.reason or 'no reason given'}" for s in stages_failed),
    ]
    findings = [
        {"check": c.kind, **f.to_json()} for c in checks for f in c.findings
    ]
    inconclusive = [{"check": c.kind, **i.to_json()} for c in checks for i in c.inconclusive]
    return {
        "schema": SCHEMA,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tool": {"name": "pytest-kisys", "version": __version__},
        "run": {
            "rootdir": str(settings.rootdir),
            "exit_status": exit_status,
            "level": settings.level,
            "offline": settings.offline,
            "scan": sorted(settings.scan),
            "fail_on": settings.fail_on,
            "allow_inconclusive": settings.allow_inconclusive,
            "python": platform.python_version(),
            "executable": sys.executable,
            "platform": sys.platform,
        },
        "verdict": {
            "checks_failed": failed,
            "stages_failed": [s.name for s in stages_failed],
            "reasons": reasons,
        },
        "decisions": [d.to_json() for d in record.decisions],
        "installs": [i.to_json() for i in record.installs],
        "checks": [c.to_json() for c in record.checks],
        "findings": findings,
        "inconclusive": inconclusive,
        "stages": [s.to_json() for s in record.stages],
        "notes": list(record.notes),
        "cost": record.cost.to_json() if record.cost is not None else None,
    }


def _failing_stages(record: RunRecord, settings: Settings) -> list[Any]:
    """The recorded config and plugin stages whose failure fails the run."""
    from pytest_kisys.stages.model import StageResult

    results = [s for s in record.stages if isinstance(s, StageResult)]
    if not any(s.status == "failed" for s in results):
        return []
    from pytest_kisys.stages.plugin import stage_fails_run

    return [s for s in results if stage_fails_run(s, settings)]


def write_json(path: Path, document: Any, redactor: Redactor | None = None) -> None:
    """Write ``document`` as indented JSON (see :func:`pytest_kisys.outputs.write_output`:
    atomic for regular files, written through for devices and FIFOs, never replacing one).

    Every string goes through ``redactor`` first (the session's; outside pytest, one with the
    redactor's shape and entropy rules), so no report file holds a secret value.

    Raises :class:`~pytest_kisys.outputs.OutputError` naming the path when it cannot be written.
    """
    from pytest_kisys.outputs import write_output

    document = (redactor if redactor is not None else Redactor()).redact_json(document)
    write_output(path, json.dumps(document, indent=2, sort_keys=False) + "\n")


def report_from_checks(
    checks: Sequence[CheckResult], settings: Settings, *, exit_status: int | None = None
) -> dict[str, Any]:
    """A report holding only ``checks`` (what ``kisys scan`` writes)."""
    record = RunRecord()
    for check in checks:
        record.add("checks", check)
    return build_report(record, settings, exit_status=exit_status)

"""``kisys vet NAME... [--json] [--offline] [--level L] [--import] [--inspect]``.

Prints one line per input with the decision and its reasons. Exit status: 0 when every input is
allowed, 1 when any needs confirmation, 2 when any is blocked or invalid. An invalid input is
reported for that input and the rest are still vetted. With ``--import`` the inputs are import
names: each is mapped to its distribution first (``import``/``distribution`` in the JSON).

Without ``--inspect`` the decision rests on the name and the index's data (release age, PEP 792
status, the index set): quick, and possible offline from the cache. With ``--inspect`` the
names are resolved as ``kisys install`` would resolve them for this interpreter, each
requested wheel is downloaded into a temporary directory and inspected (nothing is installed),
and the findings join the decision as they would at install time (high blocks, medium asks).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence
import dataclasses
import json
import sys
from typing import Any
from typing import TYPE_CHECKING

from pytest_kisys.commands._vetargs import add_index_options
from pytest_kisys.commands._vetargs import add_policy_options
from pytest_kisys.commands._vetargs import settings_from
from pytest_kisys.errors import RequirementError
from pytest_kisys.settings import Settings


if TYPE_CHECKING:
    from pytest_kisys.resolve.names import ImportResolution
    from pytest_kisys.vet.interface import VetRequest
    from pytest_kisys.vet.vetter import Vetter


EXIT_ALLOWED, EXIT_CONFIRM, EXIT_BLOCKED = 0, 1, 2


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``vet`` arguments."""
    parser.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help="requirement (name[extras] specifier) or, with --import, import name",
    )
    parser.add_argument("--json", action="store_true", help="print the decisions as JSON")
    parser.add_argument(
        "--import",
        dest="imports",
        action="store_true",
        help="NAMEs are import names: map each to its distribution, then vet",
    )
    parser.add_argument(
        "--inspect",
        action="store_true",
        help="resolve, download (to a temporary directory) and inspect the wheel that would be installed",
    )
    add_index_options(parser)
    add_policy_options(parser)
    parser.epilog = "exit status: 0 all allowed, 1 any needs confirmation, 2 any blocked/invalid"


def _row(
    raw: str, action: str, reasons: Sequence[str], name: str | None = None, **extra: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "input": raw,
        "name": name or raw,
        "version": None,
        "action": action,
        "reasons": list(reasons),
        "evidence": {},
    }
    row.update(extra)
    return row


def _import_resolver(settings: Settings) -> Callable[[str], ImportResolution]:
    """Import name -> its resolution, first-party names of the project included (imported
    only for ``--import``: plain ``kisys vet`` pays for neither module)."""
    from pytest_kisys.resolve.firstparty import detect_first_party
    from pytest_kisys.resolve.names import resolve_import

    first_party = detect_first_party(settings.rootdir)
    return lambda raw: resolve_import(raw, settings, first_party)


def vet_inputs(
    names: Sequence[str], settings: Settings, imports: bool, inspect: bool = False
) -> list[dict[str, Any]]:
    """One result row per input, in order (the JSON output of ``kisys vet``)."""
    from pytest_kisys.vet.interface import Decision
    from pytest_kisys.vet.interface import VetRequest
    from pytest_kisys.vet.vetter import Vetter

    rows: list[dict[str, Any] | None] = [None] * len(names)
    pending: list[tuple[int, VetRequest, dict[str, Any]]] = []
    resolve_import = _import_resolver(settings) if imports else None
    with Vetter(settings) as vetter:
        invalid: list[Decision] = []
        for position, raw in enumerate(names):
            extra: dict[str, Any] = {}
            text = raw
            try:
                if resolve_import is not None:
                    resolution = resolve_import(raw)
                    extra = {"import": raw, "distribution": resolution.distribution, "kind": resolution.kind}
                    if resolution.kind in ("stdlib", "first_party"):
                        what = "standard library" if resolution.kind == "stdlib" else "first-party"
                        rows[position] = _row(
                            raw,
                            "allow",
                            [f"{what} module: nothing to install, never looked up on an index"],
                            **extra,
                        )
                        continue
                    if resolution.distribution is None:
                        rows[position] = _row(
                            raw,
                            "confirm",
                            [
                                f"unknown import {raw!r}: no mapping and not a popular project name; "
                                f"never installed automatically (if it is the distribution "
                                f"{resolution.candidate!r}, map it: --import-map "
                                f"{raw.split('.')[0]}={resolution.candidate})"
                            ],
                            candidate=resolution.candidate,
                            **extra,
                        )
                        continue
                    text = resolution.distribution
                request = dataclasses.replace(VetRequest.of(text, "cli"), installing=False)
                pending.append((position, request, extra))
            except RequirementError as exc:
                invalid.append(
                    Decision(
                        name=raw,
                        version=None,
                        action="block",
                        reasons=(str(exc),),
                        requested_by=("cli",),
                        level=settings.level,
                    )
                )
                rows[position] = _row(raw, "block", [str(exc)], valid=False, **extra)
        vetter.publish(invalid)
        if inspect:
            pending = _inspected(pending, settings, vetter)
        decisions = vetter.vet([request for _, request, _ in pending])
    for (position, _, extra), decision in zip(pending, decisions, strict=True):
        row = decision.to_json()
        row["input"] = names[position]
        row.update(extra)
        rows[position] = row
    return [row for row in rows if row is not None]


def _inspected(
    pending: list[tuple[int, VetRequest, dict[str, Any]]], settings: Settings, vetter: Vetter
) -> list[tuple[int, VetRequest, dict[str, Any]]]:
    """``pending`` with the resolved version and the inspection findings of each wheel; the
    row's ``inspected`` says which wheel it was, or why none was (inconclusive, never clean)."""
    from pytest_kisys.inspect import InspectFinding
    from pytest_kisys.install.batch import requirement_text
    from pytest_kisys.install.preview import preview

    if settings.offline:
        found = None
        why = "offline: no wheel can be downloaded"
    else:
        texts = [requirement_text(request.requirement) for _, request, _ in pending]
        found = preview(settings, texts, lambda: vetter, sys.executable)
        why = found.error or ""
    out = []
    for position, request, extra in pending:
        item = found.items.get(request.name) if found is not None else None
        result = found.inspections.get(request.name) if found is not None else None
        if item is not None and result is not None:
            extra = {**extra, "inspected": {"wheel": result.filename, "worst": result.worst}}
            request = dataclasses.replace(
                request, version=item.version, sha256=item.sha256, inspection=result.findings
            )
        else:
            missing = found.unavailable.get(requirement_text(request.requirement)) if found else None
            reason = why or missing or "already satisfied in this environment: nothing would be installed"
            extra = {**extra, "inspected": {"wheel": None, "why_not": reason}}
            if why or missing:
                # Could not inspect: inconclusive, so a person decides (never reads as clean).
                finding = InspectFinding(
                    "inspect.not-run", "medium", request.name, 0, f"not inspected: {reason}"
                )
                request = dataclasses.replace(request, inspection=(finding,))
        out.append((position, request, extra))
    return out


def exit_code(rows: Sequence[dict[str, Any]]) -> int:
    """2 if anything is blocked/invalid, else 1 if anything needs confirmation, else 0."""
    actions = {row["action"] for row in rows}
    if "block" in actions:
        return EXIT_BLOCKED
    return EXIT_CONFIRM if "confirm" in actions else EXIT_ALLOWED


def render(row: dict[str, Any]) -> str:
    """``cv2 -> opencv-python: allow (whitelisted)``."""
    label = row["input"]
    if "import" in row and row.get("distribution"):
        label = f"{row['import']} -> {row['distribution']}"
    line = f"{label}: {row['action']} ({'; '.join(row['reasons'])})"
    inspected = row.get("inspected") or {}
    if inspected.get("wheel"):
        line += f" [inspected {inspected['wheel']}: {inspected['worst'] or 'no findings'}]"
    return line


def run(args: argparse.Namespace) -> int:
    """Vet the names, print the result, return the exit status."""
    settings = settings_from(args)
    rows = vet_inputs(args.names, settings, args.imports, args.inspect)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        for row in rows:
            print(render(row))
    sys.stdout.flush()
    return exit_code(rows)

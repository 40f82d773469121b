"""``kisys scan [PATH] [--json | --report FILE] [--sarif FILE]``: the checks without pytest.

Same checks, cache, configuration (``[tool.kisys]`` / ``kisys.yaml`` of PATH, environment) and
verdict as ``pytest --kisys``. Exit status: 0 the checks passed, 1 they failed (findings at or
above ``fail_on``, or an inconclusive check without ``allow_inconclusive``), 2 bad usage or
configuration.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
from typing import Any

from pytest_kisys.errors import ConfigError


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``scan`` verb's arguments."""
    parser.add_argument(
        "path", nargs="?", type=Path, default=None, help="project directory (default: current)"
    )
    # --json is a plain flag (JSON on stdout) so that "--json PATH" never takes PATH for an
    # output file; --report FILE writes the same report to a file, like --kisys-report.
    parser.add_argument(
        "--json", action="store_true", help="print the kisys-report/1 JSON report on stdout"
    )
    parser.add_argument(
        "--report", type=Path, default=None, metavar="FILE", help="write the JSON report to FILE"
    )
    parser.add_argument("--sarif", type=Path, default=None, metavar="FILE", help="write SARIF 2.1.0")
    parser.add_argument(
        "--sarif-split", type=Path, default=None, metavar="DIR",
        help="also write one SARIF file per tool into DIR",
    )
    parser.add_argument("--sbom", type=Path, default=None, metavar="FILE", help="write CycloneDX")
    parser.add_argument(
        "--scan", default=None, metavar="LIST",
        help="checks to run: all, none or code,deps,secrets (code:bandit, code:semgrep)",
    )
    parser.add_argument(
        "--fail-on", default=None, metavar="LEVEL", help="low, medium, high, critical or never"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="list every finding")


def run(args: argparse.Namespace) -> int:
    """Run the checks and print the summary (to stderr when the JSON goes to stdout)."""
    from pytest_kisys.report.json_report import report_from_checks
    from pytest_kisys.report.json_report import write_json
    from pytest_kisys.report.terminal import render_checks
    from pytest_kisys.report.terminal import verdict
    from pytest_kisys.scan.runner import run_checks
    from pytest_kisys.settings import for_command

    root = (args.path or Path.cwd()).resolve()
    if not root.is_dir():
        print(f"kisys scan: {root} is not a directory", file=sys.stderr)
        return 2
    cli: dict[str, list[Any]] = {}
    if args.scan is not None:
        cli["scan"] = [args.scan]
    if args.fail_on is not None:
        cli["fail_on"] = [args.fail_on]
    try:
        settings = for_command(cli, root)
    except ConfigError as error:
        print(f"kisys scan: {error}", file=sys.stderr)
        return 2
    from pytest_kisys.outputs import check_output_path
    from pytest_kisys.outputs import OutputError

    outputs = [("--report", args.report), ("--sarif", args.sarif), ("--sbom", args.sbom)]
    try:
        for flag, path in outputs:
            if path is not None:
                check_output_path(path, flag)
    except OutputError as error:
        print(f"kisys scan: {error}", file=sys.stderr)
        return 2
    results = run_checks(settings)
    failed, _ = verdict(results, settings)
    status = 1 if failed else 0
    summary = sys.stderr if args.json else sys.stdout
    for line, _markup in render_checks(results, settings, verbose=args.verbose):
        print(line, file=summary)
    if args.json:
        json.dump(report_from_checks(results, settings, exit_status=status), sys.stdout, indent=2)
        sys.stdout.write("\n")
    try:
        if args.report is not None:
            write_json(args.report, report_from_checks(results, settings, exit_status=status))
        if args.sarif is not None:
            from pytest_kisys.report.sarif import build_sarif

            write_json(args.sarif, build_sarif(results, settings))
        if args.sarif_split is not None:
            from pytest_kisys.report.sarif import split_sarif

            for name, log in split_sarif(results, settings).items():
                write_json(args.sarif_split / name, log)
        if args.sbom is not None:
            from pytest_kisys.report.cyclonedx import build_sbom

            write_json(args.sbom, build_sbom(results, settings.rootdir))
    except OutputError as error:
        print(f"kisys scan: {error}", file=sys.stderr)
        return 2
    return status

"""``kisys install NAME...``: vet and install requirements in one consented batch.

The same path as ``pytest --kisys``: settings from the command line, the environment,
``[tool.kisys]`` and ``kisys.yaml``; the whole transitive set is vetted; one question at a
real terminal (or "no" where nobody can answer); installed by hash, rolled back on failure.

Exit codes: 0 everything installed or already there; 1 something was denied or refused;
2 bad input, bad configuration, or the batch failed (the environment was restored).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
import sys
from typing import TYPE_CHECKING

from pytest_kisys.errors import ConfigError


if TYPE_CHECKING:
    from pytest_kisys.install.interface import BatchResult
    from pytest_kisys.install.interface import InstallRequest
    from pytest_kisys.settings import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``install`` verb's options."""
    parser.add_argument("requirements", nargs="+", metavar="NAME", help="requirements by name")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter whose environment receives the packages (default: this one)",
    )
    parser.add_argument("--level", choices=("paranoid", "balanced", "autonomous"))
    parser.add_argument("--allow", action="append", default=[], metavar="NAME")
    parser.add_argument("--deny", action="append", default=[], metavar="NAME")
    parser.add_argument("--offline", action="store_true", default=None)
    parser.add_argument("--backend", choices=("pip", "uv", "auto"))
    parser.add_argument("--learn", action="store_true", default=None)
    parser.add_argument("--index-url", help="package index to resolve and vet against")
    parser.add_argument("--rootdir", type=Path, default=None, help="project with the config")
    parser.add_argument("--json", action="store_true", help="print the batch result as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    """Install ``args.requirements``; see the module docstring for exit codes."""
    from pytest_kisys.install import earlyprobe

    # The target's environment probe (an interpreter start-up) runs while the rest imports.
    earlyprobe.start(args.python)
    try:
        return _run(args)
    finally:
        earlyprobe.discard()


def _run(args: argparse.Namespace) -> int:
    from pytest_kisys.settings import for_command

    cli: dict[str, list[object]] = {}
    for key in ("level", "offline", "backend", "learn"):
        value = getattr(args, key)
        if value is not None:
            cli[key] = [value]
    if args.allow:
        cli["allow"] = list(args.allow)
    if args.deny:
        cli["deny"] = list(args.deny)
    try:
        settings = for_command(cli, args.rootdir)
    except ConfigError as error:
        print(f"kisys install: {error}", file=sys.stderr)
        return 2
    if args.index_url and not args.index_url.startswith(("http://", "https://")):
        print(
            f"kisys install: --index-url {args.index_url!r} is not an http:// or https:// URL "
            "of a simple package index",
            file=sys.stderr,
        )
        return 2
    if args.index_url:
        import dataclasses

        settings = dataclasses.replace(
            settings, index=dataclasses.replace(settings.index, url=args.index_url)
        )

    def progress(line: str) -> None:
        if not args.quiet:
            print(f"kisys: {line}", file=sys.stderr, flush=True)

    from pytest_kisys.errors import RequirementError
    from pytest_kisys.install.interface import InstallRequest
    from pytest_kisys.vet.requirements import parse_requirement

    for text in args.requirements:
        try:
            parse_requirement(text)
        except RequirementError as error:
            print(f"kisys install: {error}", file=sys.stderr)
            return 2
    requests = [InstallRequest(text, "kisys install (command line)") for text in args.requirements]
    result = _install(settings, args.python, progress, requests)
    if args.json:
        import json

        print(json.dumps(result.to_json(), indent=2))
    else:
        print(render(result))
    if result.error is not None:
        return 2
    return 0 if result.ok else 1


def _install(
    settings: Settings, python: str, progress: Callable[[str], None], requests: list[InstallRequest]
) -> BatchResult:
    """The batch through the resolve pipeline, as ``pytest --kisys`` runs it; for another
    interpreter, through the installer it hands the batch to.

    What the pipeline adds around the installer concerns only the running interpreter (an
    overlay it can reuse, its import caches and name tables), and importing it costs
    ``kisys install --python OTHER`` a tenth of a second.
    """
    from pytest_kisys.install.environment import is_running_interpreter

    if is_running_interpreter(python):
        from pytest_kisys.resolve.pipeline import ResolvePipeline

        pipeline = ResolvePipeline(
            settings, rootdir=settings.rootdir, python=python, progress=progress, verb="install"
        )
        return pipeline.install_requests(requests)
    from pytest_kisys.install import uvcompile

    # uv's resolver starts as soon as the probe answers, while the installer imports.
    uvcompile.start(settings, python, [request.requirement for request in requests])
    try:
        from pytest_kisys.install.installer import Installer

        installer = Installer(settings, python=python, progress=progress, verb="install")
        try:
            return installer.install(requests)
        finally:
            installer.close()
    finally:
        uvcompile.discard()


def render(result: BatchResult) -> str:
    """The human summary of one batch."""
    lines: list[str] = []
    for item in result.installed:
        lines.append(f"installed {item.name} {item.version} (sha256 {item.sha256[:12]}...)")
    for requirement in result.satisfied:
        lines.append(f"already satisfied: {requirement}")
    for change in result.refused:
        lines.append(f"refused: {change.reason}")
    for denied in result.denied:
        version = f" {denied.version}" if denied.version else ""
        lines.append(f"denied {denied.name}{version}: {denied.reason}")
        if denied.hint:
            lines.append(f"  to allow it: {denied.hint}")
    for note in result.notes:
        lines.append(f"note: {note}")
    if result.error:
        lines.append(f"error: {result.error}")
    if not lines:
        lines.append("nothing to do")
    return "\n".join(lines)

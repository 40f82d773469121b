"""The ``kisys`` console script: the same engine as the plugin, without pytest.

Each verb lives in its own module under :mod:`pytest_kisys.commands` exposing
``configure(parser)`` and ``run(args) -> int``; this module only dispatches, and imports a
verb's module only when that verb is used. Exit codes: 0 success, 1 findings or decisions
that need confirmation, 2 usage errors, blocked or invalid input, and verbs not available yet.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import importlib
import os
import sys
from typing import NamedTuple

from pytest_kisys._version import __version__


class Verb(NamedTuple):
    """One ``kisys`` verb: its module (None while its issue has not landed) and help text."""

    module: str | None
    help: str


VERBS: dict[str, Verb] = {
    "vet": Verb("pytest_kisys.commands.vet", "vet package names against the security policy"),
    "install": Verb("pytest_kisys.commands.install", "vet and install packages in one consented batch"),
    "scan": Verb("pytest_kisys.commands.scan", "run the code, dependency and secret checks"),
    "stages": Verb("pytest_kisys.commands.stages", "show the workflow stage graph (text or --dot)"),
    "dashboard": Verb(
        "pytest_kisys.commands.dashboard", "serve the run history: REST API, WebSocket and web page"
    ),
    "db": Verb("pytest_kisys.commands.db", "refresh or show the known-malicious list"),
    "tools": Verb("pytest_kisys.commands.tools", "show, create, update or remove the scanners' environment"),
}


def _verb_of(argv: Sequence[str]) -> str | None:
    """The verb ``argv`` asks for: its first word that is not an option (top-level options
    take no value), when that word is a verb."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg if arg in VERBS else None
    return None


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per verb.

    Only ``verb``'s own arguments are added (which imports its module): start-up pays for the
    one verb being run, not for every verb's imports (``kisys --help`` imports none).
    """
    parser = argparse.ArgumentParser(
        prog="kisys",
        description="pytest-kisys: vetted installs, security checks and stages, outside pytest.",
    )
    parser.add_argument("--version", action="version", version=f"kisys {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name, spec in VERBS.items():
        verb_parser = sub.add_parser(name, help=spec.help, description=spec.help)
        if spec.module is None:
            verb_parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        elif name == verb:
            importlib.import_module(spec.module).configure(verb_parser)
    return parser


def _forget_interrupt() -> None:
    """Clear CPython's "a Ctrl-C went unhandled" flag once the verb's Ctrl-C is handled here.

    CPython sets that process-wide flag whenever a :class:`KeyboardInterrupt` leaves code run
    by ``exec()`` or ``eval()`` of a string, even when a caller catches it; dataclasses and
    namedtuples build their methods that way, so a Ctrl-C during an import (the installer's,
    while the early ``uv pip compile`` runs) lands there now and then. After
    ``python -m pytest_kisys`` the interpreter then kills itself with SIGINT (Modules/main.c
    ``exit_sigint``) and the exit 130 is lost (the console script exits through ``Py_Exit``,
    which never looks). Every ``exec()`` of a string clears the flag before it runs: CPython
    3.9 to 3.13.
    """
    exec("")  # noqa: S102  # nosec B102 - an empty constant program, for its side effect above


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kisys`` console script; returns the process exit code."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_verb_of(arguments))
    args = parser.parse_args(arguments)
    if args.verb is None:
        parser.print_help()
        return 2
    verb = VERBS[args.verb]
    if verb.module is None:
        print(
            f"kisys {args.verb}: not available yet in kisys {__version__} ({verb.help}).",
            file=sys.stderr,
        )
        return 2
    try:
        code: int = importlib.import_module(verb.module).run(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        _forget_interrupt()
        print(f"kisys {args.verb}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # "kisys vet --json | head": the reader left. Python would print a traceback when it
        # flushes stdout at exit; point stdout at /dev/null and exit like a SIGPIPE'd tool.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return code


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    raise SystemExit(main())

"""``kisys tools [status|create|update|remove]``: kisys's own environment for the scanners.

``status`` lists the tool environments under the cache directory and says, per scanner, where
a check would run it from (the environment under test wins). ``create`` builds the current
lock's environment if it is missing (vetted, hash-checked; with uv when present), ``update``
rebuilds it and removes environments of older locks, ``remove`` deletes them all. Exit status 0
on success, 2 when the environment could not be built (offline, blocked, index unreachable).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import TYPE_CHECKING

from pytest_kisys.commands._vetargs import add_index_options
from pytest_kisys.commands._vetargs import add_policy_options
from pytest_kisys.commands._vetargs import settings_from
from pytest_kisys.errors import ToolError


if TYPE_CHECKING:
    from pytest_kisys.tools import ToolEnvironment


if TYPE_CHECKING:
    pass


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``tools`` actions."""
    parser.add_argument(
        "action", nargs="?", default="status", choices=("status", "create", "update", "remove"),
        help="what to do (default: status)",
    )
    parser.add_argument("--pip", action="store_true", help="build with venv and pip even when uv is present")
    add_index_options(parser)
    add_policy_options(parser)


def _status(env: ToolEnvironment) -> int:
    from pytest_kisys.tools import TOOLS
    from pytest_kisys.tools.lookup import in_environment

    listed = env.status()
    if not listed or not listed[0].current:
        print(f"kisys tool environment: not built ({env.path}); kisys tools create builds it")
    for item in listed:
        when = dt.datetime.fromtimestamp(item.created).isoformat(timespec="seconds") if item.created else "-"
        state = "ready" if item.ready else ("incomplete" if item.current else "old lock")
        print(f"{item.path}: {state}, built {when} with {item.installer or '?'}")
    for name, spec in TOOLS.items():
        here = in_environment(name)
        if here is not None:
            print(f"  {name}: {here.version} from the environment under test ({here.python})")
        elif env.version_of(spec.distribution):
            print(f"  {name}: {env.version_of(spec.distribution)} from the kisys tool environment")
        else:
            print(f"  {name}: not available (the check would be inconclusive)")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run one ``tools`` action."""
    from pytest_kisys.tools import ToolEnvironment

    settings = settings_from(args)
    try:
        env = ToolEnvironment.for_settings(settings)
        if args.action == "status":
            return _status(env)
        if args.action == "remove":
            removed = env.remove(everything=True)
            print(f"kisys tools: removed {len(removed)} environment(s)")
            for path in removed:
                print(f"  {path}")
            return 0
        if args.action == "update":
            env.remove(everything=True)  # older locks' environments, and a rebuild of this one
        status = env.create(settings, uv=False if args.pip else True)
    except ToolError as exc:
        print(f"kisys tools {args.action}: {exc}", file=sys.stderr)
        return 2
    print(f"kisys tools: {status.path} ready ({status.installer})")
    return 0

"""``kisys tools [status|create|update|remove|overlays|prune]``: kisys's own environments.

``status`` lists the tool environments under the cache directory and says, per scanner, where
a check would run it from (the environment under test wins). ``create`` builds the current
lock's environment if it is missing (vetted, hash-checked; with uv when present), ``update``
rebuilds it and removes environments of older locks, ``remove`` deletes them all.
``overlays`` lists the overlays of ``--kisys-isolate`` runs, ``prune`` removes those unused for
``--older-than`` days (all of them without it). Exit status 0
on success, 2 when the environment could not be built (offline, blocked, index unreachable).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
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
        "action", nargs="?", default="status",
        choices=("status", "create", "update", "remove", "overlays", "prune"),
        help="what to do (default: status)",
    )
    parser.add_argument("--pip", action="store_true", help="build with venv and pip even when uv is present")
    parser.add_argument(
        "--older-than", type=float, metavar="DAYS", help="prune: only overlays unused for DAYS days"
    )
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
    if args.action in ("overlays", "prune"):
        return _overlays(settings.resolved_cache_dir(), args)
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


def _overlays(cache_dir: Path, args: argparse.Namespace) -> int:
    from pytest_kisys.install.overlay import OverlayStore

    store = OverlayStore(cache_dir)
    if args.action == "prune":
        removed = store.prune(args.older_than)
        print(f"kisys tools prune: removed {len(removed)} overlay(s)")
        for path in removed:
            print(f"  {path}")
        return 0
    listed = store.overlays()
    if not listed:
        print(f"no overlays under {store.root}")
    for overlay in listed:
        used = dt.datetime.fromtimestamp(overlay.last_used).isoformat(timespec="seconds")
        items = ", ".join(f"{n}=={v}" for n, v in overlay.items)
        print(f"{overlay.path}: last used {used}; {items}")
    return 0

"""Command-line options shared by ``kisys vet`` and ``kisys db``, turned into :class:`Settings`.

The flags are one source among the plugin's: :func:`settings_from` resolves them with the
environment and the project's configuration files through the shared resolver.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from pytest_kisys.options import LEVELS
from pytest_kisys.settings import Settings


def add_index_options(parser: argparse.ArgumentParser) -> None:
    """``--index-url``, ``--cert``, ``--timeout``, ``--cache-dir``, ``--offline``."""
    parser.add_argument("--index-url", help="simple index URL (default: pip's configured index)")
    parser.add_argument("--cert", help="CA bundle for the index (default: pip's cert setting)")
    parser.add_argument("--timeout", type=float, help="seconds per request (default: 10)")
    parser.add_argument("--cache-dir", type=Path, help="cache directory (default: XDG cache)")
    parser.add_argument("--offline", action="store_true", help="no network: bundled data and the cache only")
    parser.add_argument(
        "--rootdir", type=Path, help="project whose [tool.kisys]/kisys.yaml apply (default: here)"
    )


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """``--level``, ``--allow``, ``--deny``, ``--log-file``, ``--import-map``."""
    parser.add_argument("--level", choices=LEVELS, help="security level (default: balanced)")
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="NAME",
        help="whitelist NAME for this run (repeatable)",
    )
    parser.add_argument("--deny", action="append", default=[], metavar="NAME", help="block NAME (repeatable)")
    parser.add_argument("--log-file", type=Path, help="append decisions as JSON lines here")
    parser.add_argument(
        "--import-map",
        action="append",
        default=[],
        metavar="IMPORT=DIST",
        help="map an import name to a distribution (repeatable)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """The verb's settings through :func:`~pytest_kisys.settings.for_command`.

    The same sources and precedence as the plugin: these flags, then ``KISYS_*``, then
    ``[tool.kisys]`` / ``kisys.yaml`` of ``--rootdir`` (default: the current directory). Bad
    configuration exits with status 2 and the message naming the value and its source.
    """
    import dataclasses

    from pytest_kisys.errors import ConfigError
    from pytest_kisys.settings import for_command

    url = getattr(args, "index_url", None)
    if url and not url.startswith(("http://", "https://")):
        print(
            f"kisys: --index-url {url!r} is not an http:// or https:// URL of a simple package "
            "index",
            file=sys.stderr,
        )
        raise SystemExit(2)  # a usage error, like argparse's
    cli: dict[str, list[object]] = {}
    import_map: dict[str, str] = {}
    for item in getattr(args, "import_map", None) or ():
        module, sep, dist = item.partition("=")
        if not sep or not module.strip() or not dist.strip():
            raise SystemExit(f"kisys: --import-map {item!r}: accepted: IMPORT=DISTRIBUTION")
        import_map[module.strip()] = dist.strip()
    if import_map:
        cli["import_map"] = [import_map]
    for key in ("level", "log_file", "cache_dir"):
        if getattr(args, key, None) is not None:
            value = getattr(args, key)
            cli[key] = [str(Path(value).absolute()) if isinstance(value, Path) else value]
    if getattr(args, "offline", False):
        cli["offline"] = [True]
    for key in ("allow", "deny"):
        if getattr(args, key, None):
            cli[key] = list(getattr(args, key))
    try:
        settings = for_command(cli, getattr(args, "rootdir", None))
    except ConfigError as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from error
    # The index flags override single fields of the configured index table.
    given = {
        field: getattr(args, flag)
        for flag, field in (("index_url", "url"), ("cert", "cert"), ("timeout", "timeout"))
        if getattr(args, flag, None) is not None
    }
    if not given:
        return settings
    named = ("index_url", "cert", "timeout")
    flags = ", ".join(f"--{f.replace('_', '-')}" for f in named if getattr(args, f, None) is not None)
    return dataclasses.replace(
        settings,
        index=dataclasses.replace(settings.index, **given),
        sources={**settings.sources, "index": f"command line {flags}"},
    )

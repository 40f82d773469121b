"""Command-line options shared by ``kisys vet`` and ``kisys db``, turned into :class:`Settings`.

Until the shared settings resolver serves the console script, these verbs build ``Settings``
from their own flags (``--index-url``, ``--cache-dir``, ...) and record the flag as the source.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from pytest_kisys.options import LEVELS
from pytest_kisys.settings import IndexSettings
from pytest_kisys.settings import Settings


def add_index_options(parser: argparse.ArgumentParser) -> None:
    """``--index-url``, ``--cert``, ``--timeout``, ``--cache-dir``, ``--offline``."""
    parser.add_argument("--index-url", help="simple index URL (default: pip's configured index)")
    parser.add_argument("--cert", help="CA bundle for the index (default: pip's cert setting)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--cache-dir", type=Path, help="cache directory (default: XDG cache)")
    parser.add_argument("--offline", action="store_true", help="no network: bundled data and the cache only")


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """``--level``, ``--allow``, ``--deny``, ``--log-file``, ``--import-map``."""
    parser.add_argument("--level", choices=LEVELS, default="balanced", help="security level")
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
    """Settings from the parsed flags (missing flags keep their defaults)."""
    sources: dict[str, str] = {}
    url = getattr(args, "index_url", None)
    if url and not url.startswith(("http://", "https://")):
        print(
            f"kisys: --index-url {url!r} is not an http:// or https:// URL of a simple package "
            "index",
            file=sys.stderr,
        )
        raise SystemExit(2)  # a usage error, like argparse's
    import_map: dict[str, str] = {}
    for item in getattr(args, "import_map", []):
        module, sep, dist = item.partition("=")
        if not sep or not module.strip() or not dist.strip():
            raise SystemExit(f"kisys: --import-map {item!r}: accepted: IMPORT=DISTRIBUTION")
        import_map[module.strip()] = dist.strip()
    for flag, key in (
        ("index_url", "index"),
        ("cert", "index"),
        ("allow", "allow"),
        ("deny", "deny"),
        ("level", "level"),
        ("offline", "offline"),
    ):
        if getattr(args, flag, None):
            sources[key] = f"command line --{flag.replace('_', '-')}"
    return Settings(
        enabled=True,
        level=getattr(args, "level", "balanced"),
        offline=bool(getattr(args, "offline", False)),
        allow=tuple(getattr(args, "allow", ())),
        deny=tuple(getattr(args, "deny", ())),
        import_map=import_map,
        index=IndexSettings(url=args.index_url, cert=args.cert, timeout=args.timeout),
        cache_dir=args.cache_dir,
        log_file=getattr(args, "log_file", None),
        sources=sources,
    )

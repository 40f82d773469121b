"""``kisys db update --from URL`` and ``kisys db status``: the known-malicious list.

``update`` downloads an OSV-format source and stores the PyPI ``MAL-`` names as an overlay in
the cache directory (used together with the bundled list). Exit status 0 on success, 2 on a
failure (offline, unreachable, not OSV) with the current list kept.
"""

from __future__ import annotations

import argparse
import sys

from pytest_kisys.commands._vetargs import add_index_options
from pytest_kisys.commands._vetargs import settings_from
from pytest_kisys.errors import IndexClientError


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``db`` sub-commands."""
    parser.add_argument("action", choices=("update", "status"), help="what to do")
    parser.add_argument(
        "--from",
        dest="source",
        metavar="URL",
        help="OSV source: zip of records (osv.dev PyPI/all.zip) or JSON",
    )
    add_index_options(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``db update`` or ``db status``."""
    from pytest_kisys.vet.data import bundled_malicious
    from pytest_kisys.vet.data import known_malicious
    from pytest_kisys.vet.data import overlay_path

    settings = settings_from(args)
    cache_dir = settings.resolved_cache_dir()
    if args.action == "status":
        overlay = overlay_path(cache_dir)
        print(f"bundled malicious names: {len(bundled_malicious())}")
        if overlay.is_file():
            header = [line for line in overlay.read_text("utf-8").splitlines()[:4]]
            print(f"overlay {overlay}: " + " ".join(h.lstrip("# ") for h in header[1:]))
        else:
            print(f"overlay {overlay}: none (run kisys db update --from URL)")
        print(f"effective malicious names: {len(known_malicious(cache_dir))}")
        return 0
    if not args.source:
        print("kisys db update: --from URL is required (an OSV zip or JSON source)", file=sys.stderr)
        return 2
    if settings.offline:
        print("kisys db update: needs the network; --offline given, current list kept", file=sys.stderr)
        return 2
    from pytest_kisys.vet.osvdb import update
    from pytest_kisys.vet.pipconfig import redact

    try:
        total, new = update(args.source, cache_dir, settings.index.timeout, settings.index.cert)
    except IndexClientError as exc:
        print(f"kisys db update: {redact(str(exc))}; current list kept", file=sys.stderr)
        return 2
    print(
        f"kisys db update: {total} malicious PyPI names from {redact(args.source)} "
        f"({new} not in the bundled list); stored in {overlay_path(cache_dir)}"
    )
    return 0

"""``kisys dashboard [--history URL] [--port P] [--host H] [--token T]``: serve the run history.

Binds 127.0.0.1 by default. Any other host requires a token: ``--token``, or one generated and
printed once; REST and the WebSocket then refuse requests without it. Needs the ``dashboard``
extra (Starlette, uvicorn, SQLAlchemy, Alembic).
"""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path
import secrets
import sys


DEFAULT_PORT = 8765


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``dashboard`` verb's options."""
    parser.add_argument(
        "--history",
        metavar="URL",
        default=None,
        help="history store (default: history_url, else <rootdir>/.kisys/history.db)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--token",
        default=None,
        help="require this token on every request (generated when --host is not loopback)",
    )
    parser.add_argument(
        "--rootdir",
        type=Path,
        default=None,
        help="project whose settings name the history (default: current directory)",
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback name or address (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_for(host: str, given: str | None) -> tuple[str | None, bool]:
    """The token to require, and whether it was generated (a non-loopback host needs one)."""
    if given:
        return given, False
    if is_loopback(host):
        return None, False
    # hex, not urlsafe: a urlsafe token can start with '-', which argparse then reads as an option
    return secrets.token_hex(24), True


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; 2 for a missing extra, bad settings or an unusable store."""
    from pytest_kisys.errors import ConfigError
    from pytest_kisys.errors import HistoryError

    try:
        import uvicorn

        from pytest_kisys.dashboard.app import create_app
        from pytest_kisys.dashboard.queries import Reader
        from pytest_kisys.history import history_url
        from pytest_kisys.history.sa_store import connect
    except ImportError as exc:
        print(
            f"kisys dashboard: needs the dashboard extra: pip install 'pytest-kisys[dashboard]' ({exc})",
            file=sys.stderr,
        )
        return 2
    from pytest_kisys.settings import for_command

    try:
        settings = for_command({"history_url": [args.history]} if args.history else {}, args.rootdir)
        url = history_url(settings)
        engine = connect(url)
    except (ConfigError, HistoryError) as exc:
        print(f"kisys dashboard: {exc}", file=sys.stderr)
        return 2
    token, generated = token_for(args.host, args.token)
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    address = f"http://{shown_host}:{args.port}/"
    print(f"kisys dashboard: history {engine.url.render_as_string(hide_password=True)}", flush=True)
    if generated:
        print(f"kisys dashboard: {args.host} is not loopback; token (shown once): {token}", flush=True)
    print(f"kisys dashboard: serving {address}" + ("?token=..." if token else ""), flush=True)
    app = create_app(Reader(engine), token)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        ws="websockets-sansio" if _has_sansio() else "auto",
    )
    return 0


def _has_sansio() -> bool:
    """uvicorn 0.35+ ships a sans-I/O websockets protocol that avoids deprecated APIs."""
    from importlib.util import find_spec

    return find_spec("uvicorn.protocols.websockets.websockets_sansio_impl") is not None

"""The one base for the tests' loopback servers (index, OSV, OTLP, Vault, Key Vault, proxy).

socketserver listens with a backlog of 5: a burst of parallel clients (uv and kisys looking up
and downloading at once, the OSV audit fetching records a few at a time) overflows it, the
kernel drops the extra SYNs (``TcpExtListenOverflows``) and each of those clients waits 1 s for
its retry. Every server here takes 128 and serves each connection on a daemon thread.

:class:`LoopbackHandler` answers with TCP_NODELAY, as a real server does: http.server writes
the headers and the body in two writes, and with Nagle's algorithm the body waited for the
client's delayed ACK (about 40 ms per answer on Linux loopback). It keeps the access log quiet.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
import socketserver
from typing import Any


BACKLOG = 128


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server with a deep listen backlog and daemon handler threads."""

    daemon_threads = True
    request_queue_size = BACKLOG


class LoopbackTCPServer(socketserver.ThreadingTCPServer):
    """A threading TCP server (the CONNECT proxy) with the same backlog and daemon threads."""

    daemon_threads = True
    request_queue_size = BACKLOG


class LoopbackHandler(BaseHTTPRequestHandler):
    """A request handler that answers with TCP_NODELAY and writes no access log."""

    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Keep test output quiet."""

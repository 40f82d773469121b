"""The one base for the tests' loopback servers (index, OSV, OTLP, Vault, Key Vault, proxy).

socketserver listens with a backlog of 5: a burst of parallel clients (uv and kisys looking up
and downloading at once, the OSV audit fetching records a few at a time) overflows it, the
kernel drops the extra SYNs (``TcpExtListenOverflows``) and each of those clients waits 1 s for
its retry. Every server here takes 128 and serves each connection on a daemon thread.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer
import socketserver


BACKLOG = 128


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server with a deep listen backlog and daemon handler threads."""

    daemon_threads = True
    request_queue_size = BACKLOG


class LoopbackTCPServer(socketserver.ThreadingTCPServer):
    """A threading TCP server (the CONNECT proxy) with the same backlog and daemon threads."""

    daemon_threads = True
    request_queue_size = BACKLOG

"""A loopback Azure Key Vault: the get-secret REST API behind its challenge-based bearer flow.

Three small servers on 127.0.0.1, so the real ``azure-keyvault-secrets`` client with
``DefaultAzureCredential`` runs exactly as a user configures it:

* **the vault** (HTTPS, certificate for ``kisys-test.vault.azure.net`` from a trustme CA):
  ``GET /secrets/<name>[/<version>]?api-version=...`` without a token answers 401 with the
  ``WWW-Authenticate: Bearer authorization=..., resource="https://vault.azure.net"`` challenge;
  with the right bearer token it returns ``{"value", "id", "attributes"}``, 403 ``Forbidden``
  for a secret the identity may not read, 404 ``SecretNotFound`` otherwise;
* **a CONNECT proxy** (``HTTPS_PROXY``): the vault's real host name is kept, so the client's
  challenge-resource check (vault host must be under ``vault.azure.net``) holds unchanged;
* **a managed-identity endpoint** (App Service style: ``IDENTITY_ENDPOINT`` +
  ``IDENTITY_HEADER``), one of the sources ``DefaultAzureCredential`` discovers by itself.

Published as the session fixture ``key_vault``; ``key_vault.environ`` is what a test sets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
import json
from pathlib import Path
import select
import socket
import socketserver
import ssl
import threading
import time
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest

from tests.support.loopback import LoopbackHandler
from tests.support.loopback import LoopbackHTTPServer
from tests.support.loopback import LoopbackTCPServer


VAULT_HOST = "kisys-test.vault.azure.net"
ACCESS_TOKEN = "kv-access-token-for-tests"  # noqa: S105 - a test token
IDENTITY_HEADER = "identity-header-for-tests"
CHALLENGE = (
    'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", '
    'resource="https://vault.azure.net"'
)


@dataclass
class KeyVault:
    """What the servers hold and saw."""

    secrets: dict[str, str] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    tunnels: list[str] = field(default_factory=list)
    environ: dict[str, str] = field(default_factory=dict)
    vault_url: str = f"https://{VAULT_HOST}"


def _send_json(
    handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Type", "application/json; charset=utf-8")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _vault_handler(vault: KeyVault) -> type[BaseHTTPRequestHandler]:
    class Handler(LoopbackHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            auth = self.headers.get("Authorization")
            host = self.headers.get("Host")
            vault.requests.append({"path": parts.path, "authorization": auth, "host": host})
            if auth is None:
                _send_json(self, 401, {"error": {"code": "Unauthorized", "message": "AKV10000"}},
                           {"WWW-Authenticate": CHALLENGE})
                return
            if auth != f"Bearer {ACCESS_TOKEN}":
                _send_json(self, 401, {"error": {"code": "Unauthorized", "message": "AKV10022: bad token"}},
                           {"WWW-Authenticate": CHALLENGE})
                return
            segments = [s for s in parts.path.split("/") if s]
            if len(segments) < 2 or segments[0] != "secrets":
                _send_json(self, 404, {"error": {"code": "NotFound", "message": "no such API"}})
                return
            name = segments[1]
            if name in vault.forbidden:
                message = f"The user does not have secrets get permission on key vault for {name}"
                _send_json(self, 403, {"error": {"code": "Forbidden", "message": message}})
                return
            if name not in vault.secrets:
                message = f"A secret with (name/id) {name} was not found in this key vault."
                _send_json(self, 404, {"error": {"code": "SecretNotFound", "message": message}})
                return
            version = segments[2] if len(segments) > 2 else "0123456789abcdef"
            _send_json(self, 200, {
                "value": vault.secrets[name],
                "id": f"https://{VAULT_HOST}/secrets/{name}/{version}",
                "attributes": {"enabled": True, "created": 1700000000, "updated": 1700000000,
                               "recoveryLevel": "Recoverable+Purgeable"},
                "tags": {},
            })

    return Handler


def _identity_handler(vault: KeyVault) -> type[BaseHTTPRequestHandler]:
    class Handler(LoopbackHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            vault.token_requests.append({"path": parts.path, **query})
            if self.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
                _send_json(self, 401, {"error": "invalid identity header"})
                return
            expires = int(time.time()) + 3600
            _send_json(self, 200, {
                "access_token": ACCESS_TOKEN,
                "expires_on": str(expires),
                "expires_in": 3600,
                "resource": query.get("resource", ""),
                "token_type": "Bearer",
                "client_id": "00000000-0000-0000-0000-00000000abcd",
            })

    return Handler


class _Tunnel(socketserver.BaseRequestHandler):
    """``CONNECT host:443``: answer 200, then relay bytes to the vault server."""

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        target = head.split(b" ", 2)[1].decode()
        server: Any = self.server
        server.vault.tunnels.append(target)
        upstream = socket.create_connection(("127.0.0.1", server.vault_port))
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        peers = {self.request: upstream, upstream: self.request}
        try:
            while True:
                ready, _, _ = select.select(list(peers), [], [], 30)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        finally:
            upstream.close()


def _serve(server: socketserver.BaseServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


@pytest.fixture(scope="session")
def key_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyVault]:
    """A Key Vault stand-in reachable as ``https://kisys-test.vault.azure.net`` through a proxy."""
    import trustme

    vault = KeyVault(secrets={"db-password": "azure-kv-value-M2"}, forbidden={"locked"})
    ca = trustme.CA()
    cert = ca.issue_cert(VAULT_HOST)
    ca_file = Path(tmp_path_factory.mktemp("keyvault")) / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)

    https = LoopbackHTTPServer(("127.0.0.1", 0), _vault_handler(vault))
    https.socket = context.wrap_socket(https.socket, server_side=True)
    identity = LoopbackHTTPServer(("127.0.0.1", 0), _identity_handler(vault))
    proxy = LoopbackTCPServer(("127.0.0.1", 0), _Tunnel)
    proxy.vault = vault  # type: ignore[attr-defined]
    proxy.vault_port = https.server_address[1]  # type: ignore[attr-defined]
    for server in (https, identity, proxy):
        _serve(server)
    vault.environ = {
        "HTTPS_PROXY": f"http://127.0.0.1:{proxy.server_address[1]}",
        "NO_PROXY": "127.0.0.1,localhost",
        "REQUESTS_CA_BUNDLE": str(ca_file),
        "IDENTITY_ENDPOINT": f"http://127.0.0.1:{identity.server_address[1]}/msi/token",
        "IDENTITY_HEADER": IDENTITY_HEADER,
    }
    yield vault
    for server in (https, identity, proxy):
        server.shutdown()
        server.server_close()

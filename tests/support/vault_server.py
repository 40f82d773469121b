"""A loopback server speaking the parts of the Vault HTTP API that hvac's KV clients use.

No Vault-compatible server installs from PyPI, Debian or npm, so this stands in for one:

* ``GET /v1/<mount>/data/<path>`` on a KV version 2 mount returns
  ``{"data": {"data": {...}, "metadata": {...}}}``;
* ``GET /v1/<mount>/<path>`` on a KV version 1 mount returns ``{"data": {...}}``;
* the ``X-Vault-Token`` header must hold a known token, else 403 ``permission denied``
  (Vault's answer to a missing or bad token); a token's policy may deny paths (403 too);
* an unknown mount or path is 404 with ``{"errors": []}``, as Vault answers.

Every request's path, token and ``X-Vault-Namespace`` header is kept in ``server.requests``.
Published as the session fixture ``vault_server``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
import json
import threading
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.loopback import LoopbackHandler
from tests.support.loopback import LoopbackHTTPServer


ROOT_TOKEN = "hvs.test-root-token"
LIMITED_TOKEN = "hvs.test-limited-token"


@dataclass
class VaultServer:
    """KV mounts (``name -> (version, {path: data})``), tokens and their denied path prefixes."""

    mounts: dict[str, tuple[int, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    tokens: dict[str, tuple[str, ...]] = field(default_factory=dict)
    requests: list[dict[str, str | None]] = field(default_factory=list)
    url: str = ""

    def answer(self, path: str, token: str | None, namespace: str | None) -> tuple[int, dict[str, Any]]:
        """The status and JSON body Vault would send for ``GET path``."""
        self.requests.append({"path": path, "token": token, "namespace": namespace})
        if not path.startswith("/v1/"):
            return 404, {"errors": []}
        rest = path[len("/v1/"):].strip("/")
        if token not in self.tokens:
            return 403, {"errors": ["permission denied"]}
        if any(rest.startswith(prefix) for prefix in self.tokens[token]):
            return 403, {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}
        mount, _, below = rest.partition("/")
        if mount not in self.mounts:
            return 404, {"errors": []}
        version, secrets = self.mounts[mount]
        if version == 2:
            kind, _, below = below.partition("/")
            if kind != "data" or below not in secrets:
                return 404, {"errors": []}
            metadata = {"version": 1, "created_time": "2026-01-01T00:00:00Z", "deletion_time": ""}
            return 200, {"data": {"data": secrets[below], "metadata": metadata}, "lease_duration": 0}
        if below not in secrets:
            return 404, {"errors": []}
        return 200, {"data": secrets[below], "lease_duration": 2764800}


def _handler(server: VaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(LoopbackHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            status, body = server.answer(
                urlsplit(self.path).path,
                self.headers.get("X-Vault-Token"),
                self.headers.get("X-Vault-Namespace"),
            )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture(scope="session")
def vault_server() -> Iterator[VaultServer]:
    """A Vault stand-in on 127.0.0.1 with a KV v2 mount ``secret`` and a KV v1 mount ``kv1``."""
    server = VaultServer(
        mounts={
            "secret": (2, {"app": {"token": "vault-kv2-value-Q7", "port": 5432}}),
            "kv1": (1, {"legacy/app": {"password": "vault-kv1-value-Z3"}}),
        },
        tokens={ROOT_TOKEN: (), LIMITED_TOKEN: ("secret/",)},
    )
    http = LoopbackHTTPServer(("127.0.0.1", 0), _handler(server))
    server.url = f"http://127.0.0.1:{http.server_address[1]}"
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield server
    http.shutdown()
    http.server_close()

"""``vault:MOUNT/PATH#key`` (KV version 2) and ``vault-kv1:MOUNT/PATH#key``: HashiCorp Vault
through hvac.

The standard Vault client environment applies: ``VAULT_ADDR``, ``VAULT_TOKEN`` (else
``~/.vault-token``, as hvac reads it), ``VAULT_NAMESPACE`` and ``VAULT_CACERT``.
"""

from __future__ import annotations

import os
from typing import Any

import hvac
from hvac import exceptions as vault_errors
import requests

from pytest_kisys.secrets.interface import BackendFailure
from pytest_kisys.secrets.interface import Failure
from pytest_kisys.secrets.interface import Scheme
from pytest_kisys.secrets.interface import SecretRef


_TIMEOUT = 15


class VaultBackend:
    """One hvac client per store, made on first fetch."""

    def __init__(self) -> None:
        self._client: Any = None

    def _make_client(self) -> Any:
        verify: str | bool = os.environ.get("VAULT_CACERT") or True
        namespace = os.environ.get("VAULT_NAMESPACE") or None
        return hvac.Client(namespace=namespace, verify=verify, timeout=_TIMEOUT)

    def fetch(self, ref: SecretRef) -> str:
        """The ``key`` of the secret at ``MOUNT/PATH`` (latest version for KV v2)."""
        if self._client is None:
            self._client = self._make_client()
        client = self._client
        if not client.token:
            raise BackendFailure(Failure.NO_CREDENTIALS, "no token: set VAULT_TOKEN or run `vault login`")
        where = f"{ref.mount}/{ref.path} at {client.url}"
        try:
            if ref.scheme is Scheme.VAULT_KV1:
                response = client.secrets.kv.v1.read_secret(path=ref.path, mount_point=ref.mount)
                data = response.get("data") or {}
            else:
                response = client.secrets.kv.v2.read_secret_version(
                    path=ref.path, mount_point=ref.mount, raise_on_deleted_version=True
                )
                data = (response.get("data") or {}).get("data") or {}
        except (vault_errors.Forbidden, vault_errors.Unauthorized) as exc:
            raise BackendFailure(Failure.DENIED, f"permission denied reading {where}") from exc
        except vault_errors.InvalidPath as exc:
            raise BackendFailure(Failure.NOT_FOUND, f"no secret {where}") from exc
        except vault_errors.VaultError as exc:
            raise BackendFailure(Failure.UNREACHABLE, f"{type(exc).__name__} reading {where}") from exc
        except requests.RequestException as exc:
            reason = f"cannot reach {client.url}: {type(exc).__name__}"
            raise BackendFailure(Failure.UNREACHABLE, reason) from exc
        if not isinstance(data, dict) or ref.key not in data:
            keys = ", ".join(sorted(map(str, data))) if isinstance(data, dict) else "none"
            raise BackendFailure(Failure.MISSING_KEY, f"no key {ref.key!r} in {where} (keys: {keys})")
        value = data[ref.key]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise BackendFailure(Failure.BAD_VALUE, f"key {ref.key!r} in {where} does not hold text")
        return str(value)

"""``azure-kv:https://NAME.vault.azure.net/SECRET[/VERSION]``: Azure Key Vault through
azure-keyvault-secrets, authenticated by azure-identity's ``DefaultAzureCredential``.

The credential chain is the SDK's own: environment (``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``/
``AZURE_CLIENT_SECRET`` or a certificate), workload identity, managed identity, the Azure CLI
and the other developer tools. Proxies and CA bundles follow the usual ``HTTPS_PROXY`` and
``REQUESTS_CA_BUNDLE`` variables.
"""

from __future__ import annotations

from typing import Any

from azure.core import exceptions as azure_errors
from azure.identity import CredentialUnavailableError
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

from pytest_kisys.secrets.interface import BackendFailure
from pytest_kisys.secrets.interface import Failure
from pytest_kisys.secrets.interface import SecretRef


class AzureKeyVault:
    """One credential for the store and one client per vault URL, made on first fetch."""

    def __init__(self) -> None:
        self._credential: Any = None
        self._clients: dict[str, Any] = {}

    def fetch(self, ref: SecretRef) -> str:
        """The secret's value (its latest version unless the URI names one)."""
        name, _, version = (ref.item or "").partition("/")
        where = f"{name} in {ref.location}"
        try:
            if self._credential is None:
                self._credential = DefaultAzureCredential()
            client = self._clients.get(ref.location)
            if client is None:
                client = self._clients[ref.location] = SecretClient(ref.location, self._credential)
            secret = client.get_secret(name, version or None)
        except CredentialUnavailableError as exc:
            raise BackendFailure(Failure.NO_CREDENTIALS, f"no Azure credential found: {exc.message}") from exc
        except azure_errors.ClientAuthenticationError as exc:
            raise BackendFailure(Failure.DENIED, f"authentication failed for {where}: {exc.message}") from exc
        except azure_errors.ResourceNotFoundError as exc:
            raise BackendFailure(Failure.NOT_FOUND, f"no secret {where}") from exc
        except azure_errors.HttpResponseError as exc:
            if exc.status_code in (401, 403):
                raise BackendFailure(Failure.DENIED, f"access denied to {where} ({exc.status_code})") from exc
            raise BackendFailure(Failure.UNREACHABLE, f"{where}: HTTP {exc.status_code}") from exc
        except (azure_errors.ServiceRequestError, azure_errors.ServiceResponseError) as exc:
            raise BackendFailure(Failure.UNREACHABLE, f"cannot reach {ref.location}: {exc.message}") from exc
        if secret.value is None:
            raise BackendFailure(Failure.BAD_VALUE, f"{where} has no value")
        return str(secret.value)

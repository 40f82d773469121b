"""Each backend against a real server through its real SDK: values, and every failure's kind.

AWS: moto's server behind boto3 (``AWS_ENDPOINT_URL``). Vault: the loopback Vault stand-in
behind hvac (``VAULT_ADDR``/``VAULT_TOKEN``). Azure: the loopback Key Vault behind
azure-keyvault-secrets with ``DefaultAzureCredential`` finding an App Service managed identity.
"""

from __future__ import annotations

import socket
import sys

import pytest

from pytest_kisys.secrets.interface import Failure
from pytest_kisys.secrets.interface import parse_uri
from pytest_kisys.secrets.interface import SecretError
from pytest_kisys.secrets.interface import UriError
from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.secrets.store import SecretStore
from tests.support.keyvault_server import KeyVault
from tests.support.moto_server import AWS_ENV
from tests.support.vault_server import LIMITED_TOKEN
from tests.support.vault_server import ROOT_TOKEN
from tests.support.vault_server import VaultServer


KV = "https://kisys-test.vault.azure.net"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server


@pytest.fixture
def vault_env(vault_server: VaultServer, monkeypatch: pytest.MonkeyPatch) -> VaultServer:
    monkeypatch.setenv("VAULT_ADDR", vault_server.url)
    monkeypatch.setenv("VAULT_TOKEN", ROOT_TOKEN)
    monkeypatch.setenv("VAULT_NAMESPACE", "team-a")
    return vault_server


@pytest.fixture
def azure_env(key_vault: KeyVault, monkeypatch: pytest.MonkeyPatch) -> KeyVault:
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "MSI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in key_vault.environ.items():
        monkeypatch.setenv(name, value)
    return key_vault


def store(**uris: str) -> tuple[SecretStore, Redactor]:
    redactor = Redactor()
    return SecretStore({name: parse_uri(uri) for name, uri in uris.items()}, redactor), redactor


def fails(secrets: SecretStore, name: str) -> SecretError:
    with pytest.raises(SecretError) as info:
        secrets[name]
    return info.value


def test_aws_fetches_plain_and_json_key_and_masks_the_whole_secret(aws_env: str) -> None:
    secrets, redactor = store(db="aws-sm:app/db#password", plain="aws-sm:plain/token")
    assert secrets["db"] == "moto-db-value-K9"
    assert secrets.get("plain") == "moto-plain-value-P4"
    assert secrets.resolve("aws-sm:plain/token") == "moto-plain-value-P4"
    assert redactor.redact("pw moto-db-value-K9") == "pw ***db***"
    assert "moto-plain-value-P4" not in redactor.redact("moto-plain-value-P4")


def test_aws_failures(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets, _ = store(gone="aws-sm:no/such", nokey="aws-sm:app/db#nope", notjson="aws-sm:plain/token#k")
    error = fails(secrets, "gone")
    assert (error.name, error.backend, error.failure) == ("gone", "AWS Secrets Manager", Failure.NOT_FOUND)
    assert "'gone'" in str(error)
    assert "AWS Secrets Manager" in str(error)
    error = fails(secrets, "nokey")
    assert error.failure is Failure.MISSING_KEY
    assert "password, user" in str(error)  # key names, never values
    assert "moto-db-value-K9" not in str(error)
    assert fails(secrets, "notjson").failure is Failure.MISSING_KEY

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    unreachable, _ = store(db="aws-sm:app/db#password")
    assert fails(unreachable, "db").failure is Failure.UNREACHABLE

    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    no_region, _ = store(db="aws-sm:app/db#password")
    assert fails(no_region, "db").failure is Failure.NOT_CONFIGURED


def test_vault_fetches_kv2_and_kv1_with_token_and_namespace(vault_env: VaultServer) -> None:
    secrets, redactor = store(token="vault:secret/app#token", port="vault:secret/app#port",
                              legacy="vault-kv1:kv1/legacy/app#password")
    assert secrets["token"] == "vault-kv2-value-Q7"
    assert secrets["port"] == "5432"
    assert secrets["legacy"] == "vault-kv1-value-Z3"
    assert redactor.redact("vault-kv1-value-Z3") == "***legacy***"
    seen = vault_env.requests[-1]
    assert seen["token"] == ROOT_TOKEN
    assert seen["namespace"] == "team-a"
    assert any(r["path"] == "/v1/secret/data/app" for r in vault_env.requests)


def test_vault_failures(vault_env: VaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets, _ = store(gone="vault:secret/none#x", nokey="vault:secret/app#nope", mount="vault:nomount/a#b")
    error = fails(secrets, "gone")
    assert (error.backend, error.failure) == ("HashiCorp Vault (KV v2)", Failure.NOT_FOUND)
    assert fails(secrets, "nokey").failure is Failure.MISSING_KEY
    assert fails(secrets, "mount").failure is Failure.NOT_FOUND

    monkeypatch.setenv("VAULT_TOKEN", LIMITED_TOKEN)
    limited, _ = store(app="vault:secret/app#token", legacy="vault-kv1:kv1/legacy/app#password")
    error = fails(limited, "app")
    assert error.failure is Failure.DENIED
    assert "vault-kv2-value-Q7" not in str(error)
    assert limited["legacy"] == "vault-kv1-value-Z3"  # the policy denies secret/ only

    monkeypatch.setenv("VAULT_TOKEN", "hvs.wrong")
    assert fails(store(app="vault:secret/app#token")[0], "app").failure is Failure.DENIED

    monkeypatch.delenv("VAULT_TOKEN")
    monkeypatch.setenv("HOME", "/nonexistent")  # no ~/.vault-token either
    assert fails(store(app="vault:secret/app#token")[0], "app").failure is Failure.NO_CREDENTIALS

    monkeypatch.setenv("VAULT_TOKEN", ROOT_TOKEN)
    monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{_closed_port()}")
    assert fails(store(app="vault:secret/app#token")[0], "app").failure is Failure.UNREACHABLE


def test_azure_fetches_through_the_challenge_with_a_discovered_managed_identity(azure_env: KeyVault) -> None:
    secrets, redactor = store(db=f"azure-kv:{KV}/db-password")
    assert secrets["db"] == "azure-kv-value-M2"
    assert redactor.redact("azure-kv-value-M2") == "***db***"
    assert azure_env.tunnels[-1] == "kisys-test.vault.azure.net:443"
    assert azure_env.token_requests[-1]["resource"] == "https://vault.azure.net"
    first, *rest = [r for r in azure_env.requests if r["path"].startswith("/secrets/db-password")]
    assert first["authorization"] is None  # the challenge round trip happened
    assert rest[-1]["authorization"] == "Bearer kv-access-token-for-tests"


def test_azure_failures(azure_env: KeyVault, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets, _ = store(gone=f"azure-kv:{KV}/nothing-here", locked=f"azure-kv:{KV}/locked")
    error = fails(secrets, "gone")
    assert (error.backend, error.failure) == ("Azure Key Vault", Failure.NOT_FOUND)
    assert fails(secrets, "locked").failure is Failure.DENIED

    monkeypatch.setenv("IDENTITY_HEADER", "wrong-header")
    denied, _ = store(db=f"azure-kv:{KV}/db-password")
    assert fails(denied, "db").failure in (Failure.DENIED, Failure.NO_CREDENTIALS)


def test_env_backend_and_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOY_KEY_SOURCE", "env-backend-value-1")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    secrets, redactor = store(deploy="env:DEPLOY_KEY_SOURCE", unset="env:NOT_SET_ANYWHERE")
    assert secrets["deploy"] == "env-backend-value-1"
    assert redactor.redact("x env-backend-value-1") == "x ***deploy***"
    assert fails(secrets, "unset").failure is Failure.NOT_FOUND
    error = fails(secrets, "typo")
    assert error.failure is Failure.UNKNOWN_NAME
    assert "configured names: deploy, unset" in str(error)
    assert secrets.get("typo") is None
    assert "typo" not in secrets
    assert sorted(secrets) == ["deploy", "unset"]
    with pytest.raises(SecretError) as info:
        secrets.resolve("s3:bucket/key")
    assert info.value.failure is Failure.BAD_URI


def test_a_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hvac", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "pytest_kisys.secrets.vault", raising=False)
    error = fails(store(app="vault:secret/app#token")[0], "app")
    assert error.failure is Failure.MISSING_EXTRA
    assert "pytest-kisys[vault]" in str(error)


@pytest.mark.parametrize(
    "uri",
    ["", "s3:x", "env:", "env:1BAD", "aws-sm:", "aws-sm:id#", "vault:secret", "vault:secret/app",
     "vault-kv1:kv/x", "azure-kv:http://x.vault.azure.net/s", "azure-kv:https://x.vault.azure.net/",
     "azure-kv:https://u:p@x.vault.azure.net/s", "azure-kv:https://x.vault.azure.net/a/b/c"],
)
def test_bad_uris_are_rejected_with_the_accepted_forms(uri: str) -> None:
    with pytest.raises(UriError) as info:
        parse_uri(uri)
    assert "expected" in str(info.value) or "nothing after" in str(info.value)

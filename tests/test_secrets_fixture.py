"""The ``kisys_secrets`` fixture through pytest: values, errors, start-up checks, off, xdist."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.support.keyvault_server import KeyVault
from tests.support.moto_server import AWS_ENV
from tests.support.vault_server import ROOT_TOKEN
from tests.support.vault_server import VaultServer


KV = "https://kisys-test.vault.azure.net"
CONFIG = f"""
[tool.kisys]
scan = "none"

[tool.kisys.secrets]
deploy = "env:DEPLOY_SOURCE"
db_password = "aws-sm:app/db#password"
aws_gone = "aws-sm:no/such/secret"
api_token = "vault:secret/app#token"
vault_nokey = "vault:secret/app#nope"
legacy = "vault-kv1:kv1/legacy/app#password"
azure_db = "azure-kv:{KV}/db-password"
azure_locked = "azure-kv:{KV}/locked"
"""

TESTS = """
import pytest

@pytest.fixture
def db(kisys_secrets):
    return kisys_secrets["aws_gone"]

def test_env(kisys_secrets):
    assert kisys_secrets["deploy"] == "env-fixture-value-1"

def test_aws(kisys_secrets):
    assert kisys_secrets["db_password"] == "moto-db-value-K9"

def test_vault(kisys_secrets):
    assert kisys_secrets.get("api_token") == "vault-kv2-value-Q7"
    assert kisys_secrets["legacy"] == "vault-kv1-value-Z3"

def test_vault_again_is_not_fetched_again(kisys_secrets):
    assert kisys_secrets["api_token"] == "vault-kv2-value-Q7"

def test_azure(kisys_secrets):
    assert kisys_secrets["azure_db"] == "azure-kv-value-M2"

def test_resolve(kisys_secrets):
    assert kisys_secrets.resolve("aws-sm:plain/token") == "moto-plain-value-P4"

def test_aws_missing_in_a_fixture(db):
    pass

def test_vault_missing_key(kisys_secrets):
    kisys_secrets["vault_nokey"]

def test_azure_denied(kisys_secrets):
    kisys_secrets["azure_locked"]

def test_unknown_name(kisys_secrets):
    kisys_secrets["db_pasword"]
"""


@pytest.fixture
def all_backends(
    monkeypatch: pytest.MonkeyPatch, moto_server: str, vault_server: VaultServer, key_vault: KeyVault
) -> VaultServer:
    for name, value in {**AWS_ENV, **key_vault.environ}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("VAULT_ADDR", vault_server.url)
    monkeypatch.setenv("VAULT_TOKEN", ROOT_TOKEN)
    monkeypatch.setenv("DEPLOY_SOURCE", "env-fixture-value-1")
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return vault_server


def test_each_backend_fetches_and_each_failure_errors_the_test(
    pytester: pytest.Pytester, all_backends: VaultServer
) -> None:
    pytester.makepyprojecttoml(CONFIG)
    pytester.makepyfile(TESTS)
    before = len(all_backends.requests)
    result = pytester.runpytest("--kisys", "-rE")
    result.assert_outcomes(passed=6, errors=4)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_aws_missing_in_a_fixture*",
            "*secret 'aws_gone' from AWS Secrets Manager: secret not found*",
            "*ERROR at call of test_vault_missing_key*",
            "*secret 'vault_nokey' from HashiCorp Vault (KV v2): key not in secret*",
            "*secret 'azure_locked' from Azure Key Vault: access denied*",
            "*secret 'db_pasword' from kisys_secrets: unknown name: configured names: api_token, aws_gone,*",
        ]
    )
    for value in ("moto-db-value-K9", "vault-kv2-value-Q7", "azure-kv-value-M2", "env-fixture-value-1"):
        assert value not in out
    # Once per session and name: api_token (used by two tests) and vault_nokey read secret/app.
    reads = [r for r in all_backends.requests[before:] if r["path"] == "/v1/secret/data/app"]
    assert len(reads) == 2
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_each_xdist_worker_fetches_for_itself(pytester: pytest.Pytester, all_backends: VaultServer) -> None:
    pytester.makepyprojecttoml(CONFIG)
    pytester.makepyfile(
        "\n".join(f"def test_{i}(kisys_secrets):\n    assert kisys_secrets['api_token']\n" for i in range(6))
    )
    before = len(all_backends.requests)
    result = pytester.runpytest("--kisys", "-n", "2", "-p", "no:randomly")
    result.assert_outcomes(passed=6)
    reads = [r for r in all_backends.requests[before:] if r["path"] == "/v1/secret/data/app"]
    assert 1 <= len(reads) <= 2  # one per worker that ran a test, never one per test


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3:bucket/key", "expected one of env:NAME, aws-sm:SECRET_ID"),
        ("vault:secret/app", "expected vault:MOUNT/PATH#key"),
        ("azure-kv:http://x.vault.azure.net/s", "expected azure-kv:https://NAME.vault.azure.net/SECRET"),
    ],
)
def test_bad_uri_is_a_usage_error_at_start_up(pytester: pytest.Pytester, uri: str, expected: str) -> None:
    pytester.makepyprojecttoml(f'[tool.kisys]\nscan = "none"\n[tool.kisys.secrets]\nbroken = "{uri}"\n')
    pytester.makepyfile("def test_never_runs():\n    pass\n")
    result = pytester.runpytest("--kisys")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "secret 'broken'" in err
    assert expected in err
    assert "test_never_runs" not in result.stdout.str()


def test_bad_uri_in_kisys_yaml_names_its_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", kisys="scan: none\nsecrets:\n  ok: env:HOME\n  broken: vault:nope\n")
    pytester.makepyfile("def test_never_runs():\n    pass\n")
    result = pytester.runpytest("--kisys")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "kisys.yaml:2" in result.stderr.str()
    assert "secret 'broken'" in result.stderr.str()


_PROBE = textwrap.dedent(
    """
    import sys
    import pytest
    code = pytest.main(sys.argv[1:])
    loaded = sorted(m for m in sys.modules if m.startswith("pytest_kisys.secrets")
                    or m.split(".")[0] in ("boto3", "botocore", "hvac", "azure"))
    print("LOADED=" + ",".join(loaded))
    raise SystemExit(code)
    """
)


def test_off_the_fixture_does_not_exist_and_nothing_is_imported(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.kisys.secrets]\napi = "vault:secret/app#token"\n')
    pytester.makepyfile("def test_wants(kisys_secrets):\n    pass\n")
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "-q", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "fixture 'kisys_secrets' not found" in done.stdout, done.stdout + done.stderr
    assert "LOADED=\n" in done.stdout, done.stdout

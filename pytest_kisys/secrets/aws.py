"""``aws-sm:SECRET_ID[#json-key]``: AWS Secrets Manager through boto3.

boto3's standard discovery applies unchanged: credentials from the environment, shared files,
profiles (``AWS_PROFILE``), SSO or instance roles; the region from
``AWS_DEFAULT_REGION`` or the profile; ``AWS_ENDPOINT_URL`` (or
``AWS_ENDPOINT_URL_SECRETS_MANAGER``) for a private endpoint or a local emulator.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore import exceptions as aws_errors
from botocore.config import Config

from pytest_kisys.secrets.interface import BackendFailure
from pytest_kisys.secrets.interface import Failure
from pytest_kisys.secrets.interface import SecretRef


_NOT_FOUND = {"ResourceNotFoundException"}
_DENIED = {
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
}
# A test waits on this: fail in seconds, not after botocore's default minute of retries.
_CONFIG = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2, "mode": "standard"})


class AwsSecretsManager:
    """One ``secretsmanager`` client per store, made on first fetch."""

    def __init__(self) -> None:
        self._client: Any = None

    def fetch(self, ref: SecretRef) -> str:
        """``GetSecretValue`` of the secret id; its ``SecretString`` (or UTF-8 ``SecretBinary``)."""
        try:
            if self._client is None:
                self._client = boto3.session.Session().client("secretsmanager", config=_CONFIG)
            response = self._client.get_secret_value(SecretId=ref.location)
        except aws_errors.NoRegionError as exc:
            raise BackendFailure(
                Failure.NOT_CONFIGURED, "no region: set AWS_DEFAULT_REGION or a profile with a region"
            ) from exc
        except (aws_errors.NoCredentialsError, aws_errors.PartialCredentialsError) as exc:
            raise BackendFailure(Failure.NO_CREDENTIALS, str(exc)) from exc
        except (aws_errors.EndpointConnectionError, aws_errors.ConnectTimeoutError) as exc:
            raise BackendFailure(Failure.UNREACHABLE, str(exc)) from exc
        except aws_errors.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _NOT_FOUND:
                raise BackendFailure(Failure.NOT_FOUND, f"{code}: no secret {ref.location!r}") from exc
            if code in _DENIED:
                raise BackendFailure(Failure.DENIED, f"{code} for secret {ref.location!r}") from exc
            raise BackendFailure(Failure.UNREACHABLE, f"{code}: {exc}") from exc
        except aws_errors.BotoCoreError as exc:
            raise BackendFailure(Failure.UNREACHABLE, f"{type(exc).__name__}: {exc}") from exc
        if "SecretString" in response:
            return str(response["SecretString"])
        binary = response.get("SecretBinary")
        try:
            return bytes(binary).decode("utf-8")
        except (TypeError, UnicodeDecodeError) as exc:
            raise BackendFailure(Failure.BAD_VALUE, "SecretBinary is not UTF-8 text") from exc

"""The secrets subsystem's small interface: a parsed source URI, a backend, and the error.

A :class:`SecretRef` says where one secret lives; a :class:`SecretBackend` fetches it. Every
failure is a :class:`SecretError` whose fields (the secret's name, the backend, a
:class:`Failure` kind) carry the decision, and whose message never holds the value.
"""

from __future__ import annotations

from dataclasses import dataclass
import enum
import re
from typing import Protocol
from urllib.parse import urlsplit

from pytest_kisys.errors import ConfigError
from pytest_kisys.errors import KisysError


class Scheme(enum.Enum):
    """A source URI scheme and the backend (with its pip extra) that serves it."""

    ENV = "env"
    AWS_SM = "aws-sm"
    VAULT = "vault"
    VAULT_KV1 = "vault-kv1"
    AZURE_KV = "azure-kv"

    @property
    def backend(self) -> str:
        """The backend's name as shown in messages."""
        return _BACKEND_NAMES[self]

    @property
    def extra(self) -> str | None:
        """The pytest-kisys extra that installs the backend's SDK (None: built in)."""
        return _EXTRAS[self]


_BACKEND_NAMES = {
    Scheme.ENV: "environment",
    Scheme.AWS_SM: "AWS Secrets Manager",
    Scheme.VAULT: "HashiCorp Vault (KV v2)",
    Scheme.VAULT_KV1: "HashiCorp Vault (KV v1)",
    Scheme.AZURE_KV: "Azure Key Vault",
}
_EXTRAS = {
    Scheme.ENV: None,
    Scheme.AWS_SM: "aws",
    Scheme.VAULT: "vault",
    Scheme.VAULT_KV1: "vault",
    Scheme.AZURE_KV: "azure",
}
ACCEPTED = (
    "env:NAME, aws-sm:SECRET_ID[#json-key], vault:MOUNT/PATH#key, vault-kv1:MOUNT/PATH#key, "
    "azure-kv:https://NAME.vault.azure.net/SECRET"
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_AWS_ID = re.compile(r"[A-Za-z0-9/_+=.@:-]{1,2048}")
_VAULT_PATH = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.@-]+)+")
_AZURE_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")


@dataclass(frozen=True)
class SecretRef:
    """Where one secret lives.

    ``location`` is the variable name (env), the secret id (aws-sm), ``MOUNT/PATH`` (vault) or
    the vault URL (azure-kv); ``item`` the secret name (azure-kv: ``SECRET`` or
    ``SECRET/VERSION``); ``key`` the JSON or KV key after ``#``.
    """

    scheme: Scheme
    location: str
    key: str | None = None
    item: str | None = None

    @property
    def uri(self) -> str:
        """The URI this reference was parsed from (normalised)."""
        if self.scheme is Scheme.AZURE_KV:
            return f"azure-kv:{self.location}/{self.item}"
        key = f"#{self.key}" if self.key is not None else ""
        return f"{self.scheme.value}:{self.location}{key}"

    @property
    def mount(self) -> str:
        """Vault: the secrets engine mount (first path segment)."""
        return self.location.split("/", 1)[0]

    @property
    def path(self) -> str:
        """Vault: the secret's path below the mount."""
        return self.location.split("/", 1)[1]


class UriError(ConfigError):
    """A source URI is malformed; the message names the URI and the accepted forms."""


def parse_uri(uri: str) -> SecretRef:
    """Parse one source URI.

    :raises UriError: naming the URI and :data:`ACCEPTED`.
    """
    if not isinstance(uri, str):
        raise UriError(f"{uri!r} is not a secret source URI: expected one of {ACCEPTED}")
    text = uri.strip()
    scheme_text, sep, rest = text.partition(":")
    try:
        scheme = Scheme(scheme_text.lower())
    except ValueError:
        scheme = None
    if not sep or scheme is None or not rest:
        raise UriError(f"{text!r} is not a secret source URI: expected one of {ACCEPTED}")
    if scheme is Scheme.AZURE_KV:
        return _parse_azure(text, rest)
    location, hashed, key = rest.partition("#")
    if hashed and not key:
        raise UriError(f"{text!r}: nothing after '#': name the key, or drop the '#'")
    if scheme is Scheme.ENV:
        if hashed or not _ENV_NAME.fullmatch(location):
            raise UriError(f"{text!r}: expected env:NAME with an environment variable name")
        return SecretRef(scheme, location)
    if scheme is Scheme.AWS_SM:
        if not _AWS_ID.fullmatch(location):
            raise UriError(f"{text!r}: expected aws-sm:SECRET_ID or aws-sm:SECRET_ID#json-key")
        return SecretRef(scheme, location, key or None)
    if not _VAULT_PATH.fullmatch(location.strip("/")) or not key:
        raise UriError(
            f"{text!r}: expected {scheme.value}:MOUNT/PATH#key (a mount, a path below it, "
            "and the key inside the secret)"
        )
    return SecretRef(scheme, location.strip("/"), key)


def _parse_azure(text: str, rest: str) -> SecretRef:
    parts = urlsplit(rest)
    segments = [s for s in parts.path.split("/") if s]
    if (
        parts.scheme != "https"
        or not parts.hostname
        or parts.username
        or parts.query
        or parts.fragment
        or len(segments) not in (1, 2)
        or not all(_AZURE_NAME.fullmatch(s) for s in segments)
    ):
        raise UriError(
            f"{text!r}: expected azure-kv:https://NAME.vault.azure.net/SECRET "
            "(or .../SECRET/VERSION)"
        )
    vault_url = f"https://{parts.netloc}"
    return SecretRef(Scheme.AZURE_KV, vault_url, item="/".join(segments))


class Failure(enum.Enum):
    """Why a secret could not be had."""

    UNKNOWN_NAME = "unknown name"
    MISSING_EXTRA = "backend not installed"
    UNREACHABLE = "backend unreachable"
    DENIED = "access denied"
    NO_CREDENTIALS = "no credentials"
    NOT_CONFIGURED = "client not configured"
    NOT_FOUND = "secret not found"
    MISSING_KEY = "key not in secret"
    BAD_VALUE = "value is not text"
    BAD_URI = "bad source URI"


class SecretError(KisysError):
    """A secret could not be fetched. The message names the secret and backend, never the value."""

    def __init__(self, name: str, backend: str, failure: Failure, detail: str) -> None:
        self.name = name
        self.backend = backend
        self.failure = failure
        self.detail = detail
        super().__init__(f"kisys_secrets: secret {name!r} from {backend}: {failure.value}: {detail}")


class BackendFailure(KisysError):
    """Raised by a backend; the store adds the secret's name and turns it into SecretError."""

    def __init__(self, failure: Failure, detail: str) -> None:
        self.failure = failure
        self.detail = detail
        super().__init__(f"{failure.value}: {detail}")


class SecretBackend(Protocol):
    """Fetches secrets of one scheme with its SDK's standard credential discovery."""

    def fetch(self, ref: SecretRef) -> str:
        """The secret's text value.

        :raises BackendFailure: with the :class:`Failure` kind and a detail without the value.
        """
        ...

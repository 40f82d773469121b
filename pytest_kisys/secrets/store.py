"""The object behind the ``kisys_secrets`` fixture: named secrets, fetched lazily, in memory.

Each value is fetched at most once per process (an xdist worker fetches for itself), kept in
this object only, and registered with the session's redactor before the test sees it, so it is
masked in every output from then on. Backends are imported on first use of their scheme.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
import importlib
import json
import threading

from pytest_kisys.secrets.interface import BackendFailure
from pytest_kisys.secrets.interface import Failure
from pytest_kisys.secrets.interface import parse_uri
from pytest_kisys.secrets.interface import Scheme
from pytest_kisys.secrets.interface import SecretBackend
from pytest_kisys.secrets.interface import SecretError
from pytest_kisys.secrets.interface import SecretRef
from pytest_kisys.secrets.interface import UriError
from pytest_kisys.secrets.redact import Redactor


# scheme -> (module, class, the SDK's import name shown when it is missing)
_BACKENDS = {
    Scheme.ENV: ("pytest_kisys.secrets.env", "EnvBackend", None),
    Scheme.AWS_SM: ("pytest_kisys.secrets.aws", "AwsSecretsManager", "boto3"),
    Scheme.VAULT: ("pytest_kisys.secrets.vault", "VaultBackend", "hvac"),
    Scheme.VAULT_KV1: ("pytest_kisys.secrets.vault", "VaultBackend", "hvac"),
    Scheme.AZURE_KV: ("pytest_kisys.secrets.azure", "AzureKeyVault", "azure-keyvault-secrets"),
}

BackendFactory = Callable[[Scheme], SecretBackend]


class UnknownSecret(SecretError, KeyError):
    """A name that is not configured; a KeyError too, so ``.get`` and ``in`` behave."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def load_backend(scheme: Scheme) -> SecretBackend:
    """The backend for ``scheme``, importing its module (and SDK) now.

    :raises BackendFailure: ``MISSING_EXTRA`` when the SDK is not installed.
    """
    module_name, class_name, sdk = _BACKENDS[scheme]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendFailure(
            Failure.MISSING_EXTRA,
            f"{sdk} is not installed: pip install 'pytest-kisys[{scheme.extra}]' ({exc.name})",
        ) from exc
    backend: SecretBackend = getattr(module, class_name)()
    return backend


class SecretStore(Mapping[str, str]):
    """Mapping-like access to the configured secrets (``store["name"]``, ``store.get(name)``)."""

    def __init__(
        self,
        refs: Mapping[str, SecretRef],
        redactor: Redactor,
        backend_factory: BackendFactory = load_backend,
    ) -> None:
        self._refs = dict(refs)
        self._redactor = redactor
        self._factory = backend_factory
        self._backends: dict[Scheme, SecretBackend] = {}
        self._values: dict[str, str] = {}
        self._lock = threading.RLock()

    def __getitem__(self, name: str) -> str:
        ref = self._refs.get(name)
        if ref is None:
            configured = ", ".join(sorted(self._refs)) or "none"
            raise UnknownSecret(
                name,
                "kisys_secrets",
                Failure.UNKNOWN_NAME,
                f"configured names: {configured} (add it under [tool.kisys.secrets] or "
                "secrets: in kisys.yaml)",
            )
        return self._fetch(name, ref)

    def __iter__(self) -> Iterator[str]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def __repr__(self) -> str:
        return f"<kisys_secrets names={sorted(self._refs)}>"

    def resolve(self, uri: str) -> str:
        """The value at a source URI used once (``"aws-sm:app/db#password"``), fetched once."""
        try:
            ref = parse_uri(uri)
        except UriError as exc:
            raise SecretError(str(uri), "kisys_secrets", Failure.BAD_URI, str(exc)) from exc
        return self._fetch(ref.uri, ref)

    def mask(self, value: str, label: str | None = None) -> None:
        """Mask ``value`` in every output from now on (e.g. a token derived from a secret)."""
        if not isinstance(value, str):
            raise TypeError(f"kisys_secrets.mask() takes a str, not {type(value).__name__}")
        self._redactor.register(value, label)

    def _fetch(self, name: str, ref: SecretRef) -> str:
        with self._lock:
            cached = self._values.get(name)
            if cached is not None:
                return cached
            try:
                backend = self._backends.get(ref.scheme)
                if backend is None:
                    backend = self._backends[ref.scheme] = self._factory(ref.scheme)
                raw = backend.fetch(ref)
            except BackendFailure as exc:
                detail = self._redactor.redact(exc.detail)
                raise SecretError(name, ref.scheme.backend, exc.failure, detail) from None
            self._register(raw, name)
            value = self._select(name, ref, raw)
            self._redactor.register(value, name)
            self._values[name] = value
            return value

    def _register(self, raw: str, name: str) -> None:
        # A JSON secret holds other values too: mask every one of them, and the whole text.
        self._redactor.register(raw, name)
        try:
            data = json.loads(raw)
        except ValueError:
            return
        if isinstance(data, dict):
            for value in data.values():
                if isinstance(value, str):
                    self._redactor.register(value, name)

    @staticmethod
    def _select(name: str, ref: SecretRef, raw: str) -> str:
        if ref.key is None or ref.scheme is not Scheme.AWS_SM:
            return raw
        try:
            data = json.loads(raw)
        except ValueError:
            reason = f"the secret is not JSON, so it has no key {ref.key!r}"
            raise SecretError(name, ref.scheme.backend, Failure.MISSING_KEY, reason) from None
        if not isinstance(data, dict) or ref.key not in data:
            keys = ", ".join(sorted(map(str, data))) if isinstance(data, dict) else "none"
            raise SecretError(
                name, ref.scheme.backend, Failure.MISSING_KEY, f"no key {ref.key!r} (keys: {keys})"
            )
        value = data[ref.key]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise SecretError(
                name, ref.scheme.backend, Failure.BAD_VALUE, f"key {ref.key!r} does not hold text"
            )
        return str(value)

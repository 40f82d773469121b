"""The ``kisys-secrets`` role: the session-scoped ``kisys_secrets`` fixture.

Registered only while kisys is on, so the fixture does not exist otherwise; its backends are
imported on first use of their scheme.
"""

from __future__ import annotations

import pytest

from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.secrets.store import SecretStore
from pytest_kisys.settings import Settings


class SecretsPlugin:
    """Holds this process's :class:`SecretStore` (one per xdist worker)."""

    def __init__(self, settings: Settings, redactor: Redactor) -> None:
        self.store = SecretStore(settings.secrets, redactor)

    @pytest.fixture(scope="session")
    def kisys_secrets(self) -> SecretStore:
        """The configured secrets: ``kisys_secrets["name"]``, ``.get(name)``, ``.resolve(uri)``,
        ``.mask(value)``. Values are fetched on first use, once per session, and masked."""
        return self.store

"""The ``kisys-secrets`` role: the session-scoped ``kisys_secrets`` fixture.

This module is registered as a plugin only while kisys is on, so the fixture does not exist
otherwise. The store lives in ``config.stash[STORE_KEY]``, one per process (each xdist worker
has its own); backends are imported on first use of their scheme.
"""

from __future__ import annotations

import os

import pytest

from pytest_kisys.secrets.interface import Scheme
from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.secrets.store import SecretStore
from pytest_kisys.settings import Settings


STORE_KEY: pytest.StashKey[SecretStore] = pytest.StashKey()


def register(config: pytest.Config, settings: Settings, redactor: Redactor) -> None:
    """Make this process's store and register the fixture."""
    import sys

    config.stash[STORE_KEY] = SecretStore(settings.secrets, redactor)
    # env: secrets are in this process already: masked from the start (collection ids, stage
    # output), without waiting for a test to ask for them.
    for name, ref in settings.secrets.items():
        if ref.scheme is Scheme.ENV and os.environ.get(ref.location):
            redactor.register(os.environ[ref.location], name)
    config.pluginmanager.register(sys.modules[__name__], "kisys-secrets")


@pytest.fixture(scope="session")
def kisys_secrets(request: pytest.FixtureRequest) -> SecretStore:
    """The configured secrets: ``kisys_secrets["name"]``, ``.get(name)``, ``.resolve(uri)``,
    ``.mask(value)``. Values are fetched on first use, once per session, and masked."""
    return request.config.stash[STORE_KEY]

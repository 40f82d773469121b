"""``env:NAME``: a secret handed to the run in an environment variable (CI's usual way)."""

from __future__ import annotations

import os

from pytest_kisys.secrets.interface import BackendFailure
from pytest_kisys.secrets.interface import Failure
from pytest_kisys.secrets.interface import SecretRef


class EnvBackend:
    """Reads ``os.environ`` at fetch time."""

    def fetch(self, ref: SecretRef) -> str:
        """The variable's value; an unset or empty variable is ``NOT_FOUND``."""
        value = os.environ.get(ref.location)
        if not value:
            state = "empty" if value == "" else "not set"
            raise BackendFailure(Failure.NOT_FOUND, f"environment variable {ref.location} is {state}")
        return value

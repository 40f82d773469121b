"""The one answer to "is this process an xdist worker?".

From ``pytest_configure`` on, xdist's ``config.workerinput`` says so for sure, and
:func:`is_xdist_worker` is the check every role uses. Before that (while settings resolve and
conftests load) only the ``PYTEST_XDIST_WORKER`` variable xdist set for its worker can tell
(:func:`early_worker_id`); a pytest started from inside a worker's test inherits the variable
without being a worker, so a role that can wait for ``pytest_configure`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
import os
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    import pytest  # the console script (kisys install) imports this module without pytest


__all__ = ["WORKER_ENV", "early_worker_id", "is_xdist_worker"]

WORKER_ENV = "PYTEST_XDIST_WORKER"
"""The variable xdist sets in each worker process (its id, ``gw0``...)."""


def is_xdist_worker(config: pytest.Config) -> bool:
    """Whether this process is an xdist worker; reliable from ``pytest_configure`` on."""
    return isinstance(getattr(config, "workerinput", None), dict)


def early_worker_id(environ: Mapping[str, str] | None = None) -> str | None:
    """The worker id xdist put in the environment (``gw0``...), or None.

    For the time before ``pytest_configure`` (and outside pytest): an inherited variable
    makes a nested pytest look like a worker too, which only errs on the side of caution
    (it does not install or prompt).
    """
    env = os.environ if environ is None else environ
    return env.get(WORKER_ENV) or None

"""Root conftest: pytester for behaviour tests, and shared fixtures live in tests/."""

from __future__ import annotations

import importlib
import pkgutil

import pytest_kisys


# pytester's in-process runs drop every module first imported during the inner run, while the
# package keeps an attribute pointing at the dropped module object; the next run would then mix
# two copies of a module (and of its StashKeys). Importing the whole package up front puts
# every module into the snapshot pytester restores, so all runs share one copy.
# The secret backends are left out: they import their SDKs, which tests of a missing extra hide.
_LAZY = {"pytest_kisys.__main__", *(f"pytest_kisys.secrets.{b}" for b in ("aws", "vault", "azure"))}
for _module in pkgutil.walk_packages(pytest_kisys.__path__, "pytest_kisys."):
    if _module.name not in _LAZY:
        importlib.import_module(_module.name)


pytest_plugins = [
    "pytester",
    "tests.support.pkgindex",
    "tests.support.otlp_receiver",
    "tests.support.venvs",
    "tests.support.installindex",
    "tests.support.osv_server",
    "tests.support.moto_server",
    "tests.support.vault_server",
    "tests.support.keyvault_server",
    "tests.support.dashboard",
]

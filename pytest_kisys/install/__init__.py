"""Vetted, consented, all-or-nothing installs of what the test suite needs.

Entry point: :class:`Installer` with :meth:`Installer.install`, taking
:class:`InstallRequest` objects and returning one :class:`BatchResult`. The heavy parts
(pip, uv, the vetting engine) are only touched when ``install`` is called.
"""

from __future__ import annotations

from pytest_kisys.install.interface import BatchResult
from pytest_kisys.install.interface import DeniedItem
from pytest_kisys.install.interface import InstalledItem
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.install.interface import RefusedChange


__all__ = [
    "BatchResult",
    "DeniedItem",
    "InstallRequest",
    "InstalledItem",
    "Installer",
    "RefusedChange",
]


def __getattr__(name: str) -> object:
    # Lazy: importing the package for its value types must not import pip/uv plumbing.
    if name == "Installer":
        from pytest_kisys.install.installer import Installer

        return Installer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

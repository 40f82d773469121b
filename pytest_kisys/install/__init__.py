"""Vetted, consented, all-or-nothing installs of what the test suite needs.

Entry point: :class:`Installer` with :meth:`Installer.install`, taking
:class:`InstallRequest` objects and returning one :class:`BatchResult`. The heavy parts
(pip, uv, the vetting engine) are only touched when ``install`` is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from pytest_kisys.install.installer import Installer
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
    # Lazy, the value types too: ``kisys install`` starts its early processes
    # (:mod:`.earlyprobe`) from this package before any dataclass module is imported.
    if name == "Installer":
        from pytest_kisys.install.installer import Installer

        return Installer
    if name in __all__:
        from pytest_kisys.install import interface

        return getattr(interface, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

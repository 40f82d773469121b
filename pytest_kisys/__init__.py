"""pytest-kisys: a pytest plugin and test-time supply-chain guard.

Importing this package has no side effects and pulls in nothing heavy: the
plugin entry point (:mod:`pytest_kisys.plugin`) is imported in every pytest run
of an environment where the distribution is installed, on or off.
"""

from __future__ import annotations

from pytest_kisys._version import __version__


__all__ = ["__version__"]

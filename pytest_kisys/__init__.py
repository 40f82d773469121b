"""pytest-kisys: a pytest plugin and test-time supply-chain guard.

Importing this package has no side effects and pulls in nothing heavy: the
plugin entry point (:mod:`pytest_kisys.plugin`) is imported in every pytest run
of an environment where the distribution is installed, on or off, and pytest
compiles this module anew for it where it may not write bytecode; so even
``__version__`` is read from :mod:`pytest_kisys._version` only when asked for.
"""

from __future__ import annotations


__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """``__version__``, imported on first use (PEP 562)."""
    if name == "__version__":
        from pytest_kisys._version import __version__

        return __version__
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

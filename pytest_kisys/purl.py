"""The one package-URL rule for PyPI distributions (the SBOM and the span findings use it)."""

from __future__ import annotations

from urllib.parse import quote


__all__ = ["purl"]


def purl(name: str, version: str | None = None) -> str:
    """The package URL of a PyPI distribution, following the purl ``pypi`` rule.

    The name is lowercased and ``_`` becomes ``-``; dots stay (``zope.interface``, not
    ``zope-interface``); the version is percent-encoded (``1.0+local`` -> ``1.0%2Blocal``).
    """
    text = f"pkg:pypi/{quote(name.lower().replace('_', '-'), safe='.-')}"
    return text + (f"@{quote(version, safe='.-_~')}" if version else "")

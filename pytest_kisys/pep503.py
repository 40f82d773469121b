"""PEP 503 project-name normalisation without importing ``packaging.utils``.

``packaging.utils`` imports ``packaging.tags`` (and with it ``logging``, ``platform``,
``subprocess`` and ``struct``) for its wheel-filename helpers: about 10 ms of ``kisys vet``'s
start-up for a one-line rule. The modules on that path use this copy; it gives exactly what
``packaging.utils.canonicalize_name`` gives (``tests/test_vet_units.py`` compares them).
"""

from __future__ import annotations

import re


__all__ = ["InvalidName", "canonicalize_name", "is_valid_name"]

_VALID = re.compile(r"[a-z0-9]|[a-z0-9][a-z0-9._-]*[a-z0-9]", re.IGNORECASE | re.ASCII)


class InvalidName(ValueError):
    """A project name that is not valid (``validate=True``)."""


def is_valid_name(name: str) -> bool:
    """Whether ``name`` is a valid project name (a bare requirement: no extras, no specifier)."""
    return _VALID.fullmatch(name) is not None


def canonicalize_name(name: str, *, validate: bool = False) -> str:
    """``name`` lowercased with every run of ``-``, ``_`` and ``.`` made one ``-`` (PEP 503).

    :raises InvalidName: with ``validate``, when ``name`` is not a valid project name.
    """
    if validate and not is_valid_name(name):
        raise InvalidName(f"name is invalid: {name!r}")
    value = name.lower().replace("_", "-").replace(".", "-")
    while "--" in value:
        value = value.replace("--", "-")
    return value

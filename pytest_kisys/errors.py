"""The project's own exception hierarchy.

Every subsystem translates the narrow exceptions of the libraries it drives
(urllib3, subprocess, yaml, bandit, ...) into one of these with ``raise ... from``
so callers can tell "could not check" apart from "checked and found nothing".
"""

from __future__ import annotations


class KisysError(Exception):
    """Base class of every error pytest-kisys raises on purpose."""


class ConfigError(KisysError):
    """A configuration value is invalid; the message names key, source and what is allowed."""


class RequirementError(KisysError, ValueError):
    """A requirement string was rejected before any network call or subprocess."""


class IndexClientError(KisysError):
    """The package index could not be asked (connection, timeout, bad response)."""


class InstallError(KisysError):
    """An install batch failed; the environment has been restored."""


class ScanError(KisysError):
    """A scanner could not run to completion; its check is inconclusive, never clean."""


class StageError(KisysError):
    """The stage graph is invalid or a stage could not run."""


class CacheCorruptWarning(UserWarning):
    """A cache file was unreadable and has been discarded."""


class ToolError(ScanError):
    """A scanner is not available: not installed here and no kisys tool environment for it.

    A :class:`ScanError`, so the check it belongs to is inconclusive; the message is one line
    saying how to prepare the tools.
    """


class HistoryError(KisysError):
    """The history store could not be opened, migrated, written or read."""

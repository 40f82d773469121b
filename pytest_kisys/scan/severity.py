"""How much a detect-secrets hit matters: a severity per plugin, one lower in test data.

Private keys and cloud provider keys are ``critical``; tokens with a format their issuer
defines (and that could be checked) are ``high``; keyword matches (``password = ...``) are
``medium``; generic high-entropy strings, which are mostly hashes, ids and encoded data, are
``low``. A plugin missing from the table (a custom one) is ``high``. Under the
``secrets_test_paths`` globs (test directories, fixtures, zoneinfo, data files such as
``.json`` and ``.csv``) each counts one level lower. ``secrets_severity`` overrides entries.
The SARIF ``level`` and ``security-severity`` follow from the resulting severity.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import fnmatch

from pytest_kisys.options import SEVERITIES


SECRET_SEVERITY: Mapping[str, str] = {
    # Private keys and cloud provider credentials.
    "PrivateKeyDetector": "critical",  # pragma: allowlist secret (a plugin name, not a key)
    "AWSKeyDetector": "critical",
    "AzureStorageKeyDetector": "critical",
    "IbmCloudIamDetector": "critical",
    "IbmCosHmacDetector": "critical",
    "SoftlayerDetector": "critical",
    "CloudantDetector": "critical",
    # Tokens in a format their issuer defines.
    "GitHubTokenDetector": "high",
    "GitLabTokenDetector": "high",
    "SlackDetector": "high",
    "StripeDetector": "high",
    "JwtTokenDetector": "high",
    "TwilioKeyDetector": "high",
    "MailchimpDetector": "high",
    "NpmDetector": "high",
    "OpenAIDetector": "high",
    "PypiTokenDetector": "high",
    "SendGridDetector": "high",
    "SquareOAuthDetector": "high",
    "DiscordBotTokenDetector": "high",
    "TelegramBotTokenDetector": "high",
    "ArtifactoryDetector": "high",
    "BasicAuthDetector": "high",
    # A secret-looking name with a value.
    "KeywordDetector": "medium",
    # Anything random-looking.
    "Base64HighEntropyString": "low",
    "HexHighEntropyString": "low",
    "IPPublicDetector": "low",
}
UNKNOWN_PLUGIN_SEVERITY = "high"


def lower(severity: str) -> str:
    """One level below ``severity`` (``info`` stays ``info``)."""
    index = SEVERITIES.index(severity) if severity in SEVERITIES else 0
    return SEVERITIES[max(0, index - 1)]


def in_test_data(rel_path: str, globs: Sequence[str]) -> bool:
    """Whether ``rel_path`` matches one of ``globs`` (fnmatch: ``*`` also matches ``/``)."""
    return any(fnmatch.fnmatchcase(rel_path, pattern) for pattern in globs)


def secret_severity(
    plugin: str, rel_path: str, overrides: Mapping[str, str], test_globs: Sequence[str]
) -> str:
    """The severity of a ``plugin`` hit in ``rel_path`` (see the module docstring)."""
    base = overrides.get(plugin) or SECRET_SEVERITY.get(plugin, UNKNOWN_PLUGIN_SEVERITY)
    return lower(base) if in_test_data(rel_path, test_globs) else base

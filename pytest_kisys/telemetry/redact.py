"""Masks secrets in span attribute values before they leave the process.

Masked: URL credentials (the userinfo of a URL becomes ``https://***@host``), values assigned to
names that look secret (``api_token=...``), the values of environment variables whose names
contain TOKEN, SECRET, PASSWORD, KEY or CREDENTIAL, OTLP header values, and any value
registered later with :meth:`Redactor.add` (the secret scan's findings).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import re
import threading


MASK = "***"
SECRET_NAME_PARTS = ("TOKEN", "SECRET", "PASSWORD", "KEY", "CREDENTIAL")
# Shorter values would mask ordinary words and numbers everywhere.
MIN_SECRET_LENGTH = 4

_URL_CREDENTIALS = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)([\w.-]*(?:token|secret|passw(?:or)?d|key|credential)[\w.-]*=)(['\"]?)[^\s'\",;&]+"
)
_SECRET_OPTION = re.compile(r"(?i)^--?[\w.-]*(?:token|secret|passw(?:or)?d|key|credential)[\w.-]*$")


def is_secret_name(name: str) -> bool:
    """Whether an environment variable or option called ``name`` holds a secret."""
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)


class Redactor:
    """Thread-safe masker; the set of literal secrets only grows."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._literal: re.Pattern[str] | None = None
        self.add(secrets)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], extra: Iterable[str] = ()) -> Redactor:
        """A redactor that masks the values of secret-looking variables of ``environ``."""
        values = [value for name, value in environ.items() if is_secret_name(name)]
        return cls([*values, *extra])

    def add(self, secrets: Iterable[str]) -> None:
        """Mask these literal values too (short values are ignored)."""
        new = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        with self._lock:
            if new <= self._secrets:
                return
            self._secrets |= new
            # Longest first, so a secret containing another is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._literal = re.compile("|".join(re.escape(s) for s in ordered))

    def redact(self, text: str) -> str:
        """``text`` with every known secret, URL credential and secret assignment masked."""
        literal = self._literal
        if literal is not None:
            text = literal.sub(MASK, text)
        if "@" in text:
            text = _URL_CREDENTIALS.sub(r"\1" + MASK + "@", text)
        if "=" in text:
            text = _SECRET_ASSIGNMENT.sub(r"\1\2" + MASK, text)
        return text

    def redact_args(self, args: Sequence[str]) -> list[str]:
        """A command line with secrets masked, including the value after ``--api-token``."""
        masked: list[str] = []
        hide_next = False
        for arg in args:
            if hide_next:
                masked.append(MASK)
                hide_next = False
                continue
            name, sep, _ = arg.partition("=")
            if _SECRET_OPTION.match(name):
                if sep:
                    masked.append(f"{name}={MASK}")
                    continue
                hide_next = True
            masked.append(self.redact(arg))
        return masked

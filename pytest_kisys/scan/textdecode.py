"""How the secrets check turns a file's bytes into text, so no text file reads as "clean".

detect-secrets opens files in the locale encoding and silently skips one that does not decode:
a latin-1 Python file, a UTF-16 file or one stray ``\\xe9`` byte hid every secret in the file.
Here the encoding is found the way Python finds a source file's (BOM, then a PEP 263 coding
cookie), UTF-16 without a BOM is recognised by its zero bytes, and whatever is left is read as
UTF-8 with replacement characters: the secrets themselves are ASCII, so they are still found.

Files holding zero bytes that are not UTF-16 are binary and skipped, as detect-secrets skips
them. A file whose coding cookie names an encoding Python does not know cannot be read as text
at all: :class:`Undecodable` says why, and the check is inconclusive.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
import re


_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its BOM starts with UTF-16-LE's
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Share of zero bytes in the high half of each code unit above which a BOM-less file is UTF-16.
_UTF16_ZEROS = 0.9


@dataclass(frozen=True)
class Undecodable:
    """A file that cannot be read as text; ``reason`` is shown as the inconclusive item."""

    reason: str


def _cookie(content: bytes) -> str | None:
    for line in content.splitlines()[:2]:
        match = _COOKIE.match(line)
        if match:
            return match.group(1).decode("ascii")
    return None


def _utf16_without_bom(content: bytes) -> str | None:
    if len(content) < 2 or len(content) % 2:
        return None
    for codec, high in (("utf-16-le", content[1::2]), ("utf-16-be", content[0::2])):
        if high.count(0) >= _UTF16_ZEROS * len(high):
            try:
                return content.decode(codec)
            except UnicodeDecodeError:
                return None
    return None


def decode_source(content: bytes) -> str | Undecodable | None:
    """The text of a file (universal newlines), :class:`Undecodable`, or None for binary."""
    text = _decode(content)
    if isinstance(text, str):
        return text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _decode(content: bytes) -> str | Undecodable | None:
    for bom, codec in _BOMS:
        if content.startswith(bom):
            return content.decode(codec, "replace")
    name = _cookie(content)
    if name is not None:
        try:
            codecs.lookup(name)
        except LookupError:
            return Undecodable(f"declares encoding {name!r}, which Python does not know")
        try:
            return content.decode(name)
        except UnicodeDecodeError:
            pass  # the cookie is wrong; read it as UTF-8 below, like a text editor would
    if b"\0" in content:
        return _utf16_without_bom(content)
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("utf-8", "replace")

"""Strict requirement parsing: only ``name[extras] specifier ; marker``, checked before any I/O.

Everything a requirement string could smuggle into a pip command line is rejected here, with a
message naming the input and what is accepted: URLs and direct references, file paths, VCS
references, pip options (anything starting with ``-``), control, non-ASCII and shell
metacharacters, whitespace inside a name, names over 100 characters and invalid specifiers.
"""

from __future__ import annotations

from dataclasses import dataclass
import re

from pytest_kisys.errors import RequirementError
from pytest_kisys.pep503 import canonicalize_name
from pytest_kisys.pep503 import InvalidName


MAX_NAME_LENGTH = 100
ACCEPTED = (
    "accepted: a PEP 508 requirement 'name[extras] specifier ; marker' such as 'numpy>=1.26' "
    "or 'requests[socks]==2.32.3 ; python_version >= \"3.11\"' "
    "(no URLs, file paths, VCS references or pip options)"
)

# The name token at the start: everything up to the first extras/specifier/marker character.
_LEADING_NAME = re.compile(r"^\s*([^\s\[(<>=!~;,]*)")
_WHITESPACE_IN_NAME = re.compile(r"^\s*[A-Za-z0-9._-]+\s+[A-Za-z0-9._-]")
# Never part of a valid requirement outside a marker's quoted strings; meaningful to a shell.
_SHELL_ANYWHERE = frozenset("`$|&\\{}^%?#")
_VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+", "git:", "hg:", "svn:", "bzr:")
_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".egg")


@dataclass(frozen=True)
class ParsedRequirement:
    """A vetted PEP 508 requirement without a URL.

    ``name`` is PEP 503-canonical, ``extras`` sorted and canonical, ``specifier`` the
    normalised specifier set (``""`` for any version), ``marker`` the normalised marker or None.
    """

    raw: str
    name: str
    extras: tuple[str, ...] = ()
    specifier: str = ""
    marker: str | None = None

    def __str__(self) -> str:
        text = self.without_marker()
        if self.marker:
            text += f" ; {self.marker}"
        return text

    def without_marker(self) -> str:
        """The requirement for pip or a resolver: name, extras, specifier (the marker, if
        any, evaluated already)."""
        text = self.name
        if self.extras:
            text += "[" + ",".join(self.extras) + "]"
        return text + self.specifier

    def applies(self, environment: dict[str, str] | None = None) -> bool:
        """Whether the marker (if any) holds for ``environment`` (default: this interpreter)."""
        if self.marker is None:
            return True
        from packaging.markers import default_environment
        from packaging.requirements import Requirement

        env = {key: str(value) for key, value in default_environment().items()}
        env.update(environment or {})
        marker = Requirement(f"x ; {self.marker}").marker
        return marker is None or marker.evaluate(env)

    def exact_version(self) -> str | None:
        """The version pinned with ``==X`` (no wildcard), or None."""
        match = re.fullmatch(r"===?([A-Za-z0-9.+!_-]+)", self.specifier)
        return match.group(1) if match else None


def _reject(raw: str, why: str) -> RequirementError:
    shown = ascii(raw if len(raw) <= 120 else raw[:117] + "...")
    return RequirementError(f"invalid requirement {shown}: {why}; {ACCEPTED}")


def _check_characters(raw: str) -> None:
    for char in raw:
        code = ord(char)
        if code < 0x20 or code == 0x7F:
            raise _reject(raw, f"control character U+{code:04X}")
        if code > 0x7E:
            raise _reject(
                raw, f"non-ASCII character U+{code:04X} (confusable or homoglyph names are refused)"
            )
    head, _, marker = raw.partition(";")
    bad = sorted(set(raw) & _SHELL_ANYWHERE)
    if bad:
        raise _reject(raw, f"shell metacharacter {bad[0]!r}")
    if "'" in head or '"' in head:
        raise _reject(raw, "quote outside a marker")
    if ";" in marker:
        raise _reject(raw, "more than one ';' (shell command separator)")


def _check_shape(raw: str) -> str | None:
    stripped = raw.strip()
    lower = stripped.lower()
    if stripped.startswith("-"):
        raise _reject(raw, "starts with '-' (pip options such as --index-url or -e are refused)")
    if "://" in stripped or lower.startswith(("file:", "http:", "https:")):
        raise _reject(raw, "URL")
    if lower.startswith(_VCS_PREFIXES):
        raise _reject(raw, "VCS reference")
    head = stripped.partition(";")[0]
    if "@" in head:
        raise _reject(raw, "direct reference ('name @ url')")
    if stripped.startswith((".", "/", "~")) or "/" in head or lower.endswith(_ARCHIVE_SUFFIXES):
        raise _reject(raw, "file path")
    if _WHITESPACE_IN_NAME.match(stripped):
        raise _reject(raw, "whitespace inside the name")
    name = _LEADING_NAME.match(stripped)
    token = name.group(1) if name else ""
    if not token:
        raise _reject(raw, "no project name")
    if len(token) > MAX_NAME_LENGTH:
        raise _reject(raw, f"name longer than {MAX_NAME_LENGTH} characters")
    try:
        canonical = canonicalize_name(token, validate=True)
    except InvalidName:
        raise _reject(raw, f"invalid project name {token!r}") from None
    # A bare, valid name is the whole requirement: nothing else for the PEP 508 parser to read.
    return canonical if stripped == token else None


def parse_requirement(text: str) -> ParsedRequirement:
    """Parse and validate one requirement string, or raise :class:`RequirementError`.

    No network call or subprocess happens here; callers parse every input before doing I/O.
    """
    if not isinstance(text, str):
        raise RequirementError(f"invalid requirement {text!r}: not a string; {ACCEPTED}")
    if not text.strip():
        raise _reject(text, "empty")
    _check_characters(text)
    bare = _check_shape(text)
    if bare is not None:
        # What the parser gives for a bare name, without importing it (kisys vet's start-up).
        return ParsedRequirement(raw=text, name=bare)
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement

    try:
        parsed = Requirement(text)
    except InvalidRequirement as exc:
        detail = str(exc).splitlines()[0]
        raise _reject(text, f"not valid PEP 508 ({detail})") from exc
    if parsed.url:
        raise _reject(text, "direct reference ('name @ url')")
    return ParsedRequirement(
        raw=text,
        name=canonicalize_name(parsed.name),
        extras=tuple(sorted(canonicalize_name(e) for e in parsed.extras)),
        specifier=str(parsed.specifier),
        marker=str(parsed.marker) if parsed.marker is not None else None,
    )

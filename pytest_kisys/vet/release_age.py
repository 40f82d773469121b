"""The release-age cooldown: only files uploaded at least ``min_release_age`` ago are used.

Pure logic, shared by the resolvers (which version may be picked), the policy (what is
denied and why) and the reports (which newer releases were held back):

* :func:`parse_duration` reads ``7d``, ``48h``, ``30m``, ``2w`` or ``0`` (off);
* :func:`cutoff` is the absolute time "now minus the age" that uv's ``--exclude-newer`` and
  pip's ``--uploaded-prior-to`` receive;
* :func:`too_new` and :func:`held_back` compare a project's per-version upload times (from
  the index, :attr:`ProjectSignals.uploads`) with that cutoff;
* :class:`ReleaseAgeExemption` is one ``release_age_exempt`` entry (name, reason, expiry).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
import datetime as dt
import re

from packaging.version import InvalidVersion
from packaging.version import Version


DEFAULT_MIN_RELEASE_AGE = 7 * 86400.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([wdhms]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}
DURATION_ALLOWED = "a duration such as 7d, 48h, 30m or 2w, or 0 to turn the cooldown off"


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (``7d``, ``48h``, ``0``; a bare number is seconds).

    Raises ``ValueError`` naming what is accepted.
    """
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not {DURATION_ALLOWED}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


def format_duration(seconds: float) -> str:
    """``7 d``, ``48 h``, ``5 min``: the unit that reads best."""
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.0f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{max(seconds, 0):.0f} s"


def cutoff(now: float, min_age: float) -> float | None:
    """The latest upload time accepted, None when the cooldown is off."""
    return now - min_age if min_age > 0 else None


def iso(timestamp: float) -> str:
    """UTC ISO 8601 with a ``Z``, the form uv and pip accept."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ReleaseAgeExemption:
    """A project whose fresh releases may be used anyway, until ``expires`` (inclusive)."""

    name: str
    reason: str
    expires: dt.date | None = None

    def active(self, today: dt.date) -> bool:
        """Whether the exemption still applies on ``today``."""
        return self.expires is None or today <= self.expires


def exempt_names(exemptions: Iterable[ReleaseAgeExemption], today: dt.date) -> frozenset[str]:
    """Canonical names whose exemption is still in force on ``today``."""
    return frozenset(e.name for e in exemptions if e.active(today))


def _key(version: str) -> Version | None:
    try:
        return Version(version)
    except InvalidVersion:
        return None


def too_new(uploads: Mapping[str, float], limit: float) -> list[str]:
    """Versions whose first file was uploaded after ``limit`` (oldest first)."""
    fresh = [v for v, when in uploads.items() if when > limit]
    return sorted(fresh, key=lambda v: (_key(v) is None, _key(v) or Version("0"), v))


@dataclass(frozen=True)
class HeldBack:
    """A release newer than the one installed that the cooldown kept out."""

    name: str
    version: str
    uploaded: float
    installed: str | None

    def describe(self, now: float, *, installing: bool = True) -> str:
        """``held back kb 1.1, uploaded 1 h ago; installed 1.0`` (``kisys vet``, where nothing
        is installed: ``...; would install 1.0``)."""
        text = f"held back {self.name} {self.version}, uploaded {format_duration(now - self.uploaded)} ago"
        if not self.installed:
            return text + "; nothing old enough"
        return text + (f"; installed {self.installed}" if installing else f"; would install {self.installed}")

    def to_json(self) -> dict[str, object]:
        """Keys: name, version, uploaded (ISO), installed."""
        return {
            "name": self.name,
            "version": self.version,
            "uploaded": iso(self.uploaded),
            "installed": self.installed,
        }


def held_back(name: str, uploads: Mapping[str, float], chosen: str | None, limit: float) -> list[HeldBack]:
    """Releases newer than ``chosen`` (all fresh ones when None) uploaded after ``limit``."""
    chosen_key = _key(chosen) if chosen else None
    out = []
    for version in too_new(uploads, limit):
        key = _key(version)
        if chosen_key is not None and (key is None or key <= chosen_key):
            continue
        out.append(HeldBack(name, version, uploads[version], chosen))
    return out

"""Fields read out of index responses, independent of how they were fetched.

The HTTP client (:mod:`pytest_kisys.vet.indexclient`) hands over decoded bodies; these pure
functions pull out the files (name, yanked, upload time), the PEP 792 project status
(``project-status`` in PEP 691 JSON from api-version 1.4, ``pypi:project-status`` meta tags
in PEP 503 HTML), and each version's first upload time (for the release-age cooldown).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
import datetime as dt
from html.parser import HTMLParser
from typing import Any

from packaging.version import InvalidVersion


STATUSES = ("active", "archived", "quarantined", "deprecated")
"""The PEP 792 statuses; anything else is reported as it is and treated like ``active``."""


def parse_time(text: object) -> float | None:
    """POSIX time of an ISO 8601 string (``Z`` accepted), None when absent or malformed."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def version_of(filename: str) -> tuple[str, bool] | None:
    """(version, is_wheel) from a distribution file name, None when it is not one."""
    # packaging.utils imports packaging.tags: only when an index page is read.
    from packaging.utils import InvalidSdistFilename
    from packaging.utils import InvalidWheelFilename
    from packaging.utils import parse_sdist_filename
    from packaging.utils import parse_wheel_filename

    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1]), True
        return str(parse_sdist_filename(filename)[1]), False
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def json_files(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``filename``, ``yanked``, ``upload_time`` of each PEP 691 file entry."""
    files = []
    for entry in data.get("files") or ():
        if isinstance(entry, dict) and isinstance(entry.get("filename"), str):
            files.append(
                {
                    "filename": entry["filename"],
                    "yanked": bool(entry.get("yanked", False)),
                    "upload_time": parse_time(entry.get("upload-time")),
                    "sha256": _sha256(entry.get("hashes")),
                }
            )
    return files


def _sha256(hashes: object) -> str | None:
    value = hashes.get("sha256") if isinstance(hashes, dict) else None
    return value.lower() if isinstance(value, str) else None


def fragment_sha256(href: str) -> str | None:
    """The ``#sha256=...`` of a PEP 503 link, None when it carries no sha256."""
    _, _, fragment = href.partition("#")
    name, _, value = fragment.partition("=")
    return value.lower() if name == "sha256" and value else None


def file_hashes(files: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """File name -> sha256 for the files whose hash the index gave."""
    return {str(f["filename"]): str(f["sha256"]) for f in files if f.get("sha256")}


def json_status(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(status, reason)`` from PEP 691 JSON; (None, None) when the index does not say."""
    block = data.get("project-status")
    if not isinstance(block, dict):
        return None, None
    status = block.get("status")
    reason = block.get("reason")
    return (
        status.strip().lower() if isinstance(status, str) and status.strip() else None,
        reason if isinstance(reason, str) and reason else None,
    )


class _StatusMeta(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            values = dict(attrs)
            name, content = values.get("name"), values.get("content")
            if name in {"pypi:project-status", "pypi:project-status-reason"} and content:
                self.values[name] = content


def html_status(page: str) -> tuple[str | None, str | None]:
    """``(status, reason)`` from PEP 503 HTML ``<meta name="pypi:project-status">``."""
    parser = _StatusMeta()
    parser.feed(page)
    status = parser.values.get("pypi:project-status")
    return (status.strip().lower() if status else None, parser.values.get("pypi:project-status-reason"))


def first_uploads(files: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Version -> time its first file was uploaded (versions without times are left out)."""
    out: dict[str, float] = {}
    for item in files:
        parsed = version_of(str(item.get("filename", "")))
        when = item.get("upload_time")
        if parsed is None or not isinstance(when, (int, float)):
            continue
        version = parsed[0]
        out[version] = min(out.get(version, when), when)
    return out

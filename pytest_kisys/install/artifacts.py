"""Fetch a planned wheel, check its hash, and check that it provides an import name.

Only the requested items that carry an import name are fetched, in parallel, before anything
is installed. A wheel that could not be fetched or checked is refused: a check that could not
run is never counted as passed.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping
from email.parser import HeaderParser
import hashlib
import os
from pathlib import Path
import re
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile

from pytest_kisys.concurrency import interruptible_map
from pytest_kisys.install.interface import PlannedItem


_TIMEOUT = 60.0


def fetch(item: PlannedItem, directory: Path, *, cert: str | None = None) -> Path:
    """Download ``item``'s artifact into ``directory`` and verify its sha256.

    Raises ``OSError`` (network, file) or ``ValueError`` (hash mismatch).
    """
    target = directory / item.filename
    parsed = urllib.parse.urlparse(item.url)
    if parsed.scheme == "file":
        data = Path(urllib.request.url2pathname(parsed.path)).read_bytes()
    elif parsed.scheme in {"http", "https"}:
        context = None
        if parsed.scheme == "https":
            cafile = cert or os.environ.get("PIP_CERT") or None
            context = ssl.create_default_context(cafile=cafile)
        # The scheme was checked above: only http(s) reaches urllib.
        request = urllib.request.Request(item.url, headers={"User-Agent": "pytest-kisys"})  # noqa: S310
        with urllib.request.urlopen(  # noqa: S310  # nosec B310 - scheme checked above
            request, timeout=_TIMEOUT, context=context
        ) as response:
            data = response.read()
    else:
        raise ValueError(f"unsupported artifact URL scheme {parsed.scheme!r}: {item.url}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != item.sha256:
        raise ValueError(f"{item.filename}: sha256 {digest} does not match the resolved {item.sha256}")
    target.write_bytes(data)
    return target


def check_import_names(
    wanted: Mapping[str, tuple[PlannedItem, str]],
    *,
    cert: str | None = None,
    fetched: Mapping[str, Path] | None = None,
) -> dict[str, str | None]:
    """For each name, None when its wheel provides the import, else why it is refused.

    ``fetched`` maps names to wheels already downloaded and hash-checked (by inspection).
    """

    def check(entry: tuple[PlannedItem, str], directory: Path) -> str | None:
        item, module = entry
        try:
            known = (fetched or {}).get(item.name)
            path = known if known is not None else fetch(item, directory, cert=cert)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            return (
                f"could not check that {item.filename} provides 'import {module}' "
                f"(fetching it failed: {exc}); refused"
            )
        if not wheel_provides(path, module):
            return (
                f"{item.filename} does not provide 'import {module}': installing {item.name} "
                "would not satisfy the import (wrong or look-alike distribution)"
            )
        return None

    with tempfile.TemporaryDirectory(prefix="kisys-wheels-") as tmp:
        directory = Path(tmp)
        # Ctrl-C stops waiting at once: a slow download is abandoned, not waited for.
        verdicts = interruptible_map(
            lambda entry: check(entry, directory), list(wanted.values()), workers=8,
            name="kisys-wheel-check",
        )
        return dict(zip(wanted, verdicts, strict=True))


_EXTENSION_SUFFIX = re.compile(r"\.(cpython-[^.]+|abi3|cp\d+[^.]*|pypy[^.]*)?\.?(so|pyd)$")


def _installed_paths(names: Collection[str]) -> list[str]:
    """Wheel entries as they land in site-packages (``X.data/purelib/`` stripped, metadata out)."""
    paths = []
    for entry in names:
        parts = entry.split("/")
        if parts[0].endswith(".data") and len(parts) > 2 and parts[1] in ("purelib", "platlib"):
            paths.append("/".join(parts[2:]))
        elif not parts[0].endswith((".dist-info", ".data")):
            paths.append(entry)
    return paths


def _top_level_names(paths: Collection[str]) -> set[str]:
    tops: set[str] = set()
    for entry in paths:
        parts = entry.split("/")
        first = parts[0]
        if len(parts) > 1:
            tops.add(first)
        elif first.endswith(".py"):
            tops.add(first[:-3])
        elif _EXTENSION_SUFFIX.search(first):
            tops.add(first.split(".", 1)[0])
    return tops


def wheel_provides(path_to_wheel: Path | str, import_name: str) -> bool:
    """Whether the wheel at ``path_to_wheel`` provides ``import_name`` (top-level or dotted).

    Reads the wheel's file list (so ``top_level.txt`` cannot lie for it) and, when the wheel
    declares PEP 794 ``Import-Name``/``Import-Namespace`` fields, also requires the name there.
    An unreadable or invalid wheel provides nothing.
    """
    try:
        with zipfile.ZipFile(path_to_wheel) as archive:
            names = archive.namelist()
            metadata_name = next(
                (n for n in names if n.count("/") == 1 and n.endswith(".dist-info/METADATA")), None
            )
            metadata = archive.read(metadata_name).decode("utf-8") if metadata_name else ""
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, KeyError):
        return False
    parts = import_name.split(".")
    plain = _installed_paths(names)
    if parts[0] not in _top_level_names(plain):
        return False
    if len(parts) > 1:
        prefix = "/".join(parts)
        if not any(
            n.startswith(prefix + "/")
            or n == prefix + ".py"
            or (n.startswith(prefix + ".") and _EXTENSION_SUFFIX.search(n))
            for n in plain
        ):
            return False
    headers = HeaderParser().parsestr(metadata)
    declared = [v.split(";")[0].strip() for v in (headers.get_all("Import-Name") or [])]
    declared += [v.split(";")[0].strip() for v in (headers.get_all("Import-Namespace") or [])]
    if declared:
        return any(
            import_name == d or import_name.startswith(d + ".") or d.startswith(import_name + ".")
            for d in declared
        )
    return True

"""Open a wheel for inspection without extracting, importing or executing anything.

:class:`WheelArchive` reads the zip's directory once, refuses what an installer must never
unpack (path traversal, absolute paths, symlinks, duplicate names, archive bombs) as
findings, and hands the rules member bytes under a size cap. Nothing touches the disk.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from email.parser import HeaderParser
import functools
import hashlib
from pathlib import Path
import stat
import zipfile

from pytest_kisys.inspect.model import InspectFinding


MAX_TOTAL_BYTES = 2 * 1024**3
"""Largest total uncompressed size accepted (larger wheels are refused as archive bombs)."""
MAX_MEMBERS = 200_000
MAX_RATIO = 200
"""Largest compression ratio of a member above :data:`RATIO_FLOOR` bytes."""
RATIO_FLOOR = 16 * 1024**2
MAX_READ = 64 * 1024**2
"""Largest member read into memory by a rule (bigger ones are only hashed by RECORD)."""


class WheelArchive:
    """A wheel's members and metadata; ``refusals`` holds the archive-level findings."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filename = path.name
        self._zip = zipfile.ZipFile(path)
        self.infos: dict[str, zipfile.ZipInfo] = {}
        self.refusals: list[InspectFinding] = []
        self._check_directory()

    def close(self) -> None:
        """Close the zip file."""
        self._zip.close()

    def __enter__(self) -> WheelArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- archive-level refusals

    def _refuse(self, rule: str, name: str, message: str) -> None:
        self.refusals.append(InspectFinding(rule, "high", name, 0, message))

    def _check_directory(self) -> None:
        infos = self._zip.infolist()
        if len(infos) > MAX_MEMBERS:
            self._refuse("archive.bomb", self.filename, f"{len(infos)} members (limit {MAX_MEMBERS})")
            return
        total = 0
        for info in infos:
            name = info.filename
            if name in self.infos:
                self._refuse("archive.duplicate", name, "the same path appears twice in the zip")
                continue
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
                self._refuse("archive.traversal", name, "path escapes the install directory")
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                self._refuse("archive.symlink", name, "symbolic link in a wheel")
                continue
            total += info.file_size
            if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                self._refuse(
                    "archive.bomb",
                    name,
                    f"expands {info.file_size // max(info.compress_size, 1)}x to {info.file_size} bytes",
                )
                continue
            if not name.endswith("/"):
                self.infos[name] = info
        if total > MAX_TOTAL_BYTES:
            self._refuse("archive.bomb", self.filename, f"expands to {total} bytes (limit {MAX_TOTAL_BYTES})")

    # -- members

    def read(self, name: str, limit: int = MAX_READ) -> bytes:
        """The bytes of member ``name`` (at most ``limit``; raises ``KeyError`` if absent)."""
        info = self.infos[name]
        with self._zip.open(info) as handle:
            return handle.read(limit)

    @functools.cached_property
    def digests(self) -> dict[str, tuple[str, int, bytes]]:
        """Member -> (RECORD-style sha256, size, first 4 bytes), from one pass over the data
        (every member is decompressed once, for RECORD and the native-code rule alike)."""
        out: dict[str, tuple[str, int, bytes]] = {}
        for name, info in self.infos.items():
            digest = hashlib.sha256()
            size = 0
            head = b""
            with self._zip.open(info) as handle:
                while chunk := handle.read(1024 * 1024):
                    if not head:
                        head = chunk[:4]
                    digest.update(chunk)
                    size += len(chunk)
            encoded = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
            out[name] = (f"sha256={encoded}", size, head)
        return out

    def text(self, name: str) -> str | None:
        """Member ``name`` as UTF-8 text, None when absent or not UTF-8."""
        if name not in self.infos:
            return None
        try:
            return self.read(name).decode("utf-8")
        except UnicodeDecodeError:
            return None

    # -- wheel layout

    @functools.cached_property
    def dist_info(self) -> str | None:
        """The ``NAME-VERSION.dist-info`` directory, None when there is none or several."""
        found = {n.split("/", 1)[0] for n in self.infos if n.split("/", 1)[0].endswith(".dist-info")}
        return found.pop() if len(found) == 1 else None

    @functools.cached_property
    def data_dir(self) -> str | None:
        """The ``NAME-VERSION.data`` directory prefix, None when absent."""
        if self.dist_info is None:
            return None
        return self.dist_info.removesuffix(".dist-info") + ".data"

    def installed_path(self, name: str) -> str | None:
        """Where member ``name`` lands relative to site-packages (None: scripts, headers, data)."""
        data = self.data_dir
        if data is not None and name.startswith(data + "/"):
            rest = name[len(data) + 1 :]
            scheme, _, inner = rest.partition("/")
            return inner if scheme in {"purelib", "platlib"} and inner else None
        return name

    def site_files(self) -> Iterator[tuple[str, str]]:
        """``(member, path relative to site-packages)`` for every file landing there."""
        for name in self.infos:
            target = self.installed_path(name)
            if target is not None:
                yield name, target

    def scripts(self) -> list[str]:
        """Members under ``NAME.data/scripts/`` (copied into the environment's ``bin``)."""
        data = self.data_dir
        if data is None:
            return []
        prefix = data + "/scripts/"
        return [n for n in self.infos if n.startswith(prefix) and len(n) > len(prefix)]

    @functools.cached_property
    def tags(self) -> tuple[str, ...]:
        """``Tag`` values from ``WHEEL`` (e.g. ``py3-none-any``)."""
        text = self.text(f"{self.dist_info}/WHEEL") if self.dist_info else None
        if text is None:
            return ()
        return tuple(HeaderParser().parsestr(text).get_all("Tag") or ())

    @functools.cached_property
    def is_pure(self) -> bool:
        """True when the file name's tags (what installers match) are all ``*-none-any``;
        ``WHEEL``'s own tags count only when the file name cannot be parsed."""
        parts = self.filename.removesuffix(".whl").split("-")
        if len(parts) >= 5:
            abis, platforms = parts[-2].split("."), parts[-1].split(".")
            return abis == ["none"] and platforms == ["any"]
        return bool(self.tags) and all(t.split("-")[1:] == ["none", "any"] for t in self.tags)

    def top_levels(self) -> set[str]:
        """Top-level import names this wheel installs (from its files, not ``top_level.txt``)."""
        found: set[str] = set()
        for _member, target in self.site_files():
            first = target.split("/", 1)[0]
            if first.endswith((".dist-info", ".data")) or first == "__pycache__":
                continue
            if "/" in target:
                found.add(first)
            elif first.endswith(".py"):
                found.add(first.removesuffix(".py"))
            elif ".so" in first or first.endswith(".pyd"):
                found.add(first.split(".", 1)[0])
        return found

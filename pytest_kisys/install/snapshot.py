"""Snapshot the environment's own site-packages before a batch, and roll back to it.

Only the target environment's own directories are touched (its site-packages and scripts
directory, and only paths inside its prefix): a ``.pth``-linked or system site-packages is
never modified. Rollback works from the files on disk (``RECORD``), so it needs neither pip
nor uv and also cleans up after an installer that was killed half-way.
"""

from __future__ import annotations

from collections.abc import Iterable
import csv
from dataclasses import dataclass
from dataclasses import field
import os
from pathlib import Path
import shutil
import tempfile

from pytest_kisys.install.environment import TargetEnv
from pytest_kisys.pep503 import canonicalize_name


@dataclass(frozen=True)
class DistInfo:
    """A ``*.dist-info`` directory in one of the environment's own site directories."""

    name: str
    version: str
    path: Path

    @property
    def site_dir(self) -> Path:
        """The site-packages directory that RECORD paths are relative to."""
        return self.path.parent


def read_dist_info(path: Path) -> DistInfo | None:
    """Name and version of a ``*.dist-info`` directory (from METADATA, else its dir name)."""
    name = version = ""
    metadata = path / "METADATA"
    try:
        with metadata.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                if key == "Name" and not name:
                    name = value.strip()
                elif key == "Version" and not version:
                    version = value.strip()
    except OSError:
        pass
    if not name or not version:
        stem = path.name[: -len(".dist-info")]
        name, _, version = stem.partition("-")
    if not name:
        return None
    return DistInfo(canonicalize_name(name), version, path)


def dist_infos(site_dirs: Iterable[Path]) -> dict[str, DistInfo]:
    """Every distribution installed directly in ``site_dirs``, keyed by canonical name."""
    found: dict[str, DistInfo] = {}
    for site in site_dirs:
        try:
            entries = sorted(site.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".dist-info") and entry.is_dir():
                info = read_dist_info(entry)
                if info is not None:
                    found.setdefault(info.name, info)
    return found


def record_files(info: DistInfo) -> list[Path]:
    """Absolute paths of the files a distribution's RECORD lists (missing RECORD: the dir)."""
    record = info.path / "RECORD"
    files: list[Path] = []
    try:
        with record.open(encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                if row and row[0]:
                    files.append(Path(os.path.normpath(info.site_dir / row[0])))
    except OSError:
        return [p for p in info.path.rglob("*") if p.is_file()]
    return files


def _entries(directory: Path) -> frozenset[str]:
    try:
        return frozenset(entry.name for entry in directory.iterdir())
    except OSError:
        return frozenset()


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


@dataclass
class Snapshot:
    """The state of the environment's own directories at the start of a batch.

    Distributions the batch may replace are backed up file by file, so rollback can put the
    old version back without any network access.
    """

    prefix: Path
    site_dirs: tuple[Path, ...]
    scripts_dir: Path
    dists: dict[str, DistInfo]
    entries: dict[Path, frozenset[str]]
    backup_dir: Path | None = None
    backups: dict[str, list[Path]] = field(default_factory=dict)
    # What this batch may change (canonical names); None: anything. Rollback leaves the rest,
    # which another process may have installed meanwhile, alone.
    planned: frozenset[str] | None = None

    @classmethod
    def take(
        cls, env: TargetEnv, replace: Iterable[str] = (), planned: Iterable[str] | None = None
    ) -> Snapshot:
        """Record the environment and back up the distributions named in ``replace``.

        ``planned`` names every distribution the batch installs; rollback touches only those.
        """
        prefix = Path(os.path.normpath(env.prefix))
        scripts = prefix / ("Scripts" if os.name == "nt" else "bin")
        site_dirs = env.site_dirs
        snap = cls(
            prefix=prefix,
            site_dirs=site_dirs,
            scripts_dir=scripts,
            dists=dist_infos(site_dirs),
            # Leftover scanning covers site-packages only: a shared bin/ may get other files.
            entries={d: _entries(d) for d in site_dirs},
            planned=None if planned is None else frozenset(canonicalize_name(n) for n in planned),
        )
        for name in replace:
            snap._back_up(canonicalize_name(name))
        return snap

    def _back_up(self, name: str) -> None:
        info = self.dists.get(name)
        if info is None or name in self.backups:
            return
        if self.backup_dir is None:
            self.backup_dir = Path(tempfile.mkdtemp(prefix="kisys-backup-"))
        saved: list[Path] = []
        for source in record_files(info):
            if not source.is_file() or not _inside(source, self.prefix):
                continue
            target = self.backup_dir / name / source.relative_to(self.prefix)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            saved.append(source)
        self.backups[name] = saved

    def new_pth_files(self) -> list[Path]:
        """``.pth`` files that appeared in the site directories since the snapshot."""
        found: list[Path] = []
        for site in self.site_dirs:
            before = self.entries.get(site, frozenset())
            for name in sorted(_entries(site) - before):
                if name.endswith(".pth"):
                    found.append(site / name)
        return found

    def changed(self) -> bool:
        """Whether the distributions or top-level entries differ from the snapshot."""
        now = dist_infos(self.site_dirs)
        if {k: (v.version, v.path) for k, v in now.items()} != {
            k: (v.version, v.path) for k, v in self.dists.items()
        }:
            return True
        return any(_entries(d) != before for d, before in self.entries.items())

    def rollback(self) -> list[str]:
        """Undo everything since the snapshot; returns a line per action taken."""
        actions: list[str] = []
        now = dist_infos(self.site_dirs)
        foreign: set[Path] = set()  # what other processes installed meanwhile: kept
        for name, info in sorted(now.items()):
            old = self.dists.get(name)
            if old is not None and old.path == info.path and old.version == info.version:
                continue
            if self.planned is not None and name not in self.planned:
                foreign |= self._top_level(info)
                actions.append(f"kept {name} {info.version}: not installed by this batch")
                continue
            self._remove_dist(info)
            if old is None:
                actions.append(f"removed {name} {info.version}")
            else:
                actions.append(f"removed {name} {info.version} (replacing {old.version})")
        for name, old in sorted(self.dists.items()):
            current = now.get(name)
            if current is not None and current.path == old.path and current.version == old.version:
                continue
            if self.planned is not None and name not in self.planned:
                continue
            if self._restore(name):
                actions.append(f"restored {name} {old.version}")
            else:
                actions.append(f"could not restore {name} {old.version}: no backup")
        # Leftovers of an installer killed half-way (files written before its RECORD).
        for directory, before in self.entries.items():
            for entry in sorted(_entries(directory) - before):
                path = directory / entry
                if path in foreign:
                    continue
                _remove_path(path)
                actions.append(f"removed leftover {path}")
        return actions

    def _top_level(self, info: DistInfo) -> set[Path]:
        """The site-directory entries a distribution's files live under (and its dist-info)."""
        tops = {info.path}
        for path in record_files(info):
            for site in self.site_dirs:
                if _inside(path, site) and path != site:
                    tops.add(site / path.relative_to(site).parts[0])
        return tops

    def _remove_dist(self, info: DistInfo) -> None:
        parents: set[Path] = set()
        for path in record_files(info):
            if not _inside(path, self.prefix) or path.is_dir():
                continue
            if path.suffix == ".py":
                for cached in path.parent.glob(f"__pycache__/{path.stem}.*.pyc"):
                    _unlink(cached)
            _unlink(path)
            parents.add(path.parent)
        shutil.rmtree(info.path, ignore_errors=True)
        roots = {*self.site_dirs, self.scripts_dir, self.prefix}
        for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            _prune_empty(parent, roots)

    def _restore(self, name: str) -> bool:
        saved = self.backups.get(name)
        if saved is None or self.backup_dir is None:
            return False
        for original in saved:
            source = self.backup_dir / name / original.relative_to(self.prefix)
            original.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, original)
        return True

    def discard(self) -> None:
        """Delete the backups (after a successful batch or a completed rollback)."""
        if self.backup_dir is not None:
            shutil.rmtree(self.backup_dir, ignore_errors=True)
            self.backup_dir = None
            self.backups.clear()


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        _unlink(path)


def _prune_empty(directory: Path, roots: set[Path]) -> None:
    """Remove ``directory`` and its parents while they are empty (or hold only __pycache__)."""
    current = directory
    while current not in roots and len(current.parts) > 1:
        cache = current / "__pycache__"
        if cache.is_dir() and not any(cache.iterdir()):
            cache.rmdir()
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent

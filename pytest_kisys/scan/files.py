"""Which files of the project the code and secret checks look at.

The project's own files: git-tracked plus untracked-but-not-ignored files when ``rootdir`` is
inside a git work tree, else a directory walk. Either way virtualenvs (any directory holding a
``pyvenv.cfg``), ``.tox``/``.nox``, build output, ``site-packages``, VCS metadata and tool
caches are left out: they are not the project's code and scanning them costs minutes.
"""

from __future__ import annotations

from collections.abc import Iterable
import os
from pathlib import Path
import re
import shutil
import stat
import subprocess
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    # Type only: scan workers import this module in the tool environment, without pytest.
    from pytest_kisys.scan.interface import Inconclusive
    from pytest_kisys.settings import Settings

from pytest_kisys.errors import ScanError


# Larger files are not read: their check is inconclusive for them (never "clean"), and a
# symlink to /dev/zero or a huge generated file cannot exhaust memory.
MAX_FILE_BYTES = 16 * 1024 * 1024


class TooLarge(ScanError):
    """A file is over :data:`MAX_FILE_BYTES`; the check says so for that file."""


def is_regular(path: Path) -> bool:
    """Whether ``path`` reaches a regular file (a FIFO, device or socket is never scanned)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_capped(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``path``, never blocking on a FIFO, at most ``limit``.

    Raises :class:`TooLarge` past ``limit`` and :class:`ScanError` for anything that is not a
    readable regular file (it may have been swapped since the listing).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise ScanError(f"cannot read {path.name}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ScanError(f"{path.name} is not a regular file")
        if st.st_size > limit:
            raise TooLarge(f"{st.st_size} bytes, over the {limit} byte limit: not scanned")
        chunks = []
        size = 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"grew over the {limit} byte limit while read: not scanned")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ScanError(f"cannot read {path.name}: {exc.strerror}") from exc
    finally:
        os.close(fd)


EXCLUDED_DIR_NAMES = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        "__pycache__",
        "site-packages",
        ".eggs",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".kisys",  # the run history (binary SQLite), not the project's code
    }
)


# Build output sits at the top of the tree; deeper down these are ordinary packages
# (pip itself has pip/_internal/operations/build/).
TOP_LEVEL_EXCLUDED = frozenset({"build", "dist"})


def _excluded_dir(name: str, *, top: bool = False) -> bool:
    if top and name in TOP_LEVEL_EXCLUDED:
        return True
    return name in EXCLUDED_DIR_NAMES or name.endswith((".egg-info", ".egg"))


# git's warning for a directory it could not list (with LC_ALL=C, so never translated).
_GIT_UNREADABLE = re.compile(r"^warning: could not open directory '(.+?)/?': ", re.MULTILINE)


def _git_files(root: Path, unreadable: list[str]) -> list[str] | None:
    """Relative paths git knows under ``root``, or None when ``root`` is not in a work tree;
    directories git could not open go to ``unreadable``."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        proc = subprocess.run(
            [git, "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            timeout=60,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    stderr = proc.stderr.decode("utf-8", "surrogateescape")
    unreadable.extend(m.group(1) for m in _GIT_UNREADABLE.finditer(stderr))
    return [p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def is_virtualenv(path: Path) -> bool:
    """Whether the directory ``path`` holds a ``pyvenv.cfg`` (False when it cannot be told:
    an unreadable directory is reported by whoever lists it)."""
    try:
        return os.path.lexists(path / "pyvenv.cfg")
    except (OSError, ValueError):
        return False


def _walk(root: Path, unreadable: list[str]) -> list[str]:
    found: list[str] = []

    def refused(error: OSError) -> None:
        # os.walk could not list a directory: its files are unknown, never "none".
        where = Path(error.filename) if error.filename else root
        try:
            unreadable.append(where.relative_to(root).as_posix())
        except ValueError:
            unreadable.append(str(where))

    for dirpath, dirnames, filenames in os.walk(root, onerror=refused):
        here = Path(dirpath)
        top = here == root
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not _excluded_dir(d, top=top) and not is_virtualenv(here / d)
        )
        for name in filenames:
            if is_regular(here / name):
                found.append((here / name).relative_to(root).as_posix())
    return found


def _in_excluded_dir(rel: str, venvs: set[str]) -> bool:
    parts = rel.split("/")[:-1]
    if any(_excluded_dir(p, top=i == 0) for i, p in enumerate(parts)):
        return True
    return any(rel.startswith(v + "/") for v in venvs)


def project_files(
    root: Path,
    *,
    use_git: bool = True,
    exclude: Iterable[Path | None] = (),
    unreadable: list[str] | None = None,
) -> list[str]:
    """Sorted relative POSIX paths of the project's regular files under ``root``.

    ``exclude`` names extra files or directories to leave out (kisys's own cache directory
    and report files when they live inside the tree: they hold hashes that look like secrets).
    Directories that could not be listed (permissions) are appended to ``unreadable`` (relative
    paths): the caller makes its check inconclusive for them, never clean.
    """
    refused: list[str] = []
    listed = _git_files(root, refused) if use_git else None
    if listed is None:
        refused.clear()
        found = _walk(root, refused)
    else:
        # git does not know about virtualenvs kept inside the tree but not ignored; drop them.
        venvs = {str(Path(p).parent.as_posix()) for p in listed if p.endswith("/pyvenv.cfg")}
        found = [p for p in listed if not _in_excluded_dir(p, venvs) and is_regular(root / p)]
    skipped = _relative_excludes(root, exclude)
    if unreadable is not None:
        unreadable.extend(
            d for d in sorted(set(refused))
            if not any(d == s or d.startswith(s + "/") for s in skipped)
            and not _in_excluded_dir(d + "/x", set())
        )
    return sorted(
        p for p in found if not any(p == s or p.startswith(s + "/") for s in skipped)
    )


def _relative_excludes(root: Path, exclude: Iterable[Path | None]) -> list[str]:
    out: list[str] = []
    resolved_root = root.resolve()
    for path in exclude:
        if path is None:
            continue
        absolute = (path if path.is_absolute() else resolved_root / path).resolve()
        try:
            out.append(absolute.relative_to(resolved_root).as_posix())
        except ValueError:
            continue  # outside the tree: nothing to leave out
    return out


def own_outputs(settings: Settings) -> list[Path | None]:
    """kisys's own files that may sit inside the project: cache directory and reports."""
    return [
        settings.resolved_cache_dir(),
        settings.cache_dir,  # as configured: the one in use may be a fallback elsewhere
        settings.report,
        settings.sarif,
        settings.sarif_split,
        settings.sbom,
        settings.log_file,
    ]


def python_files(paths: Iterable[str]) -> list[str]:
    """The Python sources among ``paths`` (``*.py`` and ``*.pyw``, as bandit discovers them)."""
    return [p for p in paths if p.endswith((".py", ".pyw"))]


def unreadable_items(tool: str, directories: Iterable[str]) -> list[Inconclusive]:
    """One inconclusive item per directory the listing could not read: its files are unknown."""
    from pytest_kisys.scan.interface import Inconclusive

    reason = "directory cannot be read (permission denied): its files were not checked"
    return [Inconclusive(tool, f"{d}/", reason) for d in directories]

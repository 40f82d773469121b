"""Run history: every ``pytest --kisys`` run recorded as it goes, for ``kisys dashboard``.

The interface is :mod:`~pytest_kisys.history.interface` (frozen values and the store protocol);
:func:`open_store` picks the backend for the settings. Importing this package imports no
database library.
"""

from __future__ import annotations

from pathlib import Path

from pytest_kisys.history.interface import HistoryStore
from pytest_kisys.settings import Settings


DEFAULT_FILE = Path(".kisys") / "history.db"


def history_url(settings: Settings) -> str:
    """The store of this run: ``history_url``, else ``<rootdir>/.kisys/history.db``.

    A relative SQLite file path is relative to ``rootdir``.
    """
    if settings.history_url:
        path = sqlite_path(settings.history_url)
        if path is not None and not path.is_absolute():
            return f"sqlite:///{settings.rootdir / path}"
        return settings.history_url
    return f"sqlite:///{settings.rootdir / DEFAULT_FILE}"


def sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL (or a bare path), else None."""
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///") :]
        return None if "?" in rest or not rest or rest == ":memory:" else Path(rest)
    if "://" not in url:
        return Path(url)
    return None


def open_store(url: str) -> HistoryStore:
    """The store at ``url``: SQLite files through ``sqlite3``, anything else through SQLAlchemy.

    :raises HistoryError: when it cannot be opened, or when SQLAlchemy is needed and missing.
    """
    path = sqlite_path(url)
    if path is not None:
        from pytest_kisys.history.sqlite_store import SQLiteStore

        return SQLiteStore(path)
    try:
        from pytest_kisys.history.sa_store import SAStore
    except ImportError as exc:
        from pytest_kisys.errors import HistoryError

        scheme = url.split("://", 1)[0]
        raise HistoryError(
            f"history_url {scheme}://... needs SQLAlchemy: pip install 'pytest-kisys[dashboard]' ({exc})"
        ) from exc
    return SAStore(url)

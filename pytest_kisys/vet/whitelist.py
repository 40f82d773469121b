"""The whitelist: distributions trusted enough to install without asking at ``balanced``.

The default list is the earlier engine's, minus the ``dataclasses`` backport (stdlib since
3.7; installing the backport breaks modern interpreters). It is extended by ``allow`` in the
settings (config files, ``--kisys-allow``) and at runtime with :meth:`Whitelist.add`::

    vetter.whitelist.add("httpx")      # trusted for the rest of this run

A deny-list or known-malicious hit always wins over the whitelist.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
import threading

from pytest_kisys.pep503 import canonicalize_name


DEFAULT_WHITELIST: tuple[str, ...] = (
    "numpy", "scipy", "pandas", "matplotlib", "seaborn", "soundfile", "librosa", "pydub",
    "resampy", "audioread", "scikit-learn", "torch", "tensorflow", "keras", "h5py", "netcdf4",
    "xlrd", "openpyxl", "pyarrow", "tqdm", "click", "rich", "colorama", "tabulate", "pytest",
    "pytest-asyncio", "pytest-cov", "typing-extensions", "attrs",
)  # fmt: skip


class Whitelist:
    """A thread-safe set of canonical distribution names; only ever grows during a run."""

    def __init__(self, names: Iterable[str] = DEFAULT_WHITELIST, extra: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._names = {canonicalize_name(n) for n in (*names, *extra)}

    def add(self, name: str) -> None:
        """Trust ``name`` (any spelling; stored canonical) for the rest of this object's life."""
        with self._lock:
            self._names.add(canonicalize_name(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonicalize_name(name) in self._names

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(sorted(self._names))

    def __len__(self) -> int:
        return len(self._names)

"""Typosquat verdicts remembered between runs, keyed by what they are computed from.

Whether a name imitates a popular project depends only on the name, the bundled popular list
and the scoring code; checking 50 names costs a warm ``kisys vet`` 15-20 ms, most of its own
work. The verdicts against the bundled list are kept in one JSON file under
``<cache>/typosquat/``, valid for one digest of the popular list and of the two modules that
compute them (:mod:`~pytest_kisys.vet.typosquat`, :mod:`~pytest_kisys.vet.typosquat_signals`):
a new list or new scoring starts afresh, and a verdict read back is the one the checker gives.
A damaged file is discarded with a :class:`~pytest_kisys.errors.CacheCorruptWarning`.
"""

from __future__ import annotations

from collections.abc import Callable
import functools
import hashlib
import json
from pathlib import Path

from pytest_kisys.atomic import write_atomic
from pytest_kisys.cachedir import discard_cache_entry
from pytest_kisys.vet.data import bundled_bytes
from pytest_kisys.vet.typosquat_signals import Signal
from pytest_kisys.vet.typosquat_signals import TyposquatMatch


MAX_NAMES = 50_000
"""Beyond this many remembered names the file starts afresh (it stays a few MB at most)."""

Stored = tuple[str, str, int] | None


@functools.cache
def inputs_digest() -> str:
    """Digest of the bundled popular list and of the scoring modules' source."""
    from pytest_kisys.vet import typosquat
    from pytest_kisys.vet import typosquat_signals

    digest = hashlib.sha256(b"kisys-typosquat-verdicts-v1\0")
    digest.update(bundled_bytes("popular.txt"))
    for module in (typosquat, typosquat_signals):
        digest.update(b"\0" + Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


class VerdictCache:
    """Name -> its typosquat verdict against the bundled list, read once, written on :meth:`save`."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.path = cache_dir / "typosquat" / "verdicts.json" if cache_dir is not None else None
        self._known: dict[str, Stored] | None = None
        self._added = False

    def match(self, name: str, compute: Callable[[str], TyposquatMatch | None]) -> TyposquatMatch | None:
        """The verdict for ``name``: remembered, or ``compute(name)`` (then remembered)."""
        known = self._load()
        if name in known:
            stored = known[name]
            return None if stored is None else TyposquatMatch(stored[0], Signal(stored[1]), stored[2])
        found = compute(name)
        known[name] = None if found is None else (found.target, found.signal.value, found.rank)
        self._added = True
        return found

    def save(self) -> None:
        """Write the verdicts when some were added (an unwritable cache costs speed only)."""
        if self.path is None or not self._added or self._known is None:
            return
        known = self._known if len(self._known) <= MAX_NAMES else {}
        try:
            write_atomic(self.path, json.dumps({"digest": inputs_digest(), "verdicts": known}))
        except OSError:
            return
        self._added = False

    def _load(self) -> dict[str, Stored]:
        if self._known is not None:
            return self._known
        self._known = {}
        if self.path is None:
            return self._known
        try:
            raw = self.path.read_bytes()
        except OSError:
            return self._known  # none yet, or unreadable: computed again and rewritten
        try:
            data = json.loads(raw)  # bytes: non-UTF-8 content is a ValueError like bad JSON
            verdicts = data["verdicts"] if data["digest"] == inputs_digest() else {}
            if not isinstance(verdicts, dict) or not all(_valid(v) for v in verdicts.values()):
                raise ValueError("not a verdict table")
        except (ValueError, TypeError, KeyError) as exc:
            discard_cache_entry(
                self.path,
                f"pytest-kisys: discarding corrupt ({type(exc).__name__}) typosquat verdict file {self.path}",
            )
            return self._known
        self._known = {name: None if v is None else (v[0], v[1], v[2]) for name, v in verdicts.items()}
        return self._known


def _valid(stored: object) -> bool:
    if stored is None:
        return True
    if not isinstance(stored, list) or len(stored) != 3:
        return False
    target, signal, rank = stored
    return (
        isinstance(target, str)
        and isinstance(rank, int)
        and not isinstance(rank, bool)
        and signal in _SIGNAL_VALUES
    )


_SIGNAL_VALUES = frozenset(signal.value for signal in Signal)

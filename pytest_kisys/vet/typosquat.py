"""Typosquat detection: the index of popular names, and the check over it.

For a candidate name we generate every plausible "typo of a popular name" the other way round
(one deletion, insertion, substitution or adjacent swap; doubled or dropped letters; separator
changes; ``py``/``python`` prefixes and suffixes; homoglyphs such as ``rn``/``m``, ``0``/``o``,
``1``/``l``) and look each variant up in a hash set: a few hundred set lookups per name instead
of a distance computation against ten thousand names. One-character edits use a deletion
index (each popular name filed under itself and its one-deletion variants, the SymSpell idea):
a candidate's own deletions are looked up and each hit is confirmed with a direct one-edit
comparison, so insertions, deletions, substitutions and swaps cost ``len(name) + 1`` lookups.
Popular names are never flagged. Which signal a match is and whether it counts (the
scoring) lives in :mod:`pytest_kisys.vet.typosquat_signals`; this module only builds and holds
the index.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Mapping
import functools

from pytest_kisys.vet.typosquat_signals import best_flagged
from pytest_kisys.vet.typosquat_signals import MIN_EDIT_LENGTH
from pytest_kisys.vet.typosquat_signals import one_edit_apart
from pytest_kisys.vet.typosquat_signals import TyposquatMatch


__all__ = ["TyposquatChecker", "one_edit_apart", "popular_checker"]


class TyposquatChecker:
    """Finds the popular name a candidate imitates, if any.

    :param ranks: canonical popular name -> rank (lower is more popular); the best-ranked match
        wins when several popular names are one typo away.
    :param protected: extra canonical names to protect (e.g. the whitelist), ranked last.
    """

    def __init__(self, ranks: Mapping[str, int], protected: Collection[str] = ()) -> None:
        self._ranks = dict(ranks)
        worst = len(self._ranks) + 1
        for name in protected:
            self._ranks.setdefault(name, worst)
        # key -> first (best-ranked) popular name filed under it; rare collisions go to _more.
        by_deletion: dict[str, str] = {}
        more: dict[str, list[str]] = {}
        short = MIN_EDIT_LENGTH - 1
        for popular in self._ranks:
            if len(popular) < short:
                continue
            for key in (popular, *[popular[:i] + popular[i + 1 :] for i in range(len(popular))]):
                first = by_deletion.setdefault(key, popular)
                if first != popular:
                    more.setdefault(key, []).append(popular)
        self._by_deletion = by_deletion
        self._more = more

    def rank(self, name: str) -> int | None:
        """The rank of a popular (or protected) name, or None."""
        return self._ranks.get(name)

    def near(self, key: str) -> Iterable[str]:
        """Popular names equal to ``key`` or one deletion away from it."""
        first = self._by_deletion.get(key)
        if first is None:
            return ()
        return (first, *self._more.get(key, ()))

    def match(self, name: str) -> TyposquatMatch | None:
        """The popular project ``name`` imitates by a signal that counts, or None."""
        return best_flagged(name, self)

    def check(self, name: str) -> str | None:
        """The popular name ``name`` looks like a typo of, or None (always None if popular)."""
        found = best_flagged(name, self)
        return found.target if found else None


@functools.cache
def popular_checker() -> TyposquatChecker:
    """The checker over the bundled popular list, built once per process (about 0.2 s)."""
    from pytest_kisys.vet.data import popular_ranks

    return TyposquatChecker(popular_ranks())

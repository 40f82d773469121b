"""Typosquat detection: the index of popular names, and the check over it.

For a candidate name we generate every plausible "typo of a popular name" the other way round
(one deletion, insertion, substitution or adjacent swap; doubled or dropped letters; separator
changes; ``py``/``python`` prefixes and suffixes; homoglyphs such as ``rn``/``m``, ``0``/``o``,
``1``/``l``) and look each variant up in a hash set: a few hundred set lookups per name instead
of a distance computation against ten thousand names. One-character edits use a deletion
index (each popular name filed under itself and its one-deletion variants, the SymSpell idea):
a candidate's own deletions are looked up and each hit is confirmed with a direct one-edit
comparison, so insertions, deletions, substitutions and swaps cost ``len(name) + 1`` lookups.
The index is built per length of popular name on first use: a key of length ``n`` only ever
meets names of length ``n + 1`` (its deletions) or ``n`` (itself), so vetting 50 names builds
the few groups their lengths need (a few ms) instead of filing all 10,000 names under 140,000
keys at start-up (60-230 ms), with the same answers.
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
        # Popular names by length, in rank order (shorter than MIN_EDIT_LENGTH - 1 never match).
        by_length: dict[int, list[str]] = {}
        short = MIN_EDIT_LENGTH - 1
        for popular in self._ranks:
            if len(popular) >= short:
                by_length.setdefault(len(popular), []).append(popular)
        self._by_length = by_length
        self._short = short
        # length -> (one-deletion key -> the names of that length filed under it), on first use.
        self._deletions: dict[int, dict[str, list[str]]] = {}

    def _deletion_group(self, length: int) -> dict[str, list[str]]:
        group = self._deletions.get(length)
        if group is None:
            built: dict[str, list[str]] = {}
            for popular in self._by_length.get(length, ()):
                for key in dict.fromkeys(popular[:i] + popular[i + 1 :] for i in range(length)):
                    built.setdefault(key, []).append(popular)
            # Complete before it is shared: a second thread at worst builds it again.
            group = self._deletions.setdefault(length, built)
        return group

    def rank(self, name: str) -> int | None:
        """The rank of a popular (or protected) name, or None."""
        return self._ranks.get(name)

    def near(self, key: str) -> Iterable[str]:
        """Popular names equal to ``key`` or one deletion away from it."""
        found = tuple(self._deletion_group(len(key) + 1).get(key, ()))
        if len(key) >= self._short and key in self._ranks:
            return (key, *found)
        return found

    def match(self, name: str) -> TyposquatMatch | None:
        """The popular project ``name`` imitates by a signal that counts, or None."""
        return best_flagged(name, self)

    def check(self, name: str) -> str | None:
        """The popular name ``name`` looks like a typo of, or None (always None if popular)."""
        found = best_flagged(name, self)
        return found.target if found else None


@functools.cache
def popular_checker() -> TyposquatChecker:
    """The checker over the bundled popular list, built once per process (its groups on first use)."""
    from pytest_kisys.vet.data import popular_ranks

    return TyposquatChecker(popular_ranks())

"""Typosquat detection by generate-and-lookup against the popular project names.

For a candidate name we generate every plausible "typo of a popular name" the other way round
(one deletion, insertion, substitution or adjacent swap; doubled or dropped letters; separator
changes; ``py``/``python`` prefixes and suffixes; homoglyphs such as ``rn``/``m``, ``0``/``o``,
``1``/``l``) and look each variant up in a hash set: a few hundred set lookups per name instead
of a distance computation against ten thousand names. One-character edits use a deletion
index (each popular name filed under itself and its one-deletion variants, the SymSpell idea):
a candidate's own deletions are looked up and each hit is confirmed with a direct one-edit
comparison, so insertions, deletions, substitutions and swaps cost ``len(name) + 1`` lookups.
Popular names are never flagged.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Iterator
from collections.abc import Mapping
import functools


# Pairs that look alike; each is tried in both directions.
HOMOGLYPHS = (
    ("rn", "m"),
    ("0", "o"),
    ("1", "l"),
    ("vv", "w"),
    ("cl", "d"),
    ("i", "l"),
    ("5", "s"),
    ("3", "e"),
    ("nn", "m"),
)
AFFIXES = ("py", "python", "py-", "python-", "-py", "-python", "python3", "python3-", "py3")
# One-character edits of very short names hit too many unrelated projects.
MIN_EDIT_LENGTH = 4


def _deletions(name: str) -> Iterator[str]:
    """``name`` with one character removed, at every position."""
    for i in range(len(name)):
        yield name[:i] + name[i + 1 :]


def one_edit_apart(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by exactly one deletion, insertion, substitution or
    adjacent swap (optimal string alignment distance 1)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    prefix = 0
    limit = min(len(a), len(b))
    while prefix < limit and a[prefix] == b[prefix]:
        prefix += 1
    if len(a) == len(b):
        if a[prefix + 1 :] == b[prefix + 1 :]:
            return True  # substitution
        return a[prefix : prefix + 2] == b[prefix : prefix + 2][::-1] and a[prefix + 2 :] == b[prefix + 2 :]
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return shorter[prefix:] == longer[prefix + 1 :]


def _homoglyph_variants(name: str) -> Iterator[str]:
    for first, second in HOMOGLYPHS:
        for old, new in ((first, second), (second, first)):
            start = name.find(old)
            while start != -1:
                yield name[:start] + new + name[start + len(old) :]
                start = name.find(old, start + 1)
            if old in name:
                yield name.replace(old, new)


def _affix_variants(name: str) -> Iterator[str]:
    for affix in AFFIXES:
        if name.startswith(affix.rstrip("-")) and not affix.startswith("-"):
            yield name[len(affix) :].strip("-")
        if name.endswith(affix.lstrip("-")):
            yield name[: len(name) - len(affix.lstrip("-"))].strip("-")
        if affix.startswith("-"):
            yield name + affix
        else:
            yield affix + name
    yield name.replace("-", "")


def variants(name: str) -> Iterator[str]:
    """Generated look-alikes of ``name`` other than one-character edits (may repeat)."""
    yield from _homoglyph_variants(name)
    yield from _affix_variants(name)


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

    def check(self, name: str) -> str | None:
        """The popular name ``name`` looks like a typo of, or None (always None if popular)."""
        ranks = self._ranks
        if name in ranks:
            return None
        best: str | None = None
        best_rank = 0
        candidates: set[str] = set(variants(name))
        if len(name) >= MIN_EDIT_LENGTH:
            index, more = self._by_deletion, self._more
            for key in (name, *_deletions(name)):
                first = index.get(key)
                if first is None:
                    continue
                for popular in (first, *more.get(key, ())):
                    if one_edit_apart(name, popular):
                        candidates.add(popular)
        for variant in candidates:
            rank = ranks.get(variant)
            if rank is not None and variant != name and (best is None or rank < best_rank):
                best, best_rank = variant, rank
        return best


@functools.cache
def popular_checker() -> TyposquatChecker:
    """The checker over the bundled popular list, built once per process (about 0.2 s)."""
    from pytest_kisys.vet.data import popular_ranks

    return TyposquatChecker(popular_ranks())

"""Typosquat scoring: which look-alike signal ties a name to a popular one, and whether it counts.

Pure functions over a :class:`NameIndex` (the popular names and their one-deletion keys, built
and loaded by :mod:`pytest_kisys.vet.typosquat`): nothing here builds or loads an index, so the
index can be made lazy or prebuilt without touching the scoring.

Each way a name can imitate a popular one is a :class:`Signal`. Whether a match is flagged
depends on the signal and on how popular the imitated project is (``MAX_RANK``): attackers
imitate the most-downloaded projects, while a legitimate project one letter away from a name
ranked 4,000th is common (``nose2``/``nose``, ``scanpy``/``scapy``). The limits were chosen on
names the bundled list does not contain (``scripts/typosquat_holdout.py``): held-out popular
projects for false alarms, the OpenSSF malicious names for recall.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
import enum
from typing import Protocol


class Signal(enum.Enum):
    """How a candidate name imitates a popular one (most typo-like first)."""

    KEYBOARD = "keyboard-adjacent substitution"
    SWAP = "adjacent letters swapped"
    REPEAT = "letter repeated or omitted"
    SEPARATOR = "separators added, dropped or moved"
    HOMOGLYPH = "look-alike characters"
    AFFIX = "popular name with a py/python/dev-style prefix or suffix"
    EDIT = "one letter added, dropped or changed"
    DIGIT = "digit added, dropped or changed"
    EDIT2 = "two typing slips"
    FUSED = "popular name glued to other letters"


# The most popular rank (1 = most downloaded) a signal may point to and still be flagged.
MAX_RANK: dict[Signal, int] = {
    Signal.KEYBOARD: 10000,
    Signal.SWAP: 10000,
    Signal.REPEAT: 10000,
    Signal.SEPARATOR: 500,
    Signal.HOMOGLYPH: 10000,
    Signal.AFFIX: 300,
    Signal.EDIT: 10000,
    Signal.DIGIT: 100,
    Signal.EDIT2: 10000,
    Signal.FUSED: 100,
}
# One-character edits of very short names hit too many unrelated projects.
MIN_EDIT_LENGTH = 4
# Two slips only count on long names, where two slips still leave the name recognisable.
MIN_EDIT2_LENGTH = 8

# A popular name glued to other letters counts when it is this long, the rest at least this long.
MIN_FUSED_LENGTH = 6
MIN_FUSED_REST = 3

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
PREFIXES = ("py", "python", "python3", "py3", "py-", "python-", "python3-")
SUFFIXES = ("py", "-py", "-python", "python", "py3", "-py3", "-dev", "-lib", "-sdk", "-official", "-latest")
SEPARATORS = "-"
_KEYBOARD_ROWS = ("1234567890-", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, frozenset[str]]:
    """Keys next to each other on a QWERTY keyboard (same row, or the row above or below)."""
    where = {key: (row, col) for row, keys in enumerate(_KEYBOARD_ROWS) for col, key in enumerate(keys)}
    near: dict[str, set[str]] = {key: set() for key in where}
    for key, (row, col) in where.items():
        for other, (orow, ocol) in where.items():
            if other != key and abs(orow - row) <= 1 and abs(ocol - col) <= 1:
                near[key].add(other)
    return {key: frozenset(keys) for key, keys in near.items()}


KEYBOARD_NEIGHBOURS = _keyboard_neighbours()


class NameIndex(Protocol):
    """What the scoring needs of the popular-name index."""

    def rank(self, name: str) -> int | None:
        """The rank of a popular (or protected) name, or None."""

    def near(self, key: str) -> Iterable[str]:
        """Popular names equal to ``key`` or one deletion away from it."""


@dataclass(frozen=True)
class TyposquatMatch:
    """A popular project a name imitates, how, and that project's rank."""

    target: str
    signal: Signal
    rank: int

    @property
    def flagged(self) -> bool:
        """True when this signal counts for a target this popular."""
        return self.rank <= MAX_RANK[self.signal]


def deletions(name: str) -> Iterator[str]:
    """``name`` with one character removed, at every position."""
    for i in range(len(name)):
        yield name[:i] + name[i + 1 :]


def one_edit_apart(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by exactly one deletion, insertion, substitution or
    adjacent swap (optimal string alignment distance 1)."""
    return edit_signal(a, b) is not None


def _collapse(name: str) -> str:
    """``name`` with every run of one repeated character cut to one."""
    out: list[str] = []
    for char in name:
        if not out or out[-1] != char:
            out.append(char)
    return "".join(out)


def edit_signal(a: str, b: str) -> Signal | None:
    """The one-slip signal between ``a`` and ``b``, or None when they are not one edit apart."""
    if a == b or abs(len(a) - len(b)) > 1:
        return None
    prefix = 0
    limit = min(len(a), len(b))
    while prefix < limit and a[prefix] == b[prefix]:
        prefix += 1
    if len(a) == len(b):
        if a[prefix + 1 :] == b[prefix + 1 :]:
            x, y = a[prefix], b[prefix]
            if x.isdigit() or y.isdigit():
                return Signal.DIGIT
            if y in KEYBOARD_NEIGHBOURS.get(x, ()):
                return Signal.KEYBOARD
            return Signal.EDIT
        if a[prefix : prefix + 2] == b[prefix : prefix + 2][::-1] and a[prefix + 2 :] == b[prefix + 2 :]:
            return Signal.SWAP
        return None
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    if shorter[prefix:] != longer[prefix + 1 :]:
        return None
    extra = longer[prefix]
    if extra.isdigit():
        return Signal.DIGIT
    if extra in SEPARATORS:
        return Signal.SEPARATOR
    if _collapse(shorter) == _collapse(longer):
        return Signal.REPEAT
    return Signal.EDIT


def osa_distance(a: str, b: str, limit: int = 2) -> int:
    """Optimal string alignment distance of ``a`` and ``b``, or ``limit + 1`` when above it."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[-1], limit + 1)


def homoglyph_variants(name: str) -> Iterator[str]:
    """``name`` with look-alike characters exchanged, one place or everywhere."""
    for first, second in HOMOGLYPHS:
        for old, new in ((first, second), (second, first)):
            start = name.find(old)
            while start != -1:
                yield name[:start] + new + name[start + len(old) :]
                start = name.find(old, start + 1)
            if old in name:
                yield name.replace(old, new)


def affix_variants(name: str) -> Iterator[str]:
    """``name`` without a py/python/dev-style prefix or suffix, and with one added."""
    for prefix in PREFIXES:
        if name.startswith(prefix):
            yield name[len(prefix) :].strip("-")
        yield prefix + name
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            yield name[: -len(suffix)].strip("-")
        yield name + suffix


def separator_variants(name: str) -> Iterator[str]:
    """``name`` with its separators dropped (each or all) or one added at any place."""
    yield name.replace("-", "")
    for i, char in enumerate(name):
        if char == "-":
            yield name[:i] + name[i + 1 :]
        elif i and name[i - 1] != "-":
            yield name[:i] + "-" + name[i:]


def repeat_variants(name: str) -> Iterator[str]:
    """``name`` with its repeated letters cut down (to one, or runs of three or more to two)."""
    yield _collapse(name)
    out: list[str] = []
    for char in name:
        if len(out) >= 2 and out[-1] == out[-2] == char:
            continue
        out.append(char)
    yield "".join(out)


def fused_variants(name: str) -> Iterator[str]:
    """The heads and tails of ``name`` left when other letters glued to them (no separator)
    are cut off: ``easyrequests`` -> ``requests``, ``coloramapkgs`` -> ``colorama``."""
    for cut in range(MIN_FUSED_REST, len(name) - MIN_FUSED_LENGTH + 1):
        if name[cut - 1] != "-":
            yield name[cut:]
        if name[len(name) - cut] != "-":
            yield name[: len(name) - cut]


def _exact_matches(name: str) -> Iterator[tuple[str, Signal]]:
    for variant in homoglyph_variants(name):
        yield variant, Signal.HOMOGLYPH
    for variant in separator_variants(name):
        yield variant, Signal.SEPARATOR
    for variant in repeat_variants(name):
        yield variant, Signal.REPEAT
    for variant in affix_variants(name):
        yield variant, Signal.AFFIX
    for variant in fused_variants(name):
        yield variant, Signal.FUSED


def _edit_matches(name: str, index: NameIndex) -> Iterator[tuple[str, Signal]]:
    """Popular names one slip away (through the deletion index), or two slips on long names."""
    seen: set[str] = set()
    keys = [name, *deletions(name)]
    for key in keys:
        for popular in index.near(key):
            if popular in seen:
                continue
            seen.add(popular)
            signal = edit_signal(name, popular)
            if signal is not None:
                yield popular, signal
            elif min(len(name), len(popular)) >= MIN_EDIT2_LENGTH and osa_distance(name, popular) == 2:
                yield popular, Signal.EDIT2
    if len(name) < MIN_EDIT2_LENGTH:
        return
    # Two characters too many: the popular name is a deletion of one of ``name``'s deletions.
    for key in set(keys[1:]):
        for second in deletions(key):
            rank = index.rank(second)
            if rank is not None and second not in seen and len(second) >= MIN_EDIT2_LENGTH:
                seen.add(second)
                yield second, Signal.EDIT2


_ORDER = {signal: i for i, signal in enumerate(Signal)}


def _preference(match: TyposquatMatch) -> tuple[bool, int]:
    """Of two signals for one target: the one that counts, then the more typo-like."""
    return match.flagged, -_ORDER[match.signal]


def matches(name: str, index: NameIndex) -> list[TyposquatMatch]:
    """Every popular name ``name`` imitates, with the signal, best (flagged, most popular) first.

    Popular names themselves match nothing.
    """
    if index.rank(name) is not None:
        return []
    found: dict[str, TyposquatMatch] = {}
    pairs: list[tuple[str, Signal]] = list(_exact_matches(name))
    if len(name) >= MIN_EDIT_LENGTH:
        pairs.extend(_edit_matches(name, index))
    for target, signal in pairs:
        if target == name or not target:
            continue
        rank = index.rank(target)
        if rank is None:
            continue
        match = TyposquatMatch(target, signal, rank)
        old = found.get(target)
        if old is None or _preference(match) > _preference(old):
            found[target] = match
    return sorted(found.values(), key=lambda m: (not m.flagged, m.rank))


def best_flagged(name: str, index: NameIndex) -> TyposquatMatch | None:
    """The most popular project ``name`` imitates by a signal that counts, or None."""
    for match in matches(name, index):
        if match.flagged:
            return match
        break
    return None

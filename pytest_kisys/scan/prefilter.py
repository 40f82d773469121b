"""Which lines of a file could yield a detect-secrets finding at all.

detect-secrets hands every line to every plugin (27 of them) through reflection; that
dispatch, not the regular expressions, is where its time goes. A line can only yield a secret
if one plugin's own pattern matches it, so this module builds, from the configured plugins, a
:class:`CandidateFilter` that finds those lines cheaply; only they go through detect-secrets'
pipeline. The filter may admit extra lines (a superset is always safe), never miss one:

* regex detectors: the literal strings every match of a ``denylist`` pattern must contain are
  read from the pattern's parse tree (``(?:key|pwd|token)`` gives three alternatives, case-
  folded when the pattern ignores case); the pattern runs only on lines holding one of them,
  found with ``str.find`` over the whole file. A pattern without such literals is searched
  over the whole file at once in ``MULTILINE`` mode (one call instead of one per line), or line
  by line when its result could change with text beyond the line's ends (negative
  lookarounds, ``\\A``/``\\Z``, atomic groups, possessive quantifiers, backreferences);
* the keyword detector: every keyword contains one of a few substrings (``key``, ``pass``,
  ``pwd``, ``secret``, ``contrase``), found in the case-folded text;
* entropy detectors: a quoted run of the plugin's charset long enough to exceed its limit
  (Shannon entropy of ``n`` characters is at most ``log2(n)``), searched over the whole file.

A plugin the filter does not understand (a custom one) switches it off.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
import importlib
import math
import re
from typing import Any


KEYWORD_NEEDLES = ("key", "pass", "pwd", "secret", "contrase")
# Constructs whose outcome can depend on text beyond the line's own ends.
_CONTEXT_SENSITIVE = re.compile(
    r"\(\?<!|\(\?!|\\A|\\Z|\\z|\(\?>|[*+?}]\+|\\[1-9]|\(\?P=|\(\?\("
)
_REGEX_SUBCLASSES_OK = frozenset({"JwtTokenDetector"})  # only filters its regex matches further


@dataclass(frozen=True)
class LinePattern:
    """One plugin pattern, with literals every match must contain (when they could be found)."""

    pattern: re.Pattern[str]
    literals: tuple[tuple[str, ...], ...] | None = None
    """Every match contains one string of each tuple (a conjunction of alternatives)."""
    folded: bool = False
    """Compare ``literals`` with the case-folded line (the pattern ignores case somewhere)."""
    whole_text: bool = False
    """Search the joined text at once (safe: nothing in it looks past a line's ends)."""


@dataclass(frozen=True)
class CandidateFilter:
    """Finds the lines of a file that some plugin's pattern matches (see the module docstring)."""

    patterns: tuple[LinePattern, ...] = ()
    needles: tuple[str, ...] = ()
    needle_patterns: tuple[re.Pattern[str], ...] = ()
    """The keyword detector's own patterns, tried on the lines holding a needle."""

    def candidates(self, lines: Sequence[str]) -> set[int]:
        """Indexes (0-based) of the ``lines`` (already right-stripped) that may hold a secret."""
        text = _Text(lines)
        marked: set[int] = set()
        if self.needles:
            marked = {
                i
                for i in text.lines_with(self.needles, folded=True)
                if not self.needle_patterns or any(p.search(lines[i]) for p in self.needle_patterns)
            }
        for item in self.patterns:
            if item.literals is not None:
                first, *rest = item.literals
                near = text.lines_with(first, folded=item.folded) - marked
                for alternatives in rest:
                    if not near:
                        break
                    near &= text.lines_with(alternatives, folded=item.folded)
                marked.update(i for i in near if item.pattern.search(lines[i]))
            elif item.whole_text and not text.multiline:
                marked.update(text.search(item.pattern))
            else:
                marked.update(
                    i for i, line in enumerate(lines) if i not in marked and item.pattern.search(line)
                )
        return marked


class _Text:
    """The lines joined once (raw and case-folded), with each line's start offset."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = lines
        self.multiline = any("\n" in line for line in lines)
        self.raw, self.raw_starts = _join(lines)
        self._folded: tuple[str, list[int]] | None = None

    def _fold(self) -> tuple[str, list[int]]:
        if self._folded is None:
            # casefold() maps the long s and the Kelvin sign the way re.IGNORECASE matches
            # them; the dotless i it leaves alone, so map that one by hand.
            self._folded = _join([line.casefold().replace("\u0131", "i") for line in self.lines])
        return self._folded

    def lines_with(self, literals: Iterable[str], *, folded: bool) -> set[int]:
        """Indexes of lines containing one of ``literals``."""
        if self.multiline:
            source = [line.casefold().replace("\u0131", "i") if folded else line for line in self.lines]
            return {i for i, line in enumerate(source) if any(lit in line for lit in literals)}
        text, starts = self._fold() if folded else (self.raw, self.raw_starts)
        found: set[int] = set()
        for literal in literals:
            position = text.find(literal)
            while position != -1:
                index = bisect.bisect_right(starts, position) - 1
                found.add(index)
                # The next line may hold it too: continue from the start of that line.
                position = text.find(literal, starts[index + 1]) if index + 1 < len(starts) else -1
        return found

    def search(self, pattern: re.Pattern[str]) -> set[int]:
        """Indexes of lines where ``pattern`` (compiled with MULTILINE) finds a match."""
        found: set[int] = set()
        position = 0
        while True:
            match = pattern.search(self.raw, position)
            if match is None:
                return found
            index = bisect.bisect_right(self.raw_starts, match.start()) - 1
            found.add(index)
            if index + 1 >= len(self.raw_starts):
                return found
            # Restart at the next line, not after the match: a match that ran across the line
            # end must not hide a match of the next line.
            position = self.raw_starts[index + 1]


def _join(lines: Sequence[str]) -> tuple[str, list[int]]:
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    return "\n".join(lines), starts


def required_literals(
    pattern: re.Pattern[str],
) -> tuple[tuple[tuple[str, ...], ...] | None, bool]:
    """Groups of ASCII strings such that every match of ``pattern`` contains one string of each
    group (None: none known), and whether to compare them case-insensitively."""
    try:
        # The standard library's own regex parser (private, stable since 3.11 under this name);
        # without it every pattern is simply searched line by line.
        sre_constants = importlib.import_module("re._constants")
        sre_parser = importlib.import_module("re._parser")
        tree = sre_parser.parse(pattern.pattern, pattern.flags)
    except (ImportError, re.error, AttributeError):
        return None, False
    folded = bool(pattern.flags & re.IGNORECASE) or re.search(r"\(\?[a-zA-Z]*i", pattern.pattern) is not None
    groups = []
    for group in _required_groups(list(tree), sre_constants):
        cased = {lit.casefold() if folded else lit for lit in group}
        # A one-character literal ("." or ":") is on nearly every line: no help, only cost.
        if not all(lit.isascii() and len(lit) >= 2 for lit in cased):
            continue
        # "password" can only be present where "pass" is: keep the shortest forms.
        minimal = {lit for lit in cased if not any(o != lit and o in lit for o in cased)}
        groups.append(tuple(sorted(minimal)))
    if not groups:
        return None, folded
    # The two most selective groups: the longest shortest literal, then the fewest alternatives.
    groups.sort(key=lambda g: (-min(len(x) for x in g), len(g)))
    return tuple(groups[:2]), folded


def _required_groups(items: list[Any], c: Any) -> list[set[str]]:
    """Every literal-alternatives set that a match of the top-level sequence must satisfy."""
    options: list[set[str]] = []
    run = ""
    for op, arg in items:
        if op is c.LITERAL:
            run += chr(arg)
            continue
        if run:
            options.append({run})
            run = ""
        found = _required_by(op, arg, c)
        if found:
            options.append(found)
    if run:
        options.append({run})
    return options


def _required_by(op: Any, arg: Any, c: Any) -> set[str] | None:
    """Literal alternatives every match of the one non-literal item ``(op, arg)`` contains."""
    if op is c.SUBPATTERN:
        return _required(list(arg[-1]), c)
    if op is c.ATOMIC_GROUP:
        return _required(list(arg), c)
    if op is c.BRANCH:
        branches = [_required(list(branch), c) for branch in arg[1]]
        if all(b is not None for b in branches):
            return set().union(*[b for b in branches if b is not None])
        return None
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT) and arg[0] >= 1:
        return _required(list(arg[2]), c)
    return None


def _required(items: list[Any], c: Any) -> set[str] | None:
    """Literal alternatives every match of the sequence ``items`` contains (None: none known)."""
    options = _required_groups(items, c)
    if not options:
        return None
    # The most selective choice: the longest shortest literal, then the fewest alternatives.
    return max(options, key=lambda o: (min(len(x) for x in o), -len(o)))


def build_filter(plugins: Iterable[Any]) -> CandidateFilter | None:
    """The filter for the configured ``plugins``, or None when one of them is not understood."""
    from detect_secrets.plugins.base import BasePlugin
    from detect_secrets.plugins.base import RegexBasedDetector
    from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin
    from detect_secrets.plugins.keyword import DENYLIST
    from detect_secrets.plugins.keyword import KeywordDetector

    patterns: list[LinePattern] = []
    needles: tuple[str, ...] = ()
    needle_patterns: tuple[re.Pattern[str], ...] = ()
    for plugin in plugins:
        cls = type(plugin)
        if cls is KeywordDetector:
            plain = [entry.replace("_?", "") for entry in DENYLIST]
            if all(any(n in word for n in KEYWORD_NEEDLES) for word in plain):
                needles = KEYWORD_NEEDLES
                needle_patterns = _keyword_patterns()
            else:
                patterns.append(LinePattern(re.compile("|".join(DENYLIST), re.IGNORECASE)))
        elif isinstance(plugin, HighEntropyStringsPlugin) and cls.__module__.startswith(
            "detect_secrets."
        ):
            shortest = max(1, math.floor(2**plugin.entropy_limit))
            charset = re.escape(plugin.charset)
            run = f"[{charset}]{{{shortest},}}"
            quoted = re.compile(f"'{run}'|\"{run}\"", re.MULTILINE)
            patterns.append(LinePattern(quoted, whole_text=True))
        elif isinstance(plugin, RegexBasedDetector) and cls.analyze_line is BasePlugin.analyze_line:
            if cls.analyze_string is not RegexBasedDetector.analyze_string and (
                cls.__name__ not in _REGEX_SUBCLASSES_OK
            ):
                return None
            for regex in plugin.denylist:
                literals, folded = required_literals(regex)
                if literals is not None:
                    patterns.append(LinePattern(regex, literals, folded))
                elif _CONTEXT_SENSITIVE.search(regex.pattern):
                    patterns.append(LinePattern(regex))
                else:
                    multi = re.compile(regex.pattern, regex.flags | re.MULTILINE)
                    patterns.append(LinePattern(multi, whole_text=True))
        else:
            return None
    return CandidateFilter(tuple(patterns), needles, needle_patterns)


def _keyword_patterns() -> tuple[re.Pattern[str], ...]:
    """Every pattern the keyword detector may use, whatever the file type (a superset)."""
    from detect_secrets.plugins import keyword

    tables = [keyword.QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP, *keyword.REGEX_BY_FILETYPE.values()]
    unique: dict[str, re.Pattern[str]] = {}
    for table in tables:
        for regex in table:
            unique[f"{regex.flags}:{regex.pattern}"] = regex
    return tuple(unique.values())

"""Cost attribution: CPU time per test, the most expensive tests and modules, and money.

CPU time is the process CPU time (user + system) spent between the start of a test's setup
and the end of its teardown; peak memory is the process high-water mark (``ru_maxrss``) when
the test ended. With ``cost_per_cpu_hour`` set the money estimate is CPU hours × rate, grouped
by module and by marker (a test with two markers counts for both).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
import heapq
import resource
import sys
from typing import Any


TOP_N = 10


def peak_rss_bytes() -> int:
    """The process's peak resident set size so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return int(peak if sys.platform == "darwin" else peak * 1024)


def module_of(nodeid: str) -> str:
    """The file part of a node id."""
    return nodeid.partition("::")[0]


@dataclass(frozen=True)
class CostSummary:
    """The expensive parts of a run; ``money_*`` are empty without ``cost_per_cpu_hour``."""

    total_cpu_seconds: float
    tests: int
    top_tests: tuple[tuple[str, float], ...]
    top_modules: tuple[tuple[str, float], ...]
    rate_per_cpu_hour: float | None = None
    money_by_module: tuple[tuple[str, float], ...] = ()
    money_by_marker: tuple[tuple[str, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON form for the report (``cpu_seconds``; ``money`` in the rate's currency)."""
        data: dict[str, Any] = {
            "total_cpu_seconds": round(self.total_cpu_seconds, 6),
            "tests": self.tests,
            "top_tests": [{"nodeid": n, "cpu_seconds": round(s, 6)} for n, s in self.top_tests],
            "top_modules": [{"module": m, "cpu_seconds": round(s, 6)} for m, s in self.top_modules],
        }
        if self.rate_per_cpu_hour is not None:
            data["cost_per_cpu_hour"] = self.rate_per_cpu_hour
            data["money_by_module"] = {m: round(v, 6) for m, v in self.money_by_module}
            data["money_by_marker"] = {m: round(v, 6) for m, v in self.money_by_marker}
        return data

    def lines(self) -> list[str]:
        """Terminal lines: totals, top tests, top modules and, with a rate, money."""
        out = [f"cpu time {self.total_cpu_seconds:.3f}s over {self.tests} tests"]
        out += [f"  test    {s:8.3f}s  {n}" for n, s in self.top_tests]
        out += [f"  module  {s:8.3f}s  {m}" for m, s in self.top_modules]
        if self.rate_per_cpu_hour is not None:
            total = self.total_cpu_seconds / 3600 * self.rate_per_cpu_hour
            out.append(f"estimated cost {total:.6f} at {self.rate_per_cpu_hour:g} per cpu hour")
            out += [f"  module  {v:.6f}  {m}" for m, v in self.money_by_module[:TOP_N]]
            out += [f"  marker  {v:.6f}  {m}" for m, v in self.money_by_marker[:TOP_N]]
        return out


def _rank(pair: tuple[str, float]) -> tuple[float, str]:
    """Most expensive first; ties by name, so the order is stable across runs."""
    return (-pair[1], pair[0])


def _top(totals: Mapping[str, float], n: int | None = TOP_N) -> tuple[tuple[str, float], ...]:
    if n is None:
        return tuple(sorted(totals.items(), key=_rank))
    # A bounded selection (O(entries x log n)), not a full sort of every module.
    return tuple(heapq.nsmallest(n, totals.items(), key=_rank))


class CostLedger:
    """Per-test CPU seconds and markers; appended to on the hot path, summarised once."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, float, tuple[str, ...]]] = []

    def add(self, nodeid: str, cpu_seconds: float, markers: tuple[str, ...] = ()) -> None:
        """Record one finished test."""
        self.entries.append((nodeid, cpu_seconds, markers))

    def extend(self, entries: Iterable[Iterable[Any]]) -> None:
        """Merge entries received from an xdist worker (lists after the round trip)."""
        for nodeid, seconds, markers in entries:
            self.entries.append((str(nodeid), float(seconds), tuple(markers)))

    def summary(self, rate_per_cpu_hour: float | None) -> CostSummary:
        """Totals, top :data:`TOP_N` tests and modules, and money groups with a rate."""
        modules: dict[str, float] = {}
        markers: dict[str, float] = {}
        total = 0.0
        for nodeid, seconds, marks in self.entries:
            total += seconds
            module = module_of(nodeid)
            modules[module] = modules.get(module, 0.0) + seconds
            for mark in marks or ("(none)",):
                markers[mark] = markers.get(mark, 0.0) + seconds
        # A bounded selection over every test (a full sort of 100k entries is what it avoids).
        top_tests = tuple(heapq.nsmallest(TOP_N, ((n, s) for n, s, _ in self.entries), key=_rank))
        if rate_per_cpu_hour is None:
            return CostSummary(total, len(self.entries), top_tests, _top(modules))
        per_second = rate_per_cpu_hour / 3600
        return CostSummary(
            total,
            len(self.entries),
            top_tests,
            _top(modules),
            rate_per_cpu_hour,
            tuple((m, s * per_second) for m, s in _top(modules, None)),
            tuple((m, s * per_second) for m, s in _top(markers, None)),
        )

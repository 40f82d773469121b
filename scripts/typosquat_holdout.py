"""Typosquat check measured on names its popular list does not contain (held out by rank).

The checker is built from the ``--protect`` most-downloaded names only; the legitimate
projects ranked below them (``--protect``+1 to 10,000) are the held-out false-alarm set, and
the OpenSSF malicious names (none of which the checker sees) are the recall set. Prints the
share of each flagged by name alone, and how many each signal contributed.

    python scripts/typosquat_holdout.py [--protect 5000] [--show SIGNAL]
"""

from __future__ import annotations

import argparse
from collections import Counter

from pytest_kisys.vet.data import known_malicious
from pytest_kisys.vet.data import popular_ranks
from pytest_kisys.vet.typosquat import TyposquatChecker
from pytest_kisys.vet.typosquat_signals import Signal
from pytest_kisys.vet.typosquat_signals import TyposquatMatch


def _flagged(checker: TyposquatChecker, names: list[str]) -> list[tuple[str, TyposquatMatch]]:
    found = ((name, checker.match(name)) for name in names)
    return [(name, match) for name, match in found if match is not None]


def main(argv: list[str] | None = None) -> int:
    """Print held-out false-alarm rate and recall, per signal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protect", type=int, default=5000)
    parser.add_argument("--show", choices=[s.name for s in Signal], default=None)
    args = parser.parse_args(argv)
    ranked = list(popular_ranks())
    protected = {name: rank for rank, name in enumerate(ranked[: args.protect], start=1)}
    held_out = ranked[args.protect :]
    checker = TyposquatChecker(protected)
    false_alarms = _flagged(checker, held_out)
    malicious = sorted(known_malicious(None) - set(ranked))
    caught = _flagged(checker, malicious)
    print(
        f"protected: top {args.protect}; held-out legitimate: {len(held_out)}, flagged "
        f"{len(false_alarms)} ({100 * len(false_alarms) / len(held_out):.1f} %); malicious: "
        f"{len(malicious)}, caught {len(caught)} ({100 * len(caught) / len(malicious):.1f} %)"
    )
    fp = Counter(m.signal for _, m in false_alarms)
    tp = Counter(m.signal for _, m in caught)
    for signal in Signal:
        print(f"  {signal.name:9} false alarms {fp[signal]:4}  caught {tp[signal]:4}  ({signal.value})")
    if args.show:
        for label, rows in (("false alarm", false_alarms), ("caught", caught)):
            for name, match in rows:
                if match.signal.name == args.show:
                    print(f"  {label}: {name} -> {match.target} (rank {match.rank})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

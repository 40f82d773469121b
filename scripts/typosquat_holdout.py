"""Typosquat check measured on names its popular list does not contain (held out by rank).

The checker is built from the ``--protect`` most-downloaded names only; the legitimate
projects ranked below them (``--protect``+1 to 10,000) are the held-out false-alarm set, and
the OpenSSF malicious names (none of which the checker sees) are the recall set. Prints the
share of each flagged by name alone.

    python scripts/typosquat_holdout.py [--protect 5000]
"""

from __future__ import annotations

import argparse

from pytest_kisys.vet.data import known_malicious
from pytest_kisys.vet.data import popular_ranks
from pytest_kisys.vet.typosquat import TyposquatChecker


def main(argv: list[str] | None = None) -> int:
    """Print held-out false-alarm rate and recall."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protect", type=int, default=5000)
    args = parser.parse_args(argv)
    ranked = list(popular_ranks())
    protected = {name: rank for rank, name in enumerate(ranked[: args.protect])}
    held_out = ranked[args.protect :]
    checker = TyposquatChecker(protected)
    false_alarms = [(n, checker.check(n)) for n in held_out if checker.check(n)]
    malicious = sorted(known_malicious(None) - set(ranked))
    caught = [(n, checker.check(n)) for n in malicious if checker.check(n)]
    print(
        f"protected: top {args.protect}; held-out legitimate: {len(held_out)}, flagged "
        f"{len(false_alarms)} ({100 * len(false_alarms) / len(held_out):.1f} %); malicious: "
        f"{len(malicious)}, caught {len(caught)} ({100 * len(caught) / len(malicious):.1f} %)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

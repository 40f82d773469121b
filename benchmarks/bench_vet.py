"""Benchmark the vetting engine (one run, figures printed; not a test).

* vet 50 names against the loopback index, cold (empty cache) and warm (from the disk cache,
  a new Vetter as in a new session); goal: warm <= 20 ms for all 50;
* the typosquat check per name over the bundled popular list, side by side with the peer it
  replaces (a linear one-edit Damerau-Levenshtein scan over the same list, as pip-auto does);
  goal <= 0.2 ms per name;
* with ``--live``: 50 popular names against the configured live index (pip's), reported only.

    python benchmarks/bench_vet.py [--live]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import sys
import tempfile
import time


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_kisys.settings import IndexSettings  # noqa: E402
from pytest_kisys.settings import Settings  # noqa: E402
from pytest_kisys.vet.data import popular_ranks  # noqa: E402
from pytest_kisys.vet.interface import VetRequest  # noqa: E402
from pytest_kisys.vet.typosquat import popular_checker  # noqa: E402
from pytest_kisys.vet.typosquat import TyposquatChecker  # noqa: E402
from pytest_kisys.vet.vetter import Vetter  # noqa: E402
from tests.support.pkgindex import PackageIndex  # noqa: E402


def timed(function, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def bench_loopback(count: int = 50) -> tuple[float, float]:
    index = PackageIndex().start()
    names = [f"kisys-bench-{i:02d}" for i in range(count)]
    for name in names:
        index.add_project(name, versions=("1.0", "1.1", "1.2"))
    requests = [VetRequest.of(name) for name in names]
    popular_checker()  # built once per process; reported separately below
    with tempfile.TemporaryDirectory() as cache:
        settings = Settings(index=IndexSettings(url=index.simple_url), cache_dir=Path(cache))
        with Vetter(settings) as vetter:
            cold, decisions = timed(vetter.vet, requests)
        assert all(d.action == "confirm" for d in decisions), decisions
        served = len(index.requests)
        warm_runs = []
        for _ in range(5):
            with Vetter(settings) as vetter:
                elapsed, decisions = timed(vetter.vet, requests)
                warm_runs.append(elapsed)
        assert len(index.requests) == served, "warm runs must not touch the index"
    index.stop()
    return cold, statistics.median(warm_runs)


def linear_scan(name: str, popular: list[str]) -> str | None:
    """The peer: one-edit Damerau-Levenshtein against every popular name."""
    from pytest_kisys.vet.typosquat import one_edit_apart

    for candidate in popular:
        if abs(len(candidate) - len(name)) <= 1 and one_edit_apart(name, candidate):
            return candidate
    return None


def bench_typosquat() -> tuple[float, float, float, int]:
    build, checker = timed(lambda: TyposquatChecker(popular_ranks()))
    popular = list(popular_ranks())
    probes = (
        [f"{p}x" for p in popular[:250]]
        + [f"kisys-unrelated-{i}" for i in range(250)]
        + [p[:-1] for p in popular[250:500] if len(p) > 4]
    )
    ours, hits = timed(lambda: sum(checker.check(n) is not None for n in probes))
    sample = probes[::5]  # the same mix of typos and unrelated names, spread over the ranks
    peer, _ = timed(lambda: [linear_scan(n, popular) for n in sample])
    return build, ours / len(probes), peer / len(sample), hits


def bench_live(count: int = 50) -> tuple[float, float, str]:
    names = [n for n in list(popular_ranks())[:count]]
    requests = [VetRequest.of(name) for name in names]
    with tempfile.TemporaryDirectory() as cache:
        settings = Settings(cache_dir=Path(cache), index=IndexSettings(timeout=20))
        with Vetter(settings) as vetter:
            cold, decisions = timed(vetter.vet, requests)
            url = vetter.location.url
        unchecked = [d.name for d in decisions if not d.evidence.get("index", {}).get("checked")]
        if unchecked:
            print(f"  live: not checked: {unchecked}")
        with Vetter(settings) as vetter:
            warm, _ = timed(vetter.vet, requests)
    return cold, warm, url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true", help="also vet 50 names on the live index")
    args = parser.parse_args()
    cold, warm = bench_loopback()
    print(
        f"loopback, 50 names: cold {cold * 1000:.1f} ms, warm (disk cache, new Vetter) "
        f"{warm * 1000:.2f} ms (goal <= 20 ms) -> cold/warm {cold / warm:.0f}x"
    )
    build, per_name, peer, hits = bench_typosquat()
    print(
        f"typosquat: index build {build * 1000:.0f} ms once; check {per_name * 1000:.4f} ms/name "
        f"(goal <= 0.2 ms, {hits} hits); linear scan peer {peer * 1000:.2f} ms/name "
        f"-> {peer / per_name:.0f}x faster"
    )
    if args.live:
        live_cold, live_warm, url = bench_live()
        print(f"live {url}, 50 popular names: cold {live_cold * 1000:.0f} ms, warm {live_warm * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

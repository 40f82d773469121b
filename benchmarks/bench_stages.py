"""Stage runner overhead: the runner against a plain ThreadPoolExecutor doing the same work.

Run: ``python benchmarks/bench_stages.py`` (one run, prints per-stage overhead and ratios).
Graphs: N independent no-op stages (the runner may run them all at once) and a chain of N
(each stage needs the previous one). The peer is what a hand-written script would do: submit
the callables to a thread pool (independent) or call them one after another (chain).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import time

from pytest_kisys.stages import Stage
from pytest_kisys.stages import StageContext
from pytest_kisys.stages.graph import build_graph
from pytest_kisys.stages.runner import StageRunner


WORKERS = 2
SIZES = (20, 200)


def noop(ctx: StageContext | None) -> None:
    return None


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def bench(n: int) -> None:
    independent = build_graph([Stage(f"s{i}", action=noop) for i in range(n)])
    chain = build_graph(
        [Stage(f"s{i}", action=noop, needs=(f"s{i - 1}",) if i else ()) for i in range(n)]
    )

    def pool_peer() -> None:
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(noop, [None] * n))

    def chain_peer() -> None:
        for _ in range(n):
            noop(None)

    rows = [
        ("independent", timed(lambda: StageRunner(independent, env={}, max_workers=WORKERS).run()),
         timed(pool_peer)),
        ("chain", timed(lambda: StageRunner(chain, env={}, max_workers=WORKERS).run()),
         timed(chain_peer)),
    ]
    build = timed(lambda: build_graph([Stage(f"s{i}", action=noop) for i in range(n)]))
    print(f"n={n}: build+validate {build * 1e3:.2f} ms ({build / n * 1e6:.1f} us/stage)")
    for name, ours, peer in rows:
        print(
            f"  {name:<12} runner {ours * 1e3:8.2f} ms ({ours / n * 1e6:7.1f} us/stage)"
            f"   peer {peer * 1e3:7.2f} ms   overhead {(ours - peer) / n * 1e6:7.1f} us/stage"
        )


if __name__ == "__main__":
    for size in SIZES:
        bench(size)

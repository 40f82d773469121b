"""Cost of the static import scan per file (goal: <= 1 ms per file), next to plain ``ast.parse``.

Corpus: every test file and conftest found under the given directories (by default this
interpreter's site-packages and the repository's ``tests/``). Four variants, each timed over
the whole corpus for several rounds (median reported):

* ``ast.parse``: parsing only, the floor any AST-based scan pays (the named peer);
* ``scan, cold``: :func:`scan_source` on every file (pre-filter + parse + walk);
* ``scan, warm``: :meth:`ImportCache.scan` with every file already cached (read + hash + lookup);
* ``scan, warm from disk``: a fresh :class:`ImportCache` loaded from the JSON file each round.

    python benchmarks/bench_read_imports.py [--rounds 5] [DIR ...]
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Callable
from pathlib import Path
import statistics
import sys
import sysconfig
import tempfile
import time

from pytest_kisys.resolve.importcache import ImportCache
from pytest_kisys.resolve.importreader import read_imports


def corpus(dirs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for directory in dirs:
        for path in sorted(directory.rglob("*.py")):
            name = path.name
            if name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py"):
                files.append(path)
    return files


def timed(rounds: int, body: Callable[[], None]) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        body()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("dirs", nargs="*", type=Path)
    args = parser.parse_args()
    dirs = args.dirs or [
        Path(sysconfig.get_paths()["purelib"]),
        Path(__file__).resolve().parent.parent / "tests",
    ]
    files = corpus(dirs)
    if not files:
        print("no test files found", file=sys.stderr)
        return 1
    blobs = [(p, p.read_bytes()) for p in files]
    size = sum(len(b) for _, b in blobs)
    print(f"corpus: {len(files)} files, {size / 1024:.0f} KiB, {args.rounds} rounds (median)")

    def parse_only() -> None:
        for path, data in blobs:
            try:
                ast.parse(data, filename=str(path))
            except (SyntaxError, ValueError):
                continue

    def cold() -> None:
        for path, data in blobs:
            read_imports(data, path)

    with tempfile.TemporaryDirectory() as tmp:
        cache_file = Path(tmp) / "scan.json"
        cache = ImportCache.load(cache_file)
        for path in files:
            cache.read(path)
        cache.save()

        def warm() -> None:
            for path in files:
                cache.read(path)

        def warm_disk() -> None:
            fresh = ImportCache.load(cache_file)
            for path in files:
                fresh.scan(path)

        results = {
            "ast.parse (peer)": timed(args.rounds, parse_only),
            "scan, cold": timed(args.rounds, cold),
            "scan, warm": timed(args.rounds, warm),
            "scan, warm from disk": timed(args.rounds, warm_disk),
        }
    parsed = sum(1 for p, d in blobs if read_imports(d, p).parsed)
    print(f"pre-filter let {len(files) - parsed} of {len(files)} files skip the parse")
    peer = results["ast.parse (peer)"]
    for label, seconds in results.items():
        per_file = seconds / len(files) * 1000
        print(f"{label:24s} {seconds * 1000:8.1f} ms total  {per_file:6.3f} ms/file  x{seconds / peer:5.2f}")
    worst = max(results["scan, cold"], results["scan, warm from disk"]) / len(files) * 1000
    print(f"goal <= 1 ms/file: {'met' if worst <= 1.0 else 'NOT met'} (cold {worst:.3f} ms/file)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

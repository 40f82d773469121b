"""Run scanner work over chunks of files in worker subprocesses, with a hard deadline.

The scanners never run inside the test process: bandit and detect-secrets keep global state
and emit deprecation warnings a project's ``filterwarnings = error`` would turn into failures.

Each worker is a fresh ``python -m pytest_kisys.scan.worker`` process that reads one JSON task
on stdin and writes the JSON result on stdout. Plain subprocesses rather than
``multiprocessing``: the checks start while pytest (or a user's script) is running threads,
``fork`` would copy their locks, and ``spawn``/``forkserver`` re-import the caller's
``__main__``. A worker that exceeds the deadline is killed and the run raises
:class:`~pytest_kisys.errors.ScanError`, which the caller reports as an inconclusive check.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import json
import os
from pathlib import Path
import subprocess
import sys
import time
from typing import Any

from pytest_kisys.errors import ScanError
from pytest_kisys.install.signals import PARENT_ENV
from pytest_kisys.scan.cache import FileResultCache
from pytest_kisys.scan.files import read_capped
from pytest_kisys.scan.files import TooLarge
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.interface import Inconclusive
from pytest_kisys.scan.interface import ScanOutput


# A worker costs 0.3-0.6 s of CPU to start (interpreter and scanner imports). Another one only
# pays when each gets more work than that: about this many bytes of source per worker, from
# bandit's and the pre-filtered detect-secrets' speed on pip's tree (0.8 and 3.5 MB/s).
BYTES_PER_WORKER: dict[str, int] = {"bandit": 640_000, "secrets": 3_500_000}
DEFAULT_BYTES_PER_WORKER = 640_000


def pool_size(job: str, total_bytes: int, workers: int) -> int:
    """How many workers ``job`` gets for ``total_bytes`` of misses: at most ``workers``, at
    least one, and one more only per :data:`BYTES_PER_WORKER` bytes of work."""
    per_worker = BYTES_PER_WORKER.get(job, DEFAULT_BYTES_PER_WORKER)
    return max(1, min(workers, total_bytes // per_worker))


def split_by_size(items: Sequence[str], sizes: Callable[[str], int], parts: int) -> list[list[str]]:
    """Largest-first into the least loaded of ``parts`` lists, so workers finish together."""
    parts = max(1, min(parts, len(items)))
    buckets: list[list[str]] = [[] for _ in range(parts)]
    loads = [0] * parts
    for item in sorted(items, key=lambda i: -sizes(i)):
        target = loads.index(min(loads))
        buckets[target].append(item)
        loads[target] += max(1, sizes(item))
    return [b for b in buckets if b]


def _worker_result(
    job: str, timeout: float, proc: subprocess.Popen[str], future: Future[tuple[str, str]]
) -> list[Any]:
    """One worker's parsed output; :class:`ScanError` when it timed out, failed or spoke non-JSON."""
    try:
        out, err = future.result()
    except subprocess.TimeoutExpired as exc:
        raise ScanError(f"{job} did not finish within {timeout:g} s") from exc
    if proc.returncode != 0:
        tail = " ".join(err.strip().splitlines()[-2:])[-400:]
        raise ScanError(f"{job} worker exited {proc.returncode}: {tail}")
    try:
        result: list[Any] = json.loads(out)
    except ValueError as exc:
        raise ScanError(f"{job} worker returned output that is not JSON") from exc
    return result


# -I: the project root (the worker's working directory) must not come first on sys.path, or a
# project directory named bandit/ or detect_secrets/ would be imported as the scanner. -I
# also drops PYTHONWARNINGS, hence -W: a scanner's deprecation warnings are not the project's.
WORKER_COMMAND = (sys.executable, "-I", "-W", "ignore", "-m", "pytest_kisys.scan.worker")


def run_workers(
    job: str,
    options: dict[str, Any],
    chunks: Sequence[list[str]],
    *,
    timeout: float,
    command: Sequence[str] = WORKER_COMMAND,
) -> list[list[Any]]:
    """Run ``job`` (``"bandit"`` or ``"secrets"``) over each chunk in its own worker process.

    ``command`` starts one worker (tests pass a stand-in); it reads one JSON task on stdin and
    writes the JSON result on stdout.
    """
    deadline = time.monotonic() + timeout
    # A scanner's deprecation warnings are not the project's: never let them fail a worker
    # (for a stand-in command without -I; the real one passes -W ignore).
    env = {**os.environ, "PYTHONWARNINGS": "ignore", PARENT_ENV: str(os.getpid())}
    procs = []
    try:
        for chunk in chunks:
            proc = subprocess.Popen(
                list(command),
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            procs.append((proc, json.dumps({"job": job, "options": options, "files": chunk})))
        # A worker reads its task from stdin only when it is sent, so every worker must be fed
        # and drained at the same time: talking to one after another ran them one after another.
        with ThreadPoolExecutor(max_workers=len(procs) or 1, thread_name_prefix="kisys-scan") as pool:
            futures = [
                pool.submit(proc.communicate, task, max(0.1, deadline - time.monotonic()))
                for proc, task in procs
            ]
            try:
                return [
                    _worker_result(job, timeout, proc, future)
                    for (proc, _), future in zip(procs, futures, strict=True)
                ]
            except BaseException:
                # Stop the other workers now, or leaving the pool would wait for them.
                for proc, _ in procs:
                    proc.kill()
                raise
    except OSError as exc:
        raise ScanError(f"cannot start a {job} worker: {exc}") from exc
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None and not stream.closed:
                    stream.close()
            proc.wait()


@dataclass(frozen=True)
class CachedScan:
    """:func:`scan_files_cached`'s outcome: results by path (cached or fresh), each file's bytes,
    ``(path, reason)`` for the files a worker could not scan (never cached), and the hit count."""

    results: dict[str, list[dict[str, Any]]]
    contents: dict[str, bytes]
    failed: list[tuple[str, str]]
    cache_hits: int

    def output(
        self,
        version: str,
        findings: Sequence[Finding],
        inconclusive: Sequence[Inconclusive],
        baselined: Sequence[Finding],
        files: Sequence[str],
        tool_source: str,
    ) -> ScanOutput:
        """The scanner's :class:`ScanOutput` for ``files``, with this scan's cache hits."""
        return ScanOutput(
            tool_version=version,
            findings=tuple(findings),
            inconclusive=tuple(inconclusive),
            baselined=tuple(baselined),
            items_checked=len(files),
            cache_hits=self.cache_hits,
            tool_source=tool_source,
        )


def scan_files_cached(
    job: str,
    options: dict[str, Any],
    root: Path,
    files: Sequence[str],
    cache: FileResultCache,
    *,
    workers: int,
    timeout: float,
    command: Sequence[str] = WORKER_COMMAND,
) -> CachedScan:
    """Scan ``files`` with ``job`` in workers, reusing and refilling ``cache`` per file.

    Every file is read first, within ``timeout`` like the scan itself (an unreadable one raises
    :class:`ScanError` before any worker starts; one over the size cap is a failed file); only
    the cache misses go to the workers, split by size over at most ``workers`` processes
    (:func:`pool_size`: small trees get one), each started with
    ``command`` (:meth:`pytest_kisys.tools.ToolCommand.worker`: the interpreter that has the scanner).
    """
    deadline = time.monotonic() + timeout
    results: dict[str, list[dict[str, Any]]] = {}
    contents: dict[str, bytes] = {}
    keys: dict[str, str] = {}
    misses: list[str] = []
    failed: list[tuple[str, str]] = []
    for rel in files:
        if time.monotonic() > deadline:
            raise ScanError(f"{job} did not finish within {timeout:g} s (reading the files)")
        try:
            content = read_capped(root / rel)
        except TooLarge as exc:
            failed.append((rel, str(exc)))
            continue
        except ScanError as exc:
            raise ScanError(f"cannot read {rel}: {exc}") from exc
        contents[rel] = content
        keys[rel] = cache.key(rel, content)
        hit = cache.get(keys[rel])
        if hit is None:
            misses.append(rel)
        else:
            results[rel] = hit
    if misses:
        pool = pool_size(job, sum(len(contents[rel]) for rel in misses), workers)
        chunks = split_by_size(misses, lambda rel: len(contents[rel]), pool)
        left = max(0.1, deadline - time.monotonic())
        for chunk in run_workers(job, options, chunks, timeout=left, command=command):
            for rel, found, reason in chunk:
                if found is None:
                    failed.append((rel, reason))
                    continue
                results[rel] = found
                cache.put(keys[rel], found)
    hits = len(files) - len(misses) - len(failed)
    return CachedScan(results, contents, failed, cache_hits=hits)

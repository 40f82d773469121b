"""Network fan-out that a Ctrl-C stops at once.

``ThreadPoolExecutor`` joins its worker threads when its ``with`` block ends and again at
interpreter exit, so a Ctrl-C during a slow download waited for the download (38 s with a slow
index). :func:`interruptible_map` runs the calls in daemon threads: when the caller is
interrupted it stops waiting, the calls still running are abandoned (each has its own network
timeout and writes only into a temporary directory the caller owns) and the process can exit.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import wait
import contextlib
import threading
from typing import TypeVar


T = TypeVar("T")
R = TypeVar("R")


def interruptible_map(
    fn: Callable[[T], R], items: Iterable[T], *, workers: int, name: str = "kisys-fetch"
) -> list[R]:
    """``[fn(item) for item in items]`` on up to ``workers`` daemon threads, in order.

    An exception from ``fn`` is raised here (the first in item order); a
    :class:`KeyboardInterrupt` in the caller returns at once without waiting for the calls.
    """
    todo = list(items)
    futures: list[Future[R]] = [Future() for _ in todo]
    lock = threading.Lock()
    position = iter(range(len(todo)))

    def work() -> None:
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                return
            future = futures[index]
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(todo[index]))
            except Exception as exc:  # noqa: BLE001 - re-raised in the caller by result()
                future.set_exception(exc)

    for number in range(max(1, min(workers, len(todo)))):
        threading.Thread(target=work, name=f"{name}-{number}", daemon=True).start()
    try:
        wait(futures)
    except BaseException:
        for future in futures:
            future.cancel()  # the ones not started yet never start
        raise
    return [future.result() for future in futures]


def in_background(fn: Callable[[], R], *, name: str) -> Future[R]:
    """Start ``fn()`` on a daemon thread; its result (or exception) comes from the future.

    For work that overlaps a subprocess or a download in the caller: an interrupted caller
    never waits for it, as with :func:`interruptible_map`.
    """
    future: Future[R] = Future()
    future.set_running_or_notify_cancel()

    def work() -> None:
        try:
            future.set_result(fn())
        except Exception as exc:  # noqa: BLE001 - re-raised in the caller by result()
            future.set_exception(exc)

    threading.Thread(target=work, name=name, daemon=True).start()
    return future


@contextlib.contextmanager
def alongside(fn: Callable[[], R], *, name: str) -> Iterator[Future[R]]:
    """Run ``fn()`` on a daemon thread while the ``with`` block runs.

    Leaving the block waits for it, also when the block raised (nothing is left running after
    the caller returns), except on :class:`KeyboardInterrupt`, which leaves at once. Its
    result or exception comes from the future.
    """
    future = in_background(fn, name=name)
    try:
        yield future
    except KeyboardInterrupt:
        raise
    except BaseException:
        wait([future])
        raise
    wait([future])

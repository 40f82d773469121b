"""Progress lines of an install on the real terminal, even while pytest captures output.

Installs happen in ``pytest_load_initial_conftests``, where pytest's global capture is already
on and the terminal reporter does not exist yet; anything printed would only appear on
failure. :func:`terminal_progress` returns a writer for :class:`~pytest_kisys.install.Installer`
that briefly suspends output capture for each line, the way pytest's own pdb support does.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
import sys
import threading
import time
from typing import Any
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    import pytest  # the console script imports this module without pytest


def _verbosity(config: pytest.Config) -> int:
    # Early in the run only the pre-parsed namespace has the command line's -v count.
    early = getattr(config, "known_args_namespace", None)
    value = getattr(early, "verbose", None)
    if value is None:
        value = config.get_verbosity()
    return int(value or 0)


def terminal_progress(config: pytest.Config, *, always: bool = False) -> Callable[[str], None] | None:
    """A progress writer for ``-v`` runs (or ``always``); None when the run is not verbose."""
    if not always and _verbosity(config) < 1:
        return None
    capture: Any = config.pluginmanager.getplugin("capturemanager")
    first = [True]

    def write(line: str) -> None:
        if capture is not None:
            capture.suspend_global_capture(in_=False)
        try:
            # A leading newline keeps the first line off a "collecting ..." status line.
            sys.stdout.write(("\n" if first[0] else "") + f"kisys: {line}\n")
            sys.stdout.flush()
            first[0] = False
        finally:
            if capture is not None:
                capture.resume_global_capture()

    return write


# How often a long install reports that it is still running.
_TICK_SECONDS = 5.0


@contextmanager
def still_running(say: Callable[[str], None] | None, count: int, backend: str) -> Iterator[None]:
    """Report through ``say`` every few seconds that a long install is still running."""
    if say is None:
        yield
        return
    done = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not done.wait(_TICK_SECONDS):
            say(f"still installing {count} package(s) with {backend} ({time.monotonic() - started:.0f} s)")

    thread = threading.Thread(target=tick, name="kisys-install-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


"""Start the target interpreter's environment probe before it is needed.

``kisys install --python OTHER`` describes OTHER's environment by running
:mod:`pytest_kisys.install.envprobe` as a script in it: a whole interpreter start-up, about a
tenth of a second. :func:`start` launches it as soon as the verb knows the interpreter, so it
runs while the command is still importing the installer; :func:`take` hands the running
process to :func:`~pytest_kisys.install.environment.describe_environment`, which reads its
answer exactly as it would have read its own run's. Standard library only, so that starting
it costs nothing the command would not import anyway.
"""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys
import threading


_lock = threading.Lock()
_started: dict[str, subprocess.Popen[str]] = {}


def _key(python: str) -> str:
    return os.path.abspath(python)


def command(python: str) -> list[str]:
    """The probe's command line for ``python``."""
    return [python, str(Path(__file__).with_name("envprobe.py"))]


def start(python: str) -> None:
    """Start probing ``python``'s environment in the background (not the running interpreter,
    which is probed in-process; nothing when it cannot be started: the caller's own run of
    the probe reports that)."""
    key = _key(python)
    if key == _key(sys.executable):
        return
    with _lock:
        if key in _started:
            return
        try:
            _started[key] = subprocess.Popen(
                command(python),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError:
            return


def take(python: str) -> subprocess.Popen[str] | None:
    """The probe started for ``python``, once (None when none was started)."""
    with _lock:
        return _started.pop(_key(python), None)


def discard() -> None:
    """Stop and reap the probes nobody took (the command ended before it needed them)."""
    with _lock:
        left = list(_started.values())
        _started.clear()
    for proc in left:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()

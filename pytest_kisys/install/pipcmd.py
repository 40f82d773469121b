"""How to run pip for a target interpreter, and how to tell a network failure from the rest."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
import os
from pathlib import Path
import re
import subprocess
import sys
import threading
import time

from pytest_kisys.install.interface import BackendOutcome
from pytest_kisys.retry import backoff_delay


# Phrases pip and uv print when the index could not be reached; only these are retried.
_NETWORK_ERRORS = re.compile(
    r"ConnectionError|NewConnectionError|Max retries exceeded|Read timed out|ReadTimeout"
    r"|Connection refused|Connection reset|Temporary failure in name resolution"
    r"|Name or service not known|RemoteDisconnected|IncompleteRead|ProtocolError"
    r"|HTTP error 5\d\d|50[0-4] Server Error|Server Error: .* for url"
    r"|error sending request|Failed to fetch|operation timed out|dns error|tcp connect error",
    re.IGNORECASE,
)


def is_network_failure(stderr: str) -> bool:
    """Whether an installer's error output says the index could not be reached."""
    return bool(_NETWORK_ERRORS.search(stderr))


def pip_command(python: str, has_pip: bool) -> list[str]:
    """The command prefix that runs pip for ``python``.

    A virtualenv without pip (``uv venv``) is driven by this process's pip through
    ``--python``, which pip has supported since 22.3.
    """
    if has_pip:
        return [python, "-m", "pip"]
    return [sys.executable, "-m", "pip", "--python", python]


def supports_uploaded_prior_to(purelib: Path, has_pip: bool) -> bool:
    """Whether the pip that :func:`pip_command` runs knows ``--uploaded-prior-to`` (pip 26.3
    has it); read from its option table instead of starting pip."""
    if has_pip:
        options = purelib / "pip" / "_internal" / "cli" / "cmdoptions.py"
    else:
        try:
            import pip
        except ImportError:
            return False  # no pip here either: the install reports that, not this probe
        options = Path(pip.__file__).parent / "_internal" / "cli" / "cmdoptions.py"
    try:
        return "--uploaded-prior-to" in options.read_text(encoding="utf-8")
    except OSError:
        return False


def index_options(url: str | None, cert: str | None, *, offline: bool = False) -> list[str]:
    """pip options for the index settings of kisys; empty means pip's own configuration.

    Offline, pip may only use local wheels (its ``find-links``), never an index.
    """
    if offline:
        return ["--no-index"]
    options: list[str] = []
    if url:
        options += ["--index-url", url]
    if cert:
        options += ["--cert", cert]
    return options


def run(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    stdin_text: str | None = None,
) -> BackendOutcome:
    """Run one installer process; output is captured, never shown to the user directly.

    The process dies with kisys (:func:`~pytest_kisys.install.signals.guarded`).
    """
    started = time.monotonic()
    # subprocess.run, with the launch announced as soon as the process exists.
    proc = launch(command, env=env, stdin=stdin_text is not None)
    return collect(proc, command, started, timeout=timeout, stdin_text=stdin_text)


def launch(
    command: Sequence[str], *, env: dict[str, str] | None = None, stdin: bool = False
) -> subprocess.Popen[str]:
    """Start one installer process as :func:`run` does (guarded, output captured) and
    announce it (:func:`announcing_launch`); :func:`collect` waits for it."""
    from pytest_kisys.install.signals import guarded

    proc = subprocess.Popen(
        guarded(command),
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    announce_launch()
    return proc


def collect(
    proc: subprocess.Popen[str],
    command: Sequence[str],
    started: float,
    *,
    timeout: float | None = None,
    stdin_text: str | None = None,
) -> BackendOutcome:
    """Wait for ``proc`` (started by :func:`launch` at monotonic time ``started``) and return
    its outcome; it is killed on timeout and on any exception (Ctrl-C included)."""
    with proc:
        try:
            stdout, stderr = proc.communicate(stdin_text, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        except BaseException:
            proc.kill()
            raise
    return BackendOutcome(
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        duration=time.monotonic() - started,
        command=tuple(command),
    )


_launch_lock = threading.Lock()
_launch_events: list[threading.Event] = []


def announce_launch() -> None:
    """Tell the :func:`announcing_launch` blocks a process was started (:func:`launch` does;
    so does code adopting one started ahead of time)."""
    with _launch_lock:
        for event in _launch_events:
            event.set()


@contextmanager
def announcing_launch(event: threading.Event) -> Iterator[None]:
    """Set ``event`` when :func:`run` (any thread) has started a process inside the block,
    and at the latest when the block ends.

    The installer's background work waits for it, so that it does not compete for the GIL
    with the code that starts the resolver.
    """
    with _launch_lock:
        _launch_events.append(event)
    try:
        yield
    finally:
        with _launch_lock:
            _launch_events.remove(event)
        event.set()


def with_retries(
    attempt: Callable[[], BackendOutcome],
    retries: int,
    *,
    base_delay: float = 0.5,
) -> BackendOutcome:
    """Call ``attempt()`` until it succeeds, fails for a non-network reason, or retries run out.

    The delay doubles after each network failure: 0.5 s, 1 s, 2 s, ...
    """
    outcome: BackendOutcome = attempt()
    for number in range(max(0, retries)):
        if outcome.ok or not is_network_failure(outcome.stderr):
            break
        time.sleep(backoff_delay(number, base_delay))
        outcome = attempt()
    return outcome


def child_env() -> dict[str, str]:
    """The environment for installer processes: ours, minus pip's interactive prompts."""
    env = dict(os.environ)
    env.setdefault("PIP_NO_INPUT", "1")
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    return env

"""Signals during an install batch, and installer children that die with kisys.

* SIGTERM (CI cancellation, ``timeout``) and SIGHUP (a closed terminal) act like Ctrl-C while
  a batch runs: :class:`KeyboardInterrupt` is raised, the running pip or uv is stopped and the
  environment is rolled back before the interrupt propagates.
* During rollback, SIGINT, SIGTERM and SIGHUP are held back: a second Ctrl-C never leaves the
  environment half restored. Once rollback has finished the interrupt is raised.
* pip and uv are started through :data:`GUARD`, which asks Linux to SIGKILL them when the
  kisys thread that started them dies (``PR_SET_PDEATHSIG``) and then ``exec``s the installer:
  a ``kill -9`` of kisys never lets an install finish unrecorded after the lock is gone.
  They also stay in kisys's process group, so a signal to the group reaches them.

Signal handlers can only be set in the main thread; elsewhere these helpers do nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
import os
import signal
import sys
import threading
from types import FrameType


TERMINATING = tuple(
    s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None
)
INTERRUPTING = (signal.SIGINT, *TERMINATING)

# Runs in the child before the installer: die with the parent, then become the installer. The
# parent pid check closes the race where kisys died before prctl took effect. Built-in modules
# only (``_ctypes``, ``posix``; prctl(PR_SET_PDEATHSIG=1, SIGKILL=9)): importing ``ctypes`` and
# ``signal`` doubled the interpreter's start-up, about 7 ms for each pip or uv started.
GUARD = (
    "import _ctypes as C,posix,sys\n"
    "class I(C._SimpleCData):_type_='i'\n"
    "class F(C.CFuncPtr):_flags_=C.FUNCFLAG_CDECL|C.FUNCFLAG_USE_ERRNO;_restype_=I\n"
    "class D:pass\n"
    "try:\n"
    "    D._handle=C.dlopen(None)\n"
    "    F(('prctl',D))(1,9)\n"
    "except (OSError,AttributeError):\n"
    "    pass\n"
    "if posix.getppid()!=int(sys.argv[1]):\n"
    "    posix._exit(137)\n"
    "if '/' in sys.argv[2]:\n"
    "    posix.execv(sys.argv[2],sys.argv[2:])\n"
    "import os\n"
    "os.execvp(sys.argv[2],sys.argv[2:])\n"
)


PARENT_ENV = "KISYS_PARENT_PID"


def die_with_parent() -> None:
    """In a child started with :data:`PARENT_ENV` set: be SIGKILLed when that parent dies.

    Scan workers call this first thing, so a SIGTERM'd or killed pytest leaves none running.
    """
    expected = os.environ.get(PARENT_ENV, "")
    if not expected.isdigit() or not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(expected):
        os._exit(137)  # the parent died before prctl took effect


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def guarded(command: Sequence[str]) -> list[str]:
    """``command`` started so that it is killed when kisys dies (Linux; elsewhere unchanged)."""
    if not sys.platform.startswith("linux"):
        return list(command)
    return [sys.executable, "-I", "-S", "-c", GUARD, str(os.getpid()), *command]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP raise :class:`KeyboardInterrupt` like Ctrl-C.

    A signal the process ignores (``nohup`` ignores SIGHUP) stays ignored.
    """
    if not _main_thread():
        yield
        return
    previous = {}
    for signum in TERMINATING:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, _raise_interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold back SIGINT, SIGTERM and SIGHUP until the block (a rollback) has finished.

    A signal that arrived meanwhile raises :class:`KeyboardInterrupt` right after the block
    (unless an exception is propagating already: that one goes on, and the run stops anyway).
    """
    if not _main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    previous = {}
    for signum in INTERRUPTING:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, hold)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if pending:
        raise KeyboardInterrupt(f"received {signal.Signals(pending[0]).name} during rollback")

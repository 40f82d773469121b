"""Run a command on a real pseudo-terminal and type replies when prompts appear."""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import pty
import select
import signal
import time


@dataclass(frozen=True)
class TerminalRun:
    """What the command printed, its exit status, and how many replies were typed."""

    output: bytes
    exit_code: int
    replied: int


def run_in_pty(
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    replies: list[tuple[bytes, bytes]],
    timeout: float = 60,
) -> TerminalRun:
    """Run ``argv`` on a pseudo-terminal; the n-th time ``expect`` shows up, type ``reply``.

    ``replies`` are ``(expect, reply)`` pairs, answered in order; the command is killed after
    ``timeout`` seconds.
    """
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(cwd)
        os.execve(argv[0], argv, env)  # noqa: S606 - argv is ours, no shell
    output = b""
    pending = list(replies)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
            if pending and output.count(pending[0][0]) >= len(replies) - len(pending) + 1:
                os.write(fd, pending.pop(0)[1])
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return TerminalRun(output, os.waitstatus_to_exitcode(status), len(replies) - len(pending))

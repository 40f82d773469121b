"""One consent per batch: a prompt at a real terminal, or "no" where nobody can answer.

Under pytest the prompt suspends output *and input* capture (``suspend_global_capture(
in_=True)``, as pytest's own pdb integration does) and resumes it afterwards. Whether a
person is there is decided from the terminal as it was *before* capture started (a
:func:`sample_terminal` value the caller took then, ``terminal=``) or, without that sample,
from the real file descriptors while capture is suspended.

Nobody can answer when ``CI`` or ``BUILD_NUMBER`` is set, in an xdist worker
(``PYTEST_XDIST_WORKER``), when stdin or stdout is not a terminal, or when stdin is closed:
the answer is then "no", immediately. A person who does not answer within ``timeout``
seconds also gets "no".

:class:`HookConsent` lets a plugin answer first (``pytest_kisys_approve``), for clean items only.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import replace
import os
import select
import sys
from typing import Any
from typing import TextIO

from pytest_kisys.errors import InstallError
from pytest_kisys.install.interface import Consent
from pytest_kisys.install.interface import ConsentAnswer
from pytest_kisys.install.interface import ConsentItem
from pytest_kisys.install.interface import ConsentRequest
from pytest_kisys.workers import early_worker_id


def sample_terminal() -> bool:
    """Whether stdin and stdout are a terminal right now (call before pytest captures)."""
    try:
        return os.isatty(0) and os.isatty(1)
    except OSError:
        return False


def nobody_can_answer(environ: Mapping[str, str] | None = None) -> str | None:
    """Why no person can answer a prompt in this process, or None if one might."""
    env = os.environ if environ is None else environ
    for variable in ("CI", "BUILD_NUMBER"):
        if env.get(variable):
            return f"{variable} is set (a CI run)"
    worker = early_worker_id(env)
    if worker is not None:
        return f"this is xdist worker {worker} (workers never prompt)"
    return None


def render(request: ConsentRequest, *, details: bool = False) -> str:
    """The prompt text: one block per package, the evidence only when ``details``."""
    lines = ["", "pytest-kisys wants to install:"]
    for item in request.items:
        lines.append("  " + _headline(item))
        for reason in item.reasons:
            lines.append(f"      needed by: {reason}")
        for why in item.why_confirm:
            lines.append(f"      ! {why}")
        if details:
            for fact in item.evidence:
                lines.append(f"      - {fact}")
    return "\n".join(lines)


def _headline(item: ConsentItem) -> str:
    text = f"{item.name} {item.version}"
    if item.change != "new" and item.installed_version:
        text += f"  ({item.change.upper()} from {item.installed_version})"
    if not item.needs_answer:
        text += "  [allowed by policy]"
    return text


class TerminalConsent:
    """Asks the person at the terminal; says "no" without asking where nobody can answer.

    :param terminal: the :func:`sample_terminal` value taken before capture started; None
        means "look at the file descriptors while capture is suspended".
    :param capture: pytest's capture manager (``config.pluginmanager.getplugin(
        "capturemanager")``) or None outside pytest.
    :param write: where the prompt goes (default: the real stdout after suspension).
    """

    def __init__(
        self,
        *,
        terminal: bool | None = None,
        capture: Any = None,
        environ: Mapping[str, str] | None = None,
        timeout: float = 600.0,
        stdin: TextIO | None = None,
        write: Callable[[str], None] | None = None,
    ) -> None:
        self.terminal = terminal
        self.capture = capture
        self.environ = environ
        self.timeout = timeout
        self.stdin = stdin
        self.write = write

    def ask(self, request: ConsentRequest) -> ConsentAnswer:
        """One question for the whole batch: y (install), n (do not), d (show details)."""
        why_not = nobody_can_answer(self.environ)
        if why_not is not None:
            return ConsentAnswer("no", f"nobody can answer: {why_not}", answered_by="nobody")
        if self.terminal is False:
            return ConsentAnswer("no", "nobody can answer: no terminal", answered_by="nobody")
        with self._suspended_capture():
            stdin = self.stdin if self.stdin is not None else sys.stdin
            if stdin is None or stdin.closed:
                return ConsentAnswer("no", "nobody can answer: stdin is closed", answered_by="nobody")
            if self.terminal is None and not sample_terminal():
                return ConsentAnswer("no", "nobody can answer: no terminal", answered_by="nobody")
            return self._converse(request, stdin)

    def _converse(self, request: ConsentRequest, stdin: TextIO) -> ConsentAnswer:
        out = self.write or _stdout_writer()
        # Keys typed before the question was shown (an Enter, a "y" meant for something
        # else) are not consent: throw them away first.
        flush_pending_input(stdin)
        out(render(request) + "\n")
        while True:
            out("Install these packages? [y]es / [n]o / [d]etails: ")
            line = _read_line(stdin, self.timeout)
            if line is None:
                out("\n")
                return ConsentAnswer("no", f"no answer within {self.timeout:.0f} s")
            if line == "":
                out("\n")
                return ConsentAnswer("no", "stdin closed before an answer")
            answer = line.strip().lower()
            if answer in {"y", "yes"}:
                return ConsentAnswer("yes", "confirmed at the terminal")
            if answer in {"n", "no"}:
                return ConsentAnswer("no", "declined at the terminal")
            if answer in {"d", "details"}:
                out(render(request, details=True) + "\n")
            else:
                out("Please answer y, n or d.\n")

    @contextmanager
    def _suspended_capture(self) -> Iterator[None]:
        if self.capture is None:
            yield
            return
        self.capture.suspend_global_capture(in_=True)
        try:
            yield
        finally:
            self.capture.resume_global_capture()


def _stdout_writer() -> Callable[[str], None]:
    stream = sys.stdout

    def write(text: str) -> None:
        stream.write(text)
        stream.flush()

    return write


def flush_pending_input(stdin: TextIO) -> None:
    """Discard what was typed at the terminal but not read yet (no-op for a non-terminal)."""
    try:
        fileno = stdin.fileno()
    except (OSError, ValueError):
        return
    if not os.isatty(fileno):
        return
    import termios

    try:
        termios.tcflush(fileno, termios.TCIFLUSH)
    except termios.error:
        return


def _read_line(stdin: TextIO, timeout: float) -> str | None:
    """One line from ``stdin``; None after ``timeout`` seconds, "" at end of input."""
    try:
        fileno = stdin.fileno()
    except (OSError, ValueError):
        fileno = -1
    if fileno >= 0:
        try:
            ready, _, _ = select.select([fileno], [], [], timeout)
        except (OSError, ValueError):
            return ""
        if not ready:
            return None
    try:
        return stdin.readline()
    except (OSError, ValueError, EOFError):
        return ""


class FixedConsent:
    """Always gives the same answer (for ``kisys install`` scripting and unit tests)."""

    def __init__(self, answer: bool, why: str = "fixed answer") -> None:
        self.answer: ConsentAnswer = ConsentAnswer("yes" if answer else "no", why, answered_by="fixed")
        self.asked: list[ConsentRequest] = []

    def ask(self, request: ConsentRequest) -> ConsentAnswer:
        """Record the request and return the fixed answer."""
        self.asked.append(request)
        return self.answer


ANY_HOOK = "a pytest_kisys_approve hook"


class HookConsent:
    """Lets an installed plugin answer through ``pytest_kisys_approve``; else asks ``fallback``.

    The first implementation that returns a :class:`ConsentAnswer` decides; its ``why`` is
    rewritten to name the plugin (``"approved by plugin NAME: ..."``) so denial reasons and the
    audit log show who answered. A plugin's yes never covers a *suspicious* item (the vetter
    warned about it): those are asked of ``fallback`` on their own, so where nobody can answer
    they stay denied while the clean items of the batch install.

    :param hook: the hook caller, ``config.hook.pytest_kisys_approve``.
    :param config: passed to the hook implementations.
    :param fallback: who is asked when no plugin answers (a :class:`TerminalConsent`).
    """

    def __init__(self, hook: Any, config: Any, fallback: Consent) -> None:
        self.hook = hook
        self.config = config
        self.fallback = fallback

    def ask(self, request: ConsentRequest) -> ConsentAnswer:
        """The plugin's answer (clean items) and the fallback's (everything else)."""
        found = self._plugin_answer(request)
        if found is None:
            return self.fallback.ask(request)
        plugin, given = found
        verb = "approved" if given.yes else "declined"
        why = f"{verb} by {plugin}" + (f": {given.why}" if given.why else "")
        answer = ConsentAnswer(given.answer, why, answered_by="plugin")
        suspicious = [item for item in request.asking() if item.suspicious]
        if not given.yes or not suspicious:
            return answer
        # Only a person confirms what the vetter warned about: ask for those alone, with the
        # plugin-approved items shown as context.
        names = {item.name for item in suspicious}
        person = self.fallback.ask(
            ConsentRequest(
                tuple(
                    item if item.name in names else replace(item, needs_answer=False)
                    for item in request.items
                )
            )
        )
        return ConsentAnswer(
            "yes", why, per_item=tuple((name, person) for name in sorted(names)), answered_by="plugin"
        )

    def _plugin_answer(self, request: ConsentRequest) -> tuple[str, ConsentAnswer] | None:
        """(who answered, the answer) from the first implementation that returns one."""
        impls = list(self.hook.get_hookimpls())
        if any(impl.hookwrapper or impl.wrapper for impl in impls):
            # Wrappers may change the result: call the hook as pluggy does, unnamed.
            result = self.hook(config=self.config, request=request)
            return None if result is None else (ANY_HOOK, _checked(result, ANY_HOOK))
        # pluggy calls the implementations last-registered first (tryfirst/trylast already
        # sorted); calling them one by one in that order tells who answered.
        for impl in reversed(impls):
            arguments = {"config": self.config, "request": request}
            result = impl.function(*(arguments[name] for name in impl.argnames))
            if result is not None:
                plugin = f"plugin {impl.plugin_name}"
                return plugin, _checked(result, plugin)
        return None


def _checked(result: object, plugin: str) -> ConsentAnswer:
    if not isinstance(result, ConsentAnswer) or result.answer not in ("yes", "no"):
        raise InstallError(
            f"pytest_kisys_approve of {plugin} returned {result!r}; "
            'expected ConsentAnswer("yes" or "no", why) or None'
        )
    return result

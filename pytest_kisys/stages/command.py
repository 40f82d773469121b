"""Running a config stage's ``run:`` command.

The command is an argument list run without a shell, unless the stage says ``shell: true``.
Standard output and error are captured together; a non-zero exit becomes a finding of the
stage's severity whose detail is the tail of that output, masked by the session's one redactor
(registered secrets, secret-looking environment values of the run and of the stage, credential
shapes); the shown command line is masked the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
import os
import shlex
import signal
import subprocess

from pytest_kisys.options import DEFAULT_MASK_ENV
from pytest_kisys.secrets.masking import redactor_of
from pytest_kisys.secrets.redact import is_secret_name
from pytest_kisys.secrets.redact import Redactor
from pytest_kisys.stages.model import StageContext
from pytest_kisys.stages.model import StageFinding
from pytest_kisys.stages.model import StageOutcome


TAIL_LINES = 40
TAIL_CHARS = 4000


SHOWN_CHARS = 120


def command_line(run: tuple[str, ...], shell: bool) -> str:
    """The command line a shell would be given (``shell: true`` with an argument list)."""
    if shell and len(run) == 1:
        return run[0]
    return shlex.join(run)


def shown_command(run: tuple[str, ...], shell: bool) -> str:
    """The command for people to read: double quotes around arguments with spaces, shortened."""
    text = run[0] if shell and len(run) == 1 else subprocess.list2cmdline(run)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def output_tail(output: str, redactor: Redactor) -> str:
    """The last lines of ``output``, masked."""
    lines = output.rstrip().splitlines()[-TAIL_LINES:]
    # Masked before cutting, so a value straddling the cut cannot survive half-shown.
    return redactor.redact("\n".join(lines))[-TAIL_CHARS:]


def stage_redactor(ctx: StageContext, env: Mapping[str, str]) -> Redactor:
    """The session's redactor (a fresh one outside pytest) that also knows ``env``'s secrets."""
    redactor = redactor_of(ctx.config)
    settings = ctx.settings
    names = settings.mask_env if settings is not None else DEFAULT_MASK_ENV
    if redactor is None:
        enabled = settings.mask if settings is not None else True
        return Redactor.from_environment(env, names, enabled=enabled)
    redactor.add([value for name, value in env.items() if is_secret_name(name, names)])
    return redactor


def command_env(ctx: StageContext) -> dict[str, str]:
    """The environment of the command: the run's environment, the stage's ``env``,
    ``KISYS_STAGE`` and one ``KISYS_MATRIX_<NAME>`` per matrix value."""
    env = dict(ctx.env)
    env.update(ctx.stage.env)
    env["KISYS_STAGE"] = ctx.stage.name
    for key, value in ctx.matrix.items():
        env[f"KISYS_MATRIX_{key.upper()}"] = value
    return env


def run_command(ctx: StageContext) -> StageOutcome:
    """The action of a config stage: run its command once and judge the exit status."""
    stage = ctx.stage
    env = command_env(ctx)
    redactor = stage_redactor(ctx, env)
    shown = redactor.redact(shown_command(stage.run, stage.shell))
    cwd = ctx.rootdir / stage.cwd if stage.cwd else ctx.rootdir
    argv: str | list[str] = command_line(stage.run, True) if stage.shell else list(stage.run)
    try:
        process = subprocess.Popen(
            argv,
            shell=stage.shell,  # noqa: S602  # nosec B602 - only when the user wrote `shell: true`
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as error:
        reason = f"could not start `{shown}`: {error.strerror or error}"
        return StageOutcome.failed(reason, StageFinding(stage.name, stage.severity, reason))
    try:
        output, _ = process.communicate(timeout=ctx.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        output, _ = process.communicate()
        reason = f"`{shown}` timed out after {ctx.timeout:g}s"
        return StageOutcome.timed_out(
            reason,
            StageFinding(stage.name, stage.severity, reason, output_tail(output, redactor)),
        )
    if process.returncode == 0:
        return StageOutcome()
    reason = f"`{shown}` exited with status {process.returncode}"
    return StageOutcome.failed(
        reason, StageFinding(stage.name, stage.severity, reason, output_tail(output, redactor))
    )


def _kill_group(process: subprocess.Popen[str]) -> None:
    """Kill the command and whatever it started (it leads its own session)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        process.kill()

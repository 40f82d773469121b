"""The pip backend: one ``pip install --require-hashes --no-deps`` for the whole vetted batch."""

from __future__ import annotations

from collections.abc import Sequence
import os
from pathlib import Path
import shutil
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING

from pytest_kisys.install import pipcmd
from pytest_kisys.install.interface import BackendOptions
from pytest_kisys.install.interface import BackendOutcome
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.install.interface import Resolver
from pytest_kisys.install.interface import ResolverOptions
from pytest_kisys.install.signals import guarded


if TYPE_CHECKING:
    from pytest_kisys.install.environment import TargetEnv


def pinned_requirements(items: Sequence[PlannedItem]) -> str:
    """A requirements file naming each vetted artifact by version and sha256.

    With a hash on every line pip (and uv) install exactly these files or fail. When every
    item has its inspected local copy (``wheel_file``), the file also says ``--no-index`` and
    ``--find-links`` to those copies' directory: nothing is downloaded again, and the install
    is still a plain ``name==version`` one (no direct-URL record pointing at a temporary file).
    """
    ordered = sorted(items, key=lambda item: item.name)
    lines = [f"{item.name}=={item.version} --hash=sha256:{item.sha256}" for item in ordered]
    local = [item.wheel_file for item in ordered]
    if ordered and all(local):
        dirs = sorted({str(Path(path).parent) for path in local if path})
        lines = ["--no-index", *(f"--find-links {d}" for d in dirs), *lines]
    return "\n".join(lines) + "\n"


class PipBackend:
    """Installs with the target interpreter's pip (or ours, via ``--python``, when it has none).

    pip reads the user's own configuration (index, find-links, certificates); kisys only adds
    its ``index`` settings when they are set.
    """

    name = "pip"

    def __init__(self, options: BackendOptions | None = None, *, has_pip: bool = True) -> None:
        self.options = options or BackendOptions()
        self.has_pip = has_pip
        self._warm: tuple[str, subprocess.Popen[str], float] | None = None
        self._warm_tmp: str | None = None

    def command(self, python: str, requirements: str) -> list[str]:
        """The pip command installing the requirements file at ``requirements``."""
        return [
            *pipcmd.pip_command(python, self.has_pip),
            "install",
            "--no-deps",
            "--require-hashes",
            "--only-binary",
            ":all:",
            "--no-input",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            # Dependencies were resolved and vetted as a whole already.
            "--no-warn-conflicts",
            *pipcmd.index_options(self.options.index_url, self.options.cert, offline=self.options.offline),
            "--requirement",
            requirements,
        ]

    def prewarm(self, python: str) -> None:
        """Start pip now, reading its requirements from stdin, so its start-up (about half a
        second of imports) overlaps resolving and vetting. Nothing is installed until
        :meth:`install` writes the vetted list; :meth:`discard` ends an unused process.
        """
        if os.name != "posix" or self._warm is not None:
            return
        command = self.command(python, "/dev/stdin")
        # Its own TMPDIR: a pip that is killed unused leaves pip-build-tracker-* and
        # pip-install-* directories behind, which go with this directory.
        self._warm_tmp = tempfile.mkdtemp(prefix="kisys-pip-tmp-")
        env = {**pipcmd.child_env(), "TMPDIR": self._warm_tmp}
        self._warm = (
            python,
            subprocess.Popen(
                guarded(command),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            ),
            time.monotonic(),
        )

    def _drop_warm_tmp(self) -> None:
        if self._warm_tmp is not None:
            shutil.rmtree(self._warm_tmp, ignore_errors=True)
            self._warm_tmp = None

    def discard(self) -> None:
        """End a pre-started pip that was not used; nothing of it stays in TMPDIR."""
        if self._warm is None:
            self._drop_warm_tmp()
            return
        _, process, _ = self._warm
        self._warm = None
        if process.poll() is None:
            process.kill()
        process.communicate()
        self._drop_warm_tmp()

    def resolver(self, env: TargetEnv, options: ResolverOptions) -> Resolver:
        """pip's own resolver (``pip install --dry-run --report``), wheels only."""
        from pytest_kisys.install.resolver import PipResolver

        return PipResolver(env, options)

    def install(self, python: str, items: Sequence[PlannedItem]) -> BackendOutcome:
        """Install ``items`` into the environment of ``python`` in one pip process."""
        pinned = pinned_requirements(items)
        with tempfile.TemporaryDirectory(prefix="kisys-pip-") as tmp:
            requirements = Path(tmp) / "vetted-requirements.txt"
            requirements.write_text(pinned, encoding="utf-8")
            command = self.command(python, str(requirements))

            def attempt() -> BackendOutcome:
                warm = self._warm
                if warm is not None and warm[0] == python and warm[1].poll() is None:
                    self._warm = None
                    try:
                        return _finish_warm(warm[1], pinned, command, self.options.timeout)
                    finally:
                        self._drop_warm_tmp()
                self.discard()
                return pipcmd.run(command, env=pipcmd.child_env(), timeout=self.options.timeout)

            return pipcmd.with_retries(attempt, self.options.retries)


def _finish_warm(
    process: subprocess.Popen[str], pinned: str, command: list[str], timeout: float
) -> BackendOutcome:
    started = time.monotonic()
    try:
        stdout, stderr = process.communicate(pinned, timeout=timeout)
    except BaseException:
        # Timeout or Ctrl-C: pip must not keep installing behind our back.
        process.kill()
        process.communicate()
        raise
    return BackendOutcome(
        returncode=process.returncode,
        stdout=stdout,
        stderr=stderr,
        duration=time.monotonic() - started,
        command=tuple(command),
    )

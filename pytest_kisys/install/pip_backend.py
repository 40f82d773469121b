"""The pip backend: one ``pip install --require-hashes --no-deps`` for the whole vetted batch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
import tempfile

from pytest_kisys.install import pipcmd
from pytest_kisys.install.interface import BackendOutcome
from pytest_kisys.install.interface import PlannedItem


def pinned_requirements(items: Sequence[PlannedItem]) -> str:
    """A requirements file naming each vetted artifact by version and sha256.

    With a hash on every line pip (and uv) install exactly these files or fail.
    """
    ordered = sorted(items, key=lambda item: item.name)
    lines = [f"{item.name}=={item.version} --hash=sha256:{item.sha256}" for item in ordered]
    return "\n".join(lines) + "\n"


class PipBackend:
    """Installs with the target interpreter's pip (or ours, via ``--python``, when it has none).

    pip reads the user's own configuration (index, find-links, certificates); kisys only adds
    its ``index`` settings when they are set.
    """

    name = "pip"

    def __init__(
        self,
        *,
        has_pip: bool = True,
        index_url: str | None = None,
        cert: str | None = None,
        retries: int = 2,
        timeout: float = 1800.0,
        offline: bool = False,
    ) -> None:
        self.offline = offline
        self.has_pip = has_pip
        self.index_url = index_url
        self.cert = cert
        self.retries = retries
        self.timeout = timeout

    def prepare(self) -> None:
        """Nothing to look up ahead of time: pip reads its own configuration."""

    def install(self, python: str, items: Sequence[PlannedItem]) -> BackendOutcome:
        """Install ``items`` into the environment of ``python`` in one pip process."""
        with tempfile.TemporaryDirectory(prefix="kisys-pip-") as tmp:
            requirements = Path(tmp) / "vetted-requirements.txt"
            requirements.write_text(pinned_requirements(items), encoding="utf-8")
            command = [
                *pipcmd.pip_command(python, self.has_pip),
                "install",
                "--no-deps",
                "--require-hashes",
                "--only-binary",
                ":all:",
                "--no-input",
                "--disable-pip-version-check",
                "--no-warn-script-location",
                *pipcmd.index_options(self.index_url, self.cert, offline=self.offline),
                "--requirement",
                str(requirements),
            ]
            return pipcmd.with_retries(
                lambda: pipcmd.run(command, env=pipcmd.child_env(), timeout=self.timeout),
                self.retries,
            )

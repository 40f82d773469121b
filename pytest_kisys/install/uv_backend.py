"""The uv backend: ``uv pip install --python <target>`` with pip's index settings passed in.

uv reads neither ``pip.conf`` nor ``PIP_*`` variables, so pip's effective index configuration
(its config files and ``PIP_*`` variables, in pip's precedence) is translated into uv options.
Every artifact is pinned by sha256, so uv's ``unsafe-best-match`` index strategy (pip's
behaviour of merging all indexes) cannot substitute a different file.

uv installs the inspected copies (``--no-index --find-links``), never the index's files by
hash: a release with several wheels can make uv pick another file of the same version than
the one kisys inspected, and ``--require-hashes`` then fails the whole batch (seen with
``cryptography`` on a real suite).
"""

from __future__ import annotations

from collections.abc import Sequence
import os
from pathlib import Path
import shutil
import tempfile
from typing import TYPE_CHECKING

from pytest_kisys.install import pipcmd
from pytest_kisys.install.interface import BackendOptions
from pytest_kisys.install.interface import BackendOutcome
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.install.interface import Resolver
from pytest_kisys.install.interface import ResolverOptions
from pytest_kisys.vet.pipconfig import index_config
from pytest_kisys.vet.pipconfig import PipIndexConfig
from pytest_kisys.vet.pipconfig import read_pip_config


if TYPE_CHECKING:
    from pytest_kisys.install.environment import TargetEnv


def find_uv() -> str | None:
    """Path of the uv binary: the one from the ``uv`` Python package, else ``uv`` on PATH."""
    try:
        import uv
    except ImportError:
        return shutil.which("uv")
    try:
        return str(uv.find_uv_bin())
    except FileNotFoundError:
        return shutil.which("uv")


class UvBackend:
    """Installs with uv into the environment of the target interpreter."""

    name = "uv"

    def __init__(self, uv: str, options: BackendOptions | None = None) -> None:
        self.options = options or BackendOptions()
        self.uv = uv
        self._config: PipIndexConfig | None = None

    @property
    def config(self) -> PipIndexConfig:
        """The index settings passed to uv (read on first use)."""
        if self._config is None:
            self._config = self._index_config()
        return self._config

    def _index_config(self) -> PipIndexConfig:
        config = index_config(read_pip_config())
        return PipIndexConfig(
            index_url=self.options.index_url or config.index_url,
            extra_index_urls=config.extra_index_urls,
            find_links=config.find_links,
            no_index=False if self.options.index_url else config.no_index,
            cert=self.options.cert or config.cert,
            trusted_hosts=config.trusted_hosts,
        )

    def prewarm(self, python: str) -> None:
        """uv starts fast enough: nothing to start early."""

    def discard(self) -> None:
        """Nothing was started early."""

    def resolver(self, env: TargetEnv, options: ResolverOptions) -> Resolver:
        """uv's resolver (``uv pip compile --no-build``), looking where pip would."""
        from pytest_kisys.install.uv_resolver import UvResolver

        return UvResolver(env, options, self.uv, self.config)

    def install(self, python: str, items: Sequence[PlannedItem]) -> BackendOutcome:
        """Install ``items`` into the environment of ``python`` in one uv process."""
        config = self.config
        env = pipcmd.child_env()
        if config.cert:
            env["SSL_CERT_FILE"] = config.cert
        with tempfile.TemporaryDirectory(prefix="kisys-uv-") as tmp:
            requirements = Path(tmp) / "vetted-requirements.txt"
            from pytest_kisys.install.pip_backend import pinned_requirements

            requirements.write_text(pinned_requirements(items), encoding="utf-8")
            command = [
                self.uv,
                "pip",
                "install",
                "--python",
                python,
                "--no-deps",
                "--require-hashes",
                "--no-build",
                *config.uv_options(),
                *(["--offline"] if self.options.offline else []),
                "--requirement",
                str(requirements),
            ]
            if os.environ.get("NO_COLOR") is None:
                env["NO_COLOR"] = "1"
            return pipcmd.with_retries(
                lambda: pipcmd.run(command, env=env, timeout=self.options.timeout), self.options.retries
            )

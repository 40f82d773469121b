"""The uv backend: ``uv pip install --python <target>`` with pip's index settings passed in.

uv reads neither ``pip.conf`` nor ``PIP_*`` variables, so pip's effective index configuration
(its config files and ``PIP_*`` variables, in pip's precedence) is translated into uv options.
Every artifact is pinned by sha256, so uv's ``unsafe-best-match`` index strategy (pip's
behaviour of merging all indexes) cannot substitute a different file.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import os
from pathlib import Path
import shutil
import tempfile

from pytest_kisys.install import pipcmd
from pytest_kisys.install.interface import BackendOutcome
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.install.pip_backend import pinned_requirements


# pip's option names that say where packages come from; everything else is irrelevant to uv.
_INDEX_KEYS = ("index-url", "extra-index-url", "find-links", "no-index", "cert", "trusted-host")
_ENV_KEYS = {f"PIP_{key.upper().replace('-', '_')}": key for key in _INDEX_KEYS}


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


@dataclass(frozen=True)
class PipIndexConfig:
    """The index-related part of pip's effective configuration."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    cert: str | None = None
    trusted_hosts: tuple[str, ...] = ()

    def uv_options(self) -> list[str]:
        """The uv command-line options that make uv look where pip would."""
        options: list[str] = ["--index-strategy", "unsafe-best-match"]
        if self.no_index:
            options.append("--no-index")
        if self.index_url:
            options += ["--default-index", self.index_url]
        for url in self.extra_index_urls:
            options += ["--index", url]
        for link in self.find_links:
            options += ["--find-links", link]
        for host in self.trusted_hosts:
            options += ["--allow-insecure-host", host]
        return options


def read_pip_config(
    environ: Mapping[str, str] | None = None, files: Sequence[Path] | None = None
) -> dict[str, str]:
    """pip's effective index settings, read from its files and ``PIP_*`` like pip does.

    Running ``pip config list`` would cost a second of start-up on every batch; the files
    are plain ini files in a documented order (later wins, ``[install]`` over ``[global]``),
    then the environment variables win over all files.
    """
    from pytest_kisys.vet.pipconfig import config_files
    from pytest_kisys.vet.pipconfig import config_items

    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for key, value, _source in config_items(config_files(env) if files is None else files):
        if key in _INDEX_KEYS:
            values[key] = value
    for variable, key in _ENV_KEYS.items():
        if env.get(variable, "").strip():
            values[key] = env[variable].strip()
    return values


def index_config(values: Mapping[str, str]) -> PipIndexConfig:
    """Pick the index settings out of folded pip configuration values."""

    def many(key: str) -> tuple[str, ...]:
        return tuple(values.get(key, "").split())

    no_index = values.get("no-index", "").lower() in {"1", "true", "yes", "on"}
    return PipIndexConfig(
        index_url=values.get("index-url") or None,
        extra_index_urls=many("extra-index-url"),
        find_links=many("find-links"),
        no_index=no_index,
        cert=values.get("cert") or None,
        trusted_hosts=many("trusted-host"),
    )


class UvBackend:
    """Installs with uv into the environment of the target interpreter."""

    name = "uv"

    def __init__(
        self,
        uv: str,
        *,
        index_url: str | None = None,
        cert: str | None = None,
        retries: int = 2,
        timeout: float = 1800.0,
        offline: bool = False,
    ) -> None:
        self.offline = offline
        self.uv = uv
        self.index_url = index_url
        self.cert = cert
        self.retries = retries
        self.timeout = timeout
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
            index_url=self.index_url or config.index_url,
            extra_index_urls=config.extra_index_urls,
            find_links=config.find_links,
            no_index=False if self.index_url else config.no_index,
            cert=self.cert or config.cert,
            trusted_hosts=config.trusted_hosts,
        )

    def install(self, python: str, items: Sequence[PlannedItem]) -> BackendOutcome:
        """Install ``items`` into the environment of ``python`` in one uv process."""
        config = self.config
        env = pipcmd.child_env()
        if config.cert:
            env["SSL_CERT_FILE"] = config.cert
        with tempfile.TemporaryDirectory(prefix="kisys-uv-") as tmp:
            requirements = Path(tmp) / "vetted-requirements.txt"
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
                *(["--offline"] if self.offline else []),
                "--requirement",
                str(requirements),
            ]
            if os.environ.get("NO_COLOR") is None:
                env["NO_COLOR"] = "1"
            return pipcmd.with_retries(
                lambda: pipcmd.run(command, env=env, timeout=self.timeout), self.retries
            )

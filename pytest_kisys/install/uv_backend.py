"""The uv backend: ``uv pip install --python <target>`` with pip's index settings passed in.

uv reads neither ``pip.conf`` nor ``PIP_*`` variables, so the effective pip configuration
(``pip config list``, which already folds in the environment) is translated into uv options.
Every artifact is pinned by sha256, so uv's ``unsafe-best-match`` index strategy (pip's
behaviour of merging all indexes) cannot substitute a different file.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import os
from pathlib import Path
import re
import shutil
import tempfile

from pytest_kisys.install import pipcmd
from pytest_kisys.install.interface import BackendOutcome
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.install.pip_backend import pinned_requirements


_CONFIG_LINE = re.compile(r"^(?P<section>[^.]+|:env:)\.(?P<key>[a-z0-9-]+)='(?P<value>.*)'$")
# Later sections win: pip applies [global], then the command's own section, then PIP_* vars.
_SECTION_ORDER = {"global": 0, "install": 1, ":env:": 2}


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


def parse_pip_config(listing: str) -> dict[str, str]:
    """Fold ``pip config list`` output into one value per key, by pip's precedence."""
    ranked: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        match = _CONFIG_LINE.match(line.strip())
        if match is None:
            continue
        rank = _SECTION_ORDER.get(match["section"])
        if rank is None:
            continue
        key = match["key"]
        if key not in ranked or ranked[key][0] <= rank:
            ranked[key] = (rank, match["value"])
    return {key: value for key, (_, value) in ranked.items()}


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
        has_pip: bool = True,
        python_for_config: str,
        index_url: str | None = None,
        cert: str | None = None,
        retries: int = 2,
        timeout: float = 1800.0,
        offline: bool = False,
    ) -> None:
        self.offline = offline
        self.uv = uv
        self.has_pip = has_pip
        self.python_for_config = python_for_config
        self.index_url = index_url
        self.cert = cert
        self.retries = retries
        self.timeout = timeout
        self._config: PipIndexConfig | None = None

    def prepare(self) -> None:
        """Read pip's effective configuration (run while the resolver works)."""
        if self._config is None:
            self._config = self._read_pip_config()

    def _read_pip_config(self) -> PipIndexConfig:
        command = [*pipcmd.pip_command(self.python_for_config, self.has_pip), "config", "list"]
        outcome = pipcmd.run(command, env=pipcmd.child_env(), timeout=120)
        values = parse_pip_config(outcome.stdout) if outcome.ok else {}
        config = index_config(values)
        if self.index_url:
            config = PipIndexConfig(
                index_url=self.index_url,
                extra_index_urls=config.extra_index_urls,
                find_links=config.find_links,
                no_index=False,
                cert=self.cert or config.cert,
                trusted_hosts=config.trusted_hosts,
            )
        elif self.cert:
            config = PipIndexConfig(
                config.index_url,
                config.extra_index_urls,
                config.find_links,
                config.no_index,
                self.cert,
                config.trusted_hosts,
            )
        return config

    def install(self, python: str, items: Sequence[PlannedItem]) -> BackendOutcome:
        """Install ``items`` into the environment of ``python`` in one uv process."""
        self.prepare()
        config = self._config or PipIndexConfig()
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

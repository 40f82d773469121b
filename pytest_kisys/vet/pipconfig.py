"""Which index (and CA bundle) pip is configured with, read without running pip.

``python -m pip config list`` costs a second of start-up, so the ini files are read directly,
in pip's own precedence order (later wins): global files (``$XDG_CONFIG_DIRS/pip/pip.conf``,
``/etc/pip.conf``), user files (``~/.pip/pip.conf``, ``$XDG_CONFIG_HOME/pip/pip.conf``), the
site file (``sys.prefix/pip.conf``), ``PIP_CONFIG_FILE``, then ``PIP_INDEX_URL``/``PIP_CERT``.
Within a file ``[install]`` overrides ``[global]``. ``PIP_CONFIG_FILE=/dev/null`` disables every
file, as in pip. Settings (``index.url``/``index.cert``) override all of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import configparser
from dataclasses import dataclass
import os
from pathlib import Path
import sys

from pytest_kisys.secrets.redact import redact_shapes
from pytest_kisys.settings import Settings


DEFAULT_INDEX = "https://pypi.org/simple"
# Index URLs may carry credentials: every cached or printed URL goes through the one redactor.
redact = redact_shapes


@dataclass(frozen=True)
class IndexLocation:
    """The simple-API base URL to query, the CA bundle (None: system default) and their origins."""

    url: str
    cert: str | None
    url_source: str
    cert_source: str


def config_files(environ: Mapping[str, str], home: Path | None = None) -> list[Path]:
    """pip's configuration files, lowest precedence first (existing or not)."""
    env_file = environ.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []
    home = home if home is not None else Path.home()
    xdg_dirs = environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    files = [Path(d) / "pip" / "pip.conf" for d in reversed(xdg_dirs.split(os.pathsep)) if d]
    files.append(Path("/etc/pip.conf"))
    user_dir = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    if not (env_file and Path(env_file).exists()):
        files += [home / ".pip" / "pip.conf", user_dir / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if env_file:
        files.append(Path(env_file))
    return files


def config_items(files: Sequence[Path]) -> Iterator[tuple[str, str, str]]:
    """``(key, value, "file [section]")`` for every setting in ``files``, lowest precedence first.

    Keys are normalised as pip does (``index_url``/``--index-url`` -> ``index-url``) and values
    stripped; ``[install]`` follows ``[global]`` within a file, so folding in order gives pip's
    override order.
    """
    for path in files:
        if not path.is_file():
            continue
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError, OSError):
            continue  # pip itself errors out on such a file; we fall back to the next source
        for section in ("global", "install"):
            if not parser.has_section(section):
                continue
            for key, value in parser.items(section):
                normal = key.lower().replace("_", "-").lstrip("-")
                yield normal, value.strip(), f"{path} [{section}]"


# pip's option names that say where packages come from.
_INDEX_KEYS = ("index-url", "extra-index-url", "find-links", "no-index", "cert", "trusted-host")
_ENV_KEYS = {f"PIP_{key.upper().replace('-', '_')}": key for key in _INDEX_KEYS}


def read_pip_config(
    environ: Mapping[str, str] | None = None, files: Sequence[Path] | None = None
) -> dict[str, tuple[str, str]]:
    """pip's effective index settings, read like pip does: key -> (value, where it was set).

    The one reader of pip's configuration. The files are plain ini files in a documented
    order (later wins, ``[install]`` over ``[global]``), then ``PIP_*`` variables win.
    """
    env = os.environ if environ is None else environ
    values: dict[str, tuple[str, str]] = {}
    for key, value, source in config_items(config_files(env) if files is None else files):
        if key in _INDEX_KEYS and value:
            values[key] = (value, f"pip config {source}")
    for variable, key in _ENV_KEYS.items():
        if env.get(variable, "").strip():
            values[key] = (env[variable].strip(), f"env {variable}")
    return values


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


def index_config(values: Mapping[str, tuple[str, str]]) -> PipIndexConfig:
    """The index settings of :func:`read_pip_config` values, for another installer (uv)."""

    def one(key: str) -> str:
        return values.get(key, ("", ""))[0]

    def many(key: str) -> tuple[str, ...]:
        return tuple(one(key).split())

    return PipIndexConfig(
        index_url=one("index-url") or None,
        extra_index_urls=many("extra-index-url"),
        find_links=many("find-links"),
        no_index=one("no-index").lower() in {"1", "true", "yes", "on"},
        cert=one("cert") or None,
        trusted_hosts=many("trusted-host"),
    )


def index_location(
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    files: Sequence[Path] | None = None,
) -> IndexLocation:
    """Resolve the index URL and certificate: settings > ``PIP_*`` env > pip config > default."""
    pip = read_pip_config(environ, files)
    url, url_source = DEFAULT_INDEX, "default"
    cert: str | None = None
    cert_source = "default"
    if "index-url" in pip:
        value, url_source = pip["index-url"]
        url = value.split()[0]
    if "cert" in pip:
        value, cert_source = pip["cert"]
        cert = value if cert_source.startswith("env ") else value.split()[0]
    if settings.index.url:
        url, url_source = settings.index.url, settings.source_of("index")
    if settings.index.cert:
        cert, cert_source = settings.index.cert, settings.source_of("index")
    return IndexLocation(url.rstrip("/"), cert, url_source, cert_source)

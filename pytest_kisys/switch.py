"""The hooks of the pytest11 entry point ``kisys``: options, ini twins, hookspecs and the switch.

This module only wires things up. :mod:`pytest_kisys.plugin` loads it in every pytest run of an
environment where pytest-kisys is installed, on or off (from its installed bytecode, not through
pytest's assertion rewriting), so it imports nothing heavy: the settings resolver reads
``pyproject.toml``/``kisys.yaml`` only when the run could be on, and the role objects of
:mod:`pytest_kisys.roles` are imported and registered only when ``--kisys`` is on.
"""

from __future__ import annotations

import argparse
from collections.abc import Generator
import os
from pathlib import Path
from typing import Any
from typing import TYPE_CHECKING

import pytest

from pytest_kisys.options import dest_name
from pytest_kisys.options import ini_name
from pytest_kisys.options import OPTIONS


if TYPE_CHECKING:
    from pytest_kisys.config_files import RawValue


_BOOL_FLAGS = {"enabled", "offline", "learn", "scan_first", "isolate"}
_DEFAULT_SHOWN = {
    "level": "balanced",
    "scan": "all",
    "fail_on": "high",
    "trace": "OTEL_TRACES_EXPORTER, else none",
    "backend": "auto",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``kisys`` option group and an ini twin for every flag."""
    group = parser.getgroup("kisys", "pytest-kisys: test-time supply-chain guard")
    for key in OPTIONS:
        if key.flag is not None:
            extra = []
            if key.name in _DEFAULT_SHOWN:
                extra.append(f"default: {_DEFAULT_SHOWN[key.name]}")
            if key.ini:
                extra.append(f"ini: {ini_name(key)}")
            if key.env:
                extra.append(f"env: {key.env}")
            help_text = f"{key.help} ({'; '.join(extra)})" if extra else key.help
            kwargs: dict[str, Any] = {"dest": dest_name(key), "help": help_text}
            if key.name in _BOOL_FLAGS:
                kwargs.update(action="store_true", default=False if key.name == "enabled" else None)
            else:
                kwargs.update(action="append", default=None, metavar=key.metavar or "VALUE")
            group.addoption(key.flag, **kwargs)
        if key.ini:
            help_text = f"kisys: {key.help} (allowed: {key.allowed})"
            if key.multi:
                parser.addini(ini_name(key), help_text, type="linelist", default=[])
            else:
                parser.addini(ini_name(key), help_text, type="string", default="")


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Publish the ``pytest_kisys_*`` hooks (see :mod:`pytest_kisys.hookspecs`)."""
    from pytest_kisys import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def _cli_values(namespace: argparse.Namespace) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {}
    for key in OPTIONS:
        if key.flag is None:
            continue
        given = getattr(namespace, dest_name(key), None)
        if given is None or given is False:
            continue
        values[key.name] = given if isinstance(given, list) else [given]
    return values


def _ini_values(config: pytest.Config) -> dict[str, RawValue]:
    from pytest_kisys.config_files import RawValue

    where_file = str(config.inipath) if config.inipath else "the pytest ini file"
    values: dict[str, RawValue] = {}
    for key in OPTIONS:
        if not key.ini:
            continue
        name = ini_name(key)
        raw = config.getini(name)
        if raw in ("", [], None):
            continue
        values[key.name] = RawValue(raw, f"{where_file} ({name})", config.rootpath)
    return values


def _could_be_on(config: pytest.Config, cli: dict[str, list[Any]]) -> bool:
    """Whether some source turns kisys on, checked cheaply: files are parsed only if present.

    When off, nothing else in the configuration is validated: an installed-but-off plugin has
    no behaviour, not even errors about its own settings.
    """
    if cli.get("enabled") or str(config.getini("kisys")).strip():
        return True
    root = Path(config.rootpath)
    try:
        mentions_kisys = b"[tool.kisys" in (root / "pyproject.toml").read_bytes()
    except OSError:
        mentions_kisys = False
    has_yaml = (root / "kisys.yaml").is_file()
    if not mentions_kisys and not has_yaml:
        return False  # the common "off" case: nothing more is imported or read
    from pytest_kisys.config_files import enabled_in_files

    return enabled_in_files(root, pyproject=mentions_kisys, yaml_file=has_yaml)


def _resolve_and_register(config: pytest.Config, namespace: argparse.Namespace) -> bool:
    """Resolve the settings and register the roles when on; True when this call registered them."""
    cli = _cli_values(namespace)
    if not _could_be_on(config, cli):
        return False
    from pytest_kisys.errors import ConfigError
    from pytest_kisys.record import SETTINGS_KEY
    from pytest_kisys.settings import resolve

    if SETTINGS_KEY in config.stash:
        return False
    try:
        resolved = resolve(
            cli=cli,
            environ=os.environ,
            ini=_ini_values(config),
            rootdir=Path(config.rootpath),
            invocation_dir=Path(config.invocation_params.dir),
        )
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from exc
    if not resolved.enabled:
        return False
    from pytest_kisys.roles import register_roles

    register_roles(config, resolved)
    return True


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> Generator[None, None, None]:
    """Resolve settings before any conftest is imported; register the session roles when on.

    A wrapper, so that it runs before every other implementation (pytest's own conftest
    loading among them) and sees it fail: the kisys section is printed before pytest's error.
    """
    collect = None
    if _resolve_and_register(early_config, early_config.known_args_namespace):
        # Roles registered during this hook miss its call (pluggy fixes the implementations
        # when a call starts): hand it on to the collection role, which resolves now.
        from pytest_kisys.resolve.plugin import COLLECT_KEY

        collect = early_config.stash[COLLECT_KEY]
        collect.pytest_load_initial_conftests(early_config=early_config, parser=parser, args=args)
    try:
        return (yield)
    except BaseException:
        if collect is not None:
            collect.print_section_before_exit()
        raise


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``requires`` marker (always, so strict markers accept it when off)."""
    config.addinivalue_line(
        "markers",
        "requires(*requirements): PEP 508 requirements this test needs; with --kisys they are "
        "vetted and installed before the run, or the test is skipped with the reason",
    )
    # Plugins registered too late for pytest_load_initial_conftests (e.g. -p in some embeddings).
    if _resolve_and_register(config, config.option):
        from pytest_kisys.resolve.plugin import COLLECT_KEY

        config.stash[COLLECT_KEY].pytest_load_initial_conftests(early_config=config, parser=None, args=[])

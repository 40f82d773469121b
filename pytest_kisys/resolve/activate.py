"""Make the pytest plugins kisys just installed active in the same run.

pytest loads ``pytest11`` entry points once, before ``pytest_load_initial_conftests``; a plugin
installed by the pre-collection batch would otherwise only work in the next run. This loads the
entry points of the newly installed distributions and registers them, still inside
``pytest_load_initial_conftests``, so that before pytest validates the configuration:

* their ``pytest_addoption`` runs (a historic hook): options in ``addopts`` and ini keys are
  known when pytest parses the command line again and checks ``--strict-config``;
* their ``pytest_configure`` runs with everyone else's: markers are registered;
* the fixture manager, created at session start, reads their fixtures;
* their own ``pytest_load_initial_conftests`` (pytest-cov starts coverage there) is called
  for them alone, after the known arguments were parsed again with their options.

Entry points blocked with ``-p no:NAME`` are left alone, and nothing is loaded when plugin
autoloading is disabled (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``, ``--disable-plugin-autoload``).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
import copy
from dataclasses import dataclass
import importlib
import importlib.metadata
import os

from packaging.utils import canonicalize_name
import pytest


__all__ = ["Activation", "activate_installed"]


@dataclass(frozen=True)
class Activation:
    """What :func:`activate_installed` did."""

    registered: tuple[str, ...] = ()
    """``distribution:entry point`` of every plugin registered."""
    skipped: tuple[str, ...] = ()
    """Why an entry point was not loaded, one line each."""

    def lines(self) -> list[str]:
        """Lines for the kisys terminal section."""
        out = [f"activated plugin {name} for this run" for name in self.registered]
        out.extend(self.skipped)
        return out


def _autoload_disabled(config: pytest.Config) -> bool:
    return bool(os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")) or bool(
        getattr(config.known_args_namespace, "disable_plugin_autoload", False)
    )


def activate_installed(
    config: pytest.Config,
    parser: pytest.Parser | None,
    args: Sequence[str],
    distributions: Iterable[str],
) -> Activation:
    """Register the ``pytest11`` plugins of ``distributions`` (just installed) in ``config``."""
    wanted = {canonicalize_name(name.split("==", 1)[0]) for name in distributions}
    if not wanted:
        return Activation()
    importlib.invalidate_caches()
    manager = config.pluginmanager
    registered: list[str] = []
    skipped: list[str] = []
    before = list(manager.get_plugins())
    for dist in importlib.metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"] or "")
        if name not in wanted:
            continue
        for entry in dist.entry_points:
            if entry.group != "pytest11":
                continue
            if _autoload_disabled(config):
                skipped.append(
                    f"plugin {name}:{entry.name} not activated: plugin autoloading is disabled "
                    f"(add -p {entry.name}, or it is active from the next run)"
                )
                continue
            if manager.is_blocked(entry.name) or manager.has_plugin(entry.name):
                continue
            try:
                plugin = entry.load()
            except (ImportError, AttributeError, SyntaxError, OSError) as exc:
                skipped.append(f"plugin {name}:{entry.name} could not be loaded: {type(exc).__name__}: {exc}")
                continue
            if manager.is_registered(plugin):
                continue
            manager.register(plugin, entry.name)
            registered.append(f"{name}:{entry.name}")
    new = [p for p in manager.get_plugins() if p not in before]
    if new and parser is not None:
        # Their options exist now: parse again, so their early hooks see their values.
        config.known_args_namespace = parser.parse_known_args(list(args), namespace=copy.copy(config.option))
        early = manager.subset_hook_caller(
            "pytest_load_initial_conftests", remove_plugins=[p for p in manager.get_plugins() if p not in new]
        )
        early(early_config=config, parser=parser, args=list(args))
    return Activation(tuple(registered), tuple(skipped))

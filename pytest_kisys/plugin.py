"""pytest11 entry point ``kisys``: the hooks of :mod:`pytest_kisys.switch`, loaded cheaply.

pytest imports this module in every run of an environment where pytest-kisys is installed, on
or off, through its assertion-rewriting import hook (every module of an installed plugin is
marked for rewriting): the hook parses, rewrites and compiles the source, and caches the result
only where it may write bytecode, so under ``PYTHONDONTWRITEBYTECODE=1`` it did so on every run.
This module is kept small, and the modules an off run needs (the options table, the hookspecs,
the switch) are loaded with the standard path finder and file loader instead, from the bytecode
compiled when pytest-kisys was installed. None of them holds an ``assert``; what runs when
kisys is on is imported normally (and rewritten, as before).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from types import ModuleType


def load_plain(name: str) -> ModuleType:
    """Import the submodule ``name`` of an imported package with the standard loaders only.

    Finds it with :class:`importlib.machinery.PathFinder` on the package's ``__path__`` (no
    meta-path finder, so no assertion rewriting) and executes it as the import system would:
    in ``sys.modules`` first, bound on its package once loaded.
    """
    module = sys.modules.get(name)
    if module is not None:
        return module
    parent, _, child = name.rpartition(".")
    package = sys.modules[parent]
    spec = importlib.machinery.PathFinder.find_spec(name, package.__path__)
    if spec is None or spec.loader is None:
        return importlib.import_module(name)  # found only by another finder: the usual way
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    setattr(package, child, module)
    return module


for _name in ("options", "hookspecs", "switch"):  # switch imports the first two
    load_plain(f"{__package__}.{_name}")

from pytest_kisys.switch import pytest_addhooks as pytest_addhooks  # noqa: E402
from pytest_kisys.switch import pytest_addoption as pytest_addoption  # noqa: E402
from pytest_kisys.switch import pytest_configure as pytest_configure  # noqa: E402
from pytest_kisys.switch import pytest_load_initial_conftests as pytest_load_initial_conftests  # noqa: E402

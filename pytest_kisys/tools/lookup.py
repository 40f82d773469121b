"""Find the interpreter that runs a scanner: the environment under test, else the tool environment.

Scanners already installed where the tests run are used as they are (``pytest-kisys[scanners]``
on an air-gapped machine, or a project that depends on bandit itself). Otherwise kisys's tool
environment runs them, built on first use. Offline with neither, :class:`ToolError` says in
one line how to prepare it; the check is then inconclusive, never clean.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import threading
from typing import TYPE_CHECKING

from pytest_kisys.errors import ToolError
from pytest_kisys.tools.env import plugin_path
from pytest_kisys.tools.env import PREPARE_HINT
from pytest_kisys.tools.env import ToolEnvironment
from pytest_kisys.tools.interface import ToolCommand
from pytest_kisys.tools.interface import TOOLS
from pytest_kisys.tools.interface import ToolSource


if TYPE_CHECKING:
    from pytest_kisys.settings import Settings


# Checks start in parallel: the first one to need the tool environment builds it.
_BUILD = threading.Lock()


def in_environment(tool: str) -> ToolCommand | None:
    """``tool`` as installed in the environment under test, None when it is not."""
    spec = TOOLS[tool]
    if importlib.util.find_spec(spec.module) is None:
        return None
    try:
        version = importlib.metadata.version(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None  # a same-named directory on sys.path, not the tool
    return ToolCommand(tool, sys.executable, ToolSource.ENVIRONMENT, version)


def locate(tool: str, settings: Settings, *, create: bool = True) -> ToolCommand:
    """How to run ``tool`` (a :data:`~pytest_kisys.tools.interface.TOOLS` name) for ``settings``.

    :param create: build the tool environment when it is missing (never offline).
    :raises ToolError: the tool is nowhere and cannot be prepared now.
    """
    if tool not in TOOLS:
        raise ToolError(f"unknown tool {tool!r}; known: {', '.join(sorted(TOOLS))}")
    found = in_environment(tool)
    if found is not None:
        return found
    env = ToolEnvironment.for_settings(settings)
    if not env.ready():
        if settings.offline or not create:
            raise ToolError(
                f"{tool} is not installed here and the kisys tool environment does not exist; "
                + PREPARE_HINT
            )
        with _BUILD:
            env.create(settings)
    version = env.version_of(TOOLS[tool].distribution)
    if version is None:
        raise ToolError(f"{tool} is not in the kisys tool environment {env.path}; {PREPARE_HINT}")
    return ToolCommand(
        tool,
        env.python,
        ToolSource.TOOL_ENVIRONMENT,
        version,
        plugin_path=plugin_path(settings.resolved_cache_dir()),
    )

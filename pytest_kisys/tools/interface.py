"""The tool-environment interface: which scanners exist, and how to start one.

:class:`ToolCommand` is what a check asks for ("how do I run bandit?") and gets back, wherever
the tool lives: in the environment under test (used as it is) or in kisys's own tool
environment under the cache directory. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
import enum
from pathlib import Path


class ToolSource(enum.Enum):
    """Where a tool runs from."""

    ENVIRONMENT = "environment under test"
    TOOL_ENVIRONMENT = "kisys tool environment"


@dataclass(frozen=True)
class ToolSpec:
    """One scanner: its distribution and its importable module."""

    name: str
    distribution: str
    module: str


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec("bandit", "bandit", "bandit"),
        ToolSpec("detect-secrets", "detect-secrets", "detect_secrets"),
        ToolSpec("pip-audit", "pip-audit", "pip_audit"),
        # Not in the shipped lock (large, optional): found in the environment under test only,
        # or in a tool environment built from a lock that has it.
        ToolSpec("semgrep", "semgrep", "semgrep"),
    )
}


# Runs a kisys scan worker in the tool environment: isolated mode (no cwd, no PYTHONPATH, no
# user site), then only the directory that holds pytest_kisys itself is added to the path.
_WORKER_BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from pytest_kisys.scan.worker import main; raise SystemExit(main())"
)


@dataclass(frozen=True)
class ToolCommand:
    """How to start ``tool``: the interpreter that has it, where that came from, its version.

    :param plugin_path: for the tool environment, a directory holding only ``pytest_kisys``
        (so kisys's scan workers import there and nothing of the environment under test).
    """

    tool: str
    python: str
    source: ToolSource
    version: str
    plugin_path: str | None = None

    @property
    def bin_dir(self) -> Path:
        """The directory of this environment's console scripts (``semgrep``, ``bandit``...)."""
        return Path(self.python).parent

    def executable(self, name: str) -> str:
        """The path of console script ``name`` in this environment."""
        return str(self.bin_dir / name)

    def module(self, module: str) -> list[str]:
        """The command prefix that runs ``python -m module`` here.

        In the tool environment the interpreter runs isolated (``-I``): the project's working
        directory and ``PYTHONPATH`` must not shadow the tool's own packages.
        """
        if self.source is ToolSource.TOOL_ENVIRONMENT:
            return [self.python, "-I", "-m", module]
        return [self.python, "-m", module]

    def worker(self) -> list[str]:
        """The command that starts one kisys scan worker (:mod:`pytest_kisys.scan.worker`)."""
        if self.plugin_path is None:
            return [self.python, "-m", "pytest_kisys.scan.worker"]
        return [self.python, "-I", "-c", _WORKER_BOOT, self.plugin_path]

    def describe(self) -> str:
        """``bandit 1.9.4 (kisys tool environment: /path/python)``."""
        return f"{self.tool} {self.version} ({self.source.value}: {self.python})"

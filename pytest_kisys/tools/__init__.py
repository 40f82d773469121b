"""Where the scanners run: the environment under test as it is, or kisys's own tool environment.

Public interface: :func:`locate` returns a :class:`ToolCommand` (interpreter, source, version,
``module()``/``worker()``/``executable()`` command builders) for a tool named in
:data:`TOOLS`; :class:`ToolEnvironment` builds, lists and removes the tool environment
(``kisys tools``). Nothing here imports a scanner.
"""

from __future__ import annotations

from pytest_kisys.tools.env import ToolEnvironment
from pytest_kisys.tools.interface import ToolCommand
from pytest_kisys.tools.interface import TOOLS
from pytest_kisys.tools.interface import ToolSource
from pytest_kisys.tools.interface import ToolSpec
from pytest_kisys.tools.lookup import locate


__all__ = ["TOOLS", "ToolCommand", "ToolEnvironment", "ToolSource", "ToolSpec", "locate"]

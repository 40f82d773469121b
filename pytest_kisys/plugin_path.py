"""The contract between the tool environment and the scan workers it starts.

:func:`pytest_kisys.tools.env.plugin_path` makes a directory that holds only a link to this
package, marked with :data:`PLUGIN_PATH_MARKER`; a scan worker (:mod:`pytest_kisys.scan.worker`)
drops the project's directories from ``sys.path`` but keeps a marked one. Standard library only:
the worker imports this before its path is cleaned.
"""

from __future__ import annotations


__all__ = ["PLUGIN_PATH_MARKER"]

PLUGIN_PATH_MARKER = "kisys-plugin-path"
"""The file name that marks a plugin-path directory."""

"""Build hook: ship ``pytest-kisys-early.pth`` at the top of site-packages.

The file runs :func:`pytest_kisys.early.arm` in processes started with ``--kisys`` (one ``in``
test on ``sys.orig_argv`` otherwise): pytest applies ``filterwarnings`` before it loads any
plugin, so this is the only point early enough (see ``pytest_kisys/early.py``). Everything
else about the build is declared in ``pyproject.toml``.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


PTH = "pytest-kisys-early.pth"
SOURCE = Path(__file__).resolve().parent / "pytest_kisys" / "data" / PTH


class BuildPyWithPth(build_py):
    """``build_py`` that also places the ``.pth`` file next to the package."""

    def run(self) -> None:
        """Build the package, then copy the ``.pth`` file to the top of the build directory."""
        super().run()
        self.copy_file(str(SOURCE), str(Path(self.build_lib) / PTH))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        """The package's files and the ``.pth`` file (editable installs read this list)."""
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH)]

    def get_output_mapping(self) -> dict[str, str]:
        """Where each built file comes from (editable installs link or copy by this)."""
        return {**super().get_output_mapping(), str(Path(self.build_lib) / PTH): str(SOURCE)}


setup(cmdclass={"build_py": BuildPyWithPth})

"""The one place that knows the concrete installer backends and picks one for a batch."""

from __future__ import annotations

import importlib.util
import sys

from pytest_kisys.errors import InstallError
from pytest_kisys.install.environment import TargetEnv
from pytest_kisys.install.interface import BackendOptions
from pytest_kisys.install.interface import InstallBackend
from pytest_kisys.install.uv_backend import find_uv
from pytest_kisys.install.uv_backend import UvBackend
from pytest_kisys.settings import Settings


__all__ = ["make_backend"]


def make_backend(settings: Settings, env: TargetEnv) -> InstallBackend:
    """The installer backend ``settings.backend`` asks for (``auto``: uv when found, else pip)."""
    wanted = settings.backend
    index = settings.index
    uv = find_uv() if wanted in {"uv", "auto"} else None
    if wanted == "uv" and uv is None:
        raise InstallError(
            "backend = 'uv' but no uv binary was found: install pytest-kisys[uv] or set backend = 'pip'"
        )
    options = BackendOptions(
        index_url=index.url, cert=index.cert, retries=settings.retries, offline=settings.offline
    )
    if uv is not None:
        return UvBackend(uv, options)
    if not env.has_pip and importlib.util.find_spec("pip") is None:
        raise InstallError(
            f"no installer for {env.python}: it has no pip, this interpreter ({sys.executable}) "
            "has none to drive it with, and no uv binary was found -- install pip there, or "
            "pytest-kisys[uv]"
        )
    from pytest_kisys.install.pip_backend import PipBackend  # not imported for uv

    return PipBackend(options, has_pip=env.has_pip)

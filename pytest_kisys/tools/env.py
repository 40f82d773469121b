"""kisys's own tool environment: a virtualenv under the cache directory that holds the scanners.

One environment per lock digest and interpreter version, shared by every project and run of
this user (``<cache>/tools/<cpython3.11>-<digest>``). It is built on first use:

1. the lock's names go through kisys's vetter (deny list, known-malicious list, the index):
   a blocked name stops the build. The lock itself, pinned by sha256 and shipped with
   pytest-kisys, is the approval, so names that would only need a confirmation are installed;
2. ``uv venv`` plus ``uv pip install --require-hashes --no-deps --only-binary :all:`` when uv is
   present, else ``python -m venv`` and that environment's pip with the same options;
3. ``kisys-tools.json`` is written last: an environment without it is incomplete (an
   interrupted build) and is removed and rebuilt.

Builds are serialised by a file lock, so two sessions starting at once build it once.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
from dataclasses import dataclass
import hashlib
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import time
from typing import Any
from typing import TYPE_CHECKING

from pytest_kisys.errors import ToolError
from pytest_kisys.plugin_path import PLUGIN_PATH_MARKER
from pytest_kisys.tools.lockfile import default_lock_path
from pytest_kisys.tools.lockfile import parse_lock
from pytest_kisys.tools.lockfile import ToolLock


if TYPE_CHECKING:
    from pytest_kisys.settings import Settings


MANIFEST = "kisys-tools.json"
BUILD_TIMEOUT = 900.0
LOCK_TIMEOUT = 2 * BUILD_TIMEOUT
"""Seconds a session waits for another one's build (its venv and install steps each may take
:data:`BUILD_TIMEOUT`)."""
PREPARE_HINT = "prepare it with `kisys tools create` while online, or `pip install pytest-kisys[scanners]`"


def tools_root(cache_dir: Path) -> Path:
    """Where tool environments live: ``<cache>/tools``."""
    return cache_dir / "tools"


def interpreter_tag() -> str:
    """``cpython3.11``: environments are per interpreter implementation and version."""
    return f"{sys.implementation.name}{sys.version_info[0]}.{sys.version_info[1]}"


def _bin(env: Path) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin")


def _python(env: Path) -> Path:
    return _bin(env) / ("python.exe" if os.name == "nt" else "python")


@dataclass(frozen=True)
class ToolEnvStatus:
    """What ``kisys tools`` shows about one environment."""

    path: Path
    ready: bool
    current: bool
    installer: str = ""
    created: float = 0.0
    versions: tuple[tuple[str, str], ...] = ()


class ToolEnvironment:
    """The tool environment for ``lock`` under ``cache_dir`` (see the module docstring)."""

    def __init__(self, cache_dir: Path, lock: ToolLock | None = None) -> None:
        self.lock = lock if lock is not None else parse_lock(default_lock_path())
        self.root = tools_root(cache_dir)
        self.path = self.root / f"{interpreter_tag()}-{self.lock.digest[:16]}"

    @classmethod
    def for_settings(cls, settings: Settings) -> ToolEnvironment:
        """The environment of the shipped lock under the configured cache directory."""
        return cls(settings.resolved_cache_dir())

    @property
    def python(self) -> str:
        """The environment's interpreter."""
        return str(_python(self.path))

    def manifest(self) -> dict[str, Any] | None:
        """The completed build's manifest, None when the environment is absent or incomplete."""
        try:
            data = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("lock") != self.lock.digest:
            return None
        return data if _python(self.path).exists() else None

    def ready(self) -> bool:
        """Whether a complete build of this lock exists."""
        return self.manifest() is not None

    def version_of(self, distribution: str) -> str | None:
        """The installed version of ``distribution`` here, None when it is not installed."""
        manifest = self.manifest()
        if manifest is None:
            return None
        return self.lock.version_of(distribution) if distribution in manifest.get("tools", ()) else None

    def status(self) -> list[ToolEnvStatus]:
        """Every environment under the tools directory, the current one first."""
        found: list[ToolEnvStatus] = []
        paths = sorted(p for p in self.root.glob("*-*") if p.is_dir()) if self.root.is_dir() else []
        for path in sorted(paths, key=lambda p: p != self.path):
            try:
                data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = None
            ok = isinstance(data, dict)
            found.append(
                ToolEnvStatus(
                    path=path,
                    ready=ok and path == self.path and self.ready(),
                    current=path == self.path,
                    installer=str(data.get("installer", "")) if ok and data else "",
                    created=float(data.get("created", 0.0)) if ok and data else 0.0,
                    versions=tuple(sorted((data or {}).get("versions", {}).items())) if ok else (),
                )
            )
        return found

    # -- building

    def create(
        self,
        settings: Settings,
        *,
        vet: Callable[[ToolLock], None] | None = None,
        uv: str | None | bool = True,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> ToolEnvStatus:
        """Build the environment unless a complete build exists; returns its status.

        :param vet: checks the lock's names before anything is installed (default: kisys's
            vetter under ``settings``); raises :class:`ToolError` to refuse.
        :param uv: True finds uv, a path uses that uv, False or None uses venv and pip.
        :param lock_timeout: seconds to wait for another session's build (the build lock).
        """
        from contextlib import ExitStack

        from pytest_kisys.errors import InstallError
        from pytest_kisys.install.lock import environment_lock

        if settings.offline:
            raise ToolError(f"offline mode: the kisys tool environment does not exist; {PREPARE_HINT}")
        self.root.mkdir(parents=True, exist_ok=True)
        lock_file = Path(str(self.path) + ".lock")
        with ExitStack() as held:
            try:  # the project's own flock: a second session waits here, then finds it built
                held.enter_context(environment_lock(lock_file, lock_timeout))
            except InstallError as exc:
                raise ToolError(
                    f"another session has held the tool environment's build lock {lock_file} "
                    f"for more than {lock_timeout:.0f} s; remove the file if no kisys is running"
                ) from exc
            if not self.ready():
                (vet or (lambda lock: vet_lock(lock, settings)))(self.lock)
                if self.path.exists():
                    shutil.rmtree(self.path)  # an interrupted build
                try:
                    self._build(settings, _find_uv() if uv is True else (uv or None))
                except BaseException:
                    shutil.rmtree(self.path, ignore_errors=True)
                    raise
        return self.status()[0]

    def remove(self, *, everything: bool = False) -> list[Path]:
        """Delete this environment (``everything``: every tool environment); returns the paths."""
        targets = [self.path] if not everything else [s.path for s in self.status()]
        removed = []
        for path in targets:
            if path.exists():
                shutil.rmtree(path)
                removed.append(path)
        return removed

    def _build(self, settings: Settings, uv: str | None) -> None:
        from pytest_kisys.install import pipcmd
        from pytest_kisys.install.interface import BackendOptions
        from pytest_kisys.install.uv_backend import UvBackend

        env = pipcmd.child_env()
        install = ["--require-hashes", "--no-deps", "--only-binary", ":all:", "-r", str(self.lock.path)]
        index = settings.index.url
        if uv:
            backend = UvBackend(uv, BackendOptions(index_url=index, cert=settings.index.cert))
            if backend.config.cert:
                env["SSL_CERT_FILE"] = backend.config.cert
            steps = [
                [uv, "venv", "--quiet", "--python", sys.executable, str(self.path)],
                [
                    uv,
                    "pip",
                    "install",
                    "--quiet",
                    "--python",
                    self.python,
                    *backend.config.uv_options(),
                    *install,
                ],
            ]
        else:
            steps = [
                [sys.executable, "-m", "venv", str(self.path)],
                [
                    self.python,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    *pipcmd.index_options(index, settings.index.cert),
                    *install,
                ],
            ]
        for command in steps:
            try:
                proc = subprocess.run(
                    command,
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=BUILD_TIMEOUT,
                    stdin=subprocess.DEVNULL,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ToolError(f"building the kisys tool environment failed: {exc}") from exc
            if proc.returncode != 0:
                tail = " ".join(proc.stderr.strip().splitlines()[-3:])[-500:]
                raise ToolError(f"building the kisys tool environment failed ({command[1]}): {tail}")
        self._write_manifest("uv" if uv else "pip")

    def _write_manifest(self, installer: str) -> None:
        from pytest_kisys.tools.interface import TOOLS

        # Pins whose marker excludes this interpreter (colorama on Windows only) are not installed.
        pins = self.lock.applying()
        installed = {p.name for p in pins}
        tools = sorted(s.distribution for s in TOOLS.values() if s.distribution in installed)
        data = {
            "lock": self.lock.digest,
            "python": sys.executable,
            "installer": installer,
            "created": time.time(),
            "tools": tools,
            "versions": {p.name: p.version for p in pins},
        }
        target = self.path / MANIFEST
        target.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")


def _find_uv() -> str | None:
    from pytest_kisys.install.uv_backend import find_uv

    return find_uv()


def vet_lock(lock: ToolLock, settings: Settings) -> None:
    """Vet the lock's names with kisys's own vetter; a blocked one raises :class:`ToolError`."""
    from pytest_kisys.vet.interface import VetRequest
    from pytest_kisys.vet.vetter import Vetter

    # The lock ships with kisys and pins each file by hash: its versions were chosen, and their
    # age judged, when the lock was made. The cooldown guards fresh resolutions, not this lock,
    # whose pins would otherwise be refused for the first days after every lock update.
    vetter = Vetter(dataclasses.replace(settings, min_release_age=0.0))
    decisions = vetter.vet([VetRequest.of(p.name, "kisys tools", version=p.version) for p in lock.applying()])
    blocked = [d for d in decisions if d.action == "block"]
    if blocked:
        why = "; ".join(f"{d.name}: {', '.join(d.reasons)}" for d in blocked)
        raise ToolError(f"the kisys tool environment was not built: {why}")


def plugin_path(cache_dir: Path) -> str:
    """A directory holding only a link to this ``pytest_kisys`` package, for tool-env workers.

    The directory that holds the installed package is usually the environment's
    ``site-packages``: putting that on a tool interpreter's path would mix the environment
    under test into the tools'. A link (a copy where links are not allowed) keeps them apart.
    """
    package = Path(__file__).resolve().parent.parent
    key = hashlib.sha256(f"{package}\0{os.path.getmtime(package)}".encode()).hexdigest()[:16]
    holder = tools_root(cache_dir) / "plugin" / key
    link = holder / "pytest_kisys"
    marker = holder / PLUGIN_PATH_MARKER
    if not marker.is_file():
        holder.mkdir(parents=True, exist_ok=True)
        marker.write_text("kisys scan workers keep this directory on sys.path\n", encoding="utf-8")
    if not link.exists():
        staging = holder / f".pytest_kisys-{os.getpid()}"
        try:
            os.symlink(package, staging, target_is_directory=True)
        except OSError:
            shutil.copytree(package, staging, ignore=shutil.ignore_patterns("__pycache__"))
        try:
            os.replace(staging, link)
        except OSError:
            # Another process linked it first.
            if staging.is_symlink():
                staging.unlink()
            else:
                shutil.rmtree(staging, ignore_errors=True)
    return str(holder)

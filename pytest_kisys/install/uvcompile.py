"""The batch's ``uv pip compile`` command, and starting it before the installer is imported.

:class:`CompileSpec` holds everything the command depends on and :func:`commands` turns it
into the command lines (the lock, and the ``# via`` listing), writing the requirement and
constraint files they name: the one copy of the rule, used by
:class:`~pytest_kisys.install.uv_resolver.UvResolver` for every compile.

``kisys install --python OTHER --backend uv`` spends about a tenth of a second importing the
installer after the target's environment probe has answered. :func:`start` builds the batch's
spec the way the installer will (the same backend, resolver options and resolver), launches
the compile as soon as the probe answers, and leaves it for :func:`adopt`: the resolver uses
it when its own spec is the same (a cooldown cutoff at most a minute older, which only
admits less), and stops it otherwise. :func:`discard` stops one nobody adopted (the verb
calls it when it ends, Ctrl-C included); it runs guarded, so it dies with kisys anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
import subprocess
import tempfile
import threading
import time
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from pytest_kisys.settings import Settings
    from pytest_kisys.vet.vetter import Vetter


_TOLERANCE = 60.0
"""How much older than the resolver's an adopted compile's cooldown cutoff may be (seconds)."""


@dataclass(frozen=True)
class CompileSpec:
    """Everything one ``uv pip compile`` of a batch depends on."""

    uv: str
    python: str
    requirements: tuple[str, ...]
    constraints: tuple[str, ...] | None
    """``name==version`` of everything installed (None: unconstrained)."""
    pins: str
    """The ``index_for`` exclusions as a constraints file's text (empty: none)."""
    index_options: tuple[str, ...]
    offline: bool
    uploaded_before: float | None
    exempt: frozenset[str]
    cert: str | None

    def adoptable_for(self, wanted: CompileSpec) -> bool:
        """Whether a compile of this spec answers ``wanted``: the same inputs, and a cooldown
        cutoff no later than ``wanted``'s and at most :data:`_TOLERANCE` older."""
        if self.uploaded_before is None or wanted.uploaded_before is None:
            return self == wanted
        if not 0.0 <= wanted.uploaded_before - self.uploaded_before <= _TOLERANCE:
            return False
        return replace(self, uploaded_before=wanted.uploaded_before) == wanted


def cooldown_options(uploaded_before: float | None, exempt: frozenset[str]) -> list[str]:
    """``--exclude-newer`` with the absolute cutoff; exempt names get one years ahead (uv
    rejects dates near the end of its calendar)."""
    if uploaded_before is None:
        return []
    from pytest_kisys.vet.release_age import iso

    options = ["--exclude-newer", iso(uploaded_before)]
    unlimited = iso(uploaded_before + 10 * 365 * 86400)
    for name in sorted(exempt):
        options += ["--exclude-newer-package", f"{name}={unlimited}"]
    return options


def commands(spec: CompileSpec, root: Path) -> tuple[list[str], list[str]]:
    """The lock command (``pylock.toml`` into ``root``) and the ``# via`` listing command of
    ``spec``; writes the files they read into ``root``."""
    (root / "requested.in").write_text("\n".join(spec.requirements) + "\n", encoding="utf-8")
    common = [
        spec.uv,
        "pip",
        "compile",
        "--python",
        spec.python,
        "--no-build",
        "--quiet",
        "--no-header",
        *spec.index_options,
        *(["--offline"] if spec.offline else []),
        *cooldown_options(spec.uploaded_before, spec.exempt),
    ]
    if spec.constraints is not None:
        (root / "installed.txt").write_text("\n".join(spec.constraints) + "\n", encoding="utf-8")
        common += ["--constraints", str(root / "installed.txt")]
    if spec.pins:
        # index_for: versions other indexes offer for a pinned name are never picked.
        (root / "index-pins.txt").write_text(spec.pins, encoding="utf-8")
        common += ["--constraints", str(root / "index-pins.txt")]
    requested = str(root / "requested.in")
    lock = [*common, "--format", "pylock.toml", "--output-file", str(root / "pylock.toml"), requested]
    return lock, [*common, "--annotation-style", "line", requested]


def child_env(spec: CompileSpec) -> dict[str, str]:
    """The environment uv runs with."""
    from pytest_kisys.install import pipcmd

    env = pipcmd.child_env()
    env["NO_COLOR"] = "1"
    if spec.cert:
        env["SSL_CERT_FILE"] = spec.cert
    return env


@dataclass
class Started:
    """A lock compile started ahead of time: its spec, process, directory and start time."""

    spec: CompileSpec
    proc: subprocess.Popen[str]
    command: list[str]
    tmp: tempfile.TemporaryDirectory[str]
    started: float

    @property
    def root(self) -> Path:
        """The directory holding its input files and, once it has ended, ``pylock.toml``."""
        return Path(self.tmp.name)

    def stop(self) -> None:
        """Kill it (when still running), reap it (unless collected), remove its files."""
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.communicate()
        self.tmp.cleanup()


_lock = threading.Lock()
_started: list[Started] = []


def launch(spec: CompileSpec) -> Started:
    """Start the lock compile of ``spec`` (guarded, as every installer process)."""
    from pytest_kisys.install import pipcmd

    tmp = tempfile.TemporaryDirectory(prefix="kisys-uv-resolve-")
    try:
        command, _ = commands(spec, Path(tmp.name))
        started = time.monotonic()
        proc = pipcmd.launch(command, env=child_env(spec))
    except BaseException:
        tmp.cleanup()
        raise
    return Started(spec, proc, command, tmp, started)


def adopt(spec: CompileSpec) -> Started | None:
    """The compile started ahead of time for ``spec``, once; any other one is stopped."""
    with _lock:
        left = list(_started)
        _started.clear()
    found = None
    for early in left:
        if found is None and early.spec.adoptable_for(spec):
            found = early
        else:
            early.stop()
    return found


def discard() -> None:
    """Stop the compiles nobody adopted."""
    with _lock:
        left = list(_started)
        _started.clear()
    for early in left:
        early.stop()


def _no_vetter() -> Vetter:
    raise LookupError("the early compile asks no index data")


def start(settings: Settings, python: str, requirements: Sequence[str]) -> Started | None:
    """Start the batch's lock compile for ``python`` now, as the installer would run it, and
    return it (None when it cannot be predicted: extras, markers, ``index_for`` pins, another
    backend, everything installed already, or any error, which the installer reports)."""
    if settings.backend not in {"uv", "auto"} or settings.index_for:
        return None
    from pytest_kisys.errors import KisysError
    from pytest_kisys.install import gate_options
    from pytest_kisys.install.backends import make_backend
    from pytest_kisys.install.environment import describe_environment
    from pytest_kisys.install.uv_resolver import UvResolver
    from pytest_kisys.vet.requirements import parse_requirement

    try:
        parsed = [parse_requirement(text) for text in requirements]
        if any(p.extras or p.marker for p in parsed):
            return None
        # Kept for the installer, which describes the environment next (checked for changes
        # under the environment lock, as always).
        env = describe_environment(python, keep=True)
        backend = make_backend(settings, env)
        if backend.name != "uv":
            return None
        options = gate_options.resolver_options(settings, _no_vetter)
        names: dict[str, str] = {}
        for item in parsed:
            names.setdefault(item.name, item.without_marker())
        wanted = [text for text in names.values() if not env.satisfies(text)]
        if not wanted:
            return None
        resolver = backend.resolver(env, options)
        if not isinstance(resolver, UvResolver):
            return None
        early = launch(resolver.spec(wanted, constrained=True))
    except (KisysError, OSError, LookupError):
        return None
    with _lock:
        _started.append(early)
    return early

"""The target environment as the installer sees it: paths, installed distributions, PEP 668.

The description comes from :mod:`pytest_kisys.install.envprobe`, run in-process when the
target is the running interpreter and as a script in the target interpreter otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import importlib
import json
import os
from pathlib import Path
import subprocess
import sys
from typing import Any
from typing import TYPE_CHECKING

from pytest_kisys.errors import InstallError
from pytest_kisys.install import earlyprobe
from pytest_kisys.install import envprobe
from pytest_kisys.pep503 import canonicalize_name
from pytest_kisys.pep503 import is_valid_name


if TYPE_CHECKING:
    from packaging.markers import Marker
    from packaging.requirements import Requirement


@dataclass(frozen=True)
class InstalledDist:
    """One distribution visible to the target interpreter.

    ``known_requires`` is given when already known; otherwise :attr:`requires` reads the
    distribution's metadata on first use (rarely needed: only for requirements with extras).
    """

    name: str
    version: str
    path: str | None
    known_requires: tuple[str, ...] | None = None

    @property
    def requires(self) -> tuple[str, ...]:
        """The ``Requires-Dist`` entries of this distribution."""
        if self.known_requires is not None:
            return self.known_requires
        return envprobe.requires_of(self.path)


@dataclass(frozen=True)
class TargetEnv:
    """A snapshot of facts about the environment of one interpreter."""

    python: str
    prefix: str
    purelib: Path
    platlib: Path
    externally_managed: str | None
    has_pip: bool
    python_version: str
    installed: Mapping[str, InstalledDist]
    stamp: str = ""
    """Digest of the installed ``*.dist-info`` names, taken before the distributions were read."""
    markers: Mapping[str, str] | None = None
    """The interpreter's PEP 508 marker values (None when the probe did not report them)."""

    def changed_since_described(self) -> bool:
        """Whether anything was installed or removed here since this description was made."""
        return envprobe.site_stamp([str(d) for d in self.site_dirs]) != self.stamp

    @property
    def site_dirs(self) -> tuple[Path, ...]:
        """The environment's own site-packages directories (purelib first, no duplicates)."""
        if self.platlib == self.purelib:
            return (self.purelib,)
        return (self.purelib, self.platlib)

    def version_of(self, name: str) -> str | None:
        """Installed version of distribution ``name`` (any spelling), or None."""
        dist = self.installed.get(canonicalize_name(name))
        return dist.version if dist is not None else None

    def satisfies(self, requirement: str) -> bool:
        """Whether ``requirement`` (name, extras, specifier) is already met here."""
        return self._satisfies(requirement, depth=0)

    def _satisfies(self, requirement: str, depth: int) -> bool:
        if is_valid_name(requirement):
            # No extras, no specifier: met by any installed version (the parser's answer too).
            return canonicalize_name(requirement) in self.installed
        from packaging.requirements import InvalidRequirement
        from packaging.requirements import Requirement

        try:
            req = Requirement(requirement)
        except InvalidRequirement:
            return False
        dist = self.installed.get(canonicalize_name(req.name))
        if dist is None or not req.specifier.contains(dist.version, prereleases=True):
            return False
        if not req.extras or depth > 3:
            return True
        for extra in req.extras:
            for dependency in dist.requires:
                dep = Requirement(dependency)
                if dep.marker is None or not _marker_wants_extra(dep.marker, extra):
                    continue
                if not self._satisfies(_without_marker(dep), depth + 1):
                    return False
        return True

    def constraints(self) -> list[str]:
        """``name==version`` for everything installed: makes resolving additive-only."""
        return [f"{dist.name}=={dist.version}" for dist in self.installed.values()]


def _marker_wants_extra(marker: Marker, extra: str) -> bool:
    return marker.evaluate({"extra": extra}) and not marker.evaluate({"extra": ""})


def _without_marker(req: Requirement) -> str:
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}{req.specifier}"


def is_running_interpreter(python: str) -> bool:
    """Whether ``python`` is the interpreter of this process (symlinks are *not* resolved:
    every virtualenv's python is a symlink to the same base interpreter)."""
    return os.path.abspath(python) == os.path.abspath(sys.executable)


_kept: dict[str, TargetEnv] = {}


def describe_environment(python: str, *, keep: bool = False) -> TargetEnv:
    """Probe the environment of ``python``; raises :class:`InstallError` when it cannot run.

    ``keep``: the next call for ``python`` returns the same description instead of probing
    again (the verb describes the target once to start its resolver early; the installer
    checks for changes under the environment lock, as with any description).
    """
    kept = _kept.pop(os.path.abspath(python), None)
    if kept is not None:
        return kept
    env = _describe(python)
    if keep:
        _kept[os.path.abspath(python)] = env
    return env


def _describe(python: str) -> TargetEnv:
    if is_running_interpreter(python):
        importlib.invalidate_caches()
        raw = envprobe.probe()
    else:
        raw = _probe_subprocess(python)
    installed: dict[str, InstalledDist] = {}
    for item in raw["distributions"]:
        key = canonicalize_name(item["name"])
        installed.setdefault(
            key,
            InstalledDist(
                name=item["name"],
                version=item["version"],
                path=item["path"],
            ),
        )
    return TargetEnv(
        python=python,
        prefix=raw["prefix"],
        purelib=Path(raw["purelib"]),
        platlib=Path(raw["platlib"]),
        externally_managed=raw["externally_managed"],
        has_pip=bool(raw["has_pip"]),
        python_version=raw["python_version"],
        installed=installed,
        stamp=str(raw.get("stamp", "")),
        markers=raw.get("markers"),
    )


def _probe_subprocess(python: str) -> dict[str, Any]:
    started = earlyprobe.take(python)
    try:
        if started is not None:
            # Started while the command imported (earlyprobe.start): the same script, the same answer.
            stdout, stderr = _finish(started, timeout=120)
            returncode = started.returncode
        else:
            proc = subprocess.run(
                earlyprobe.command(python), capture_output=True, text=True, timeout=120, check=False
            )
            stdout, stderr, returncode = proc.stdout, proc.stderr, proc.returncode
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"cannot run the target interpreter {python!r}: {exc}") from exc
    if returncode != 0:
        raise InstallError(f"cannot inspect the target interpreter {python!r}: {stderr.strip()[-500:]}")
    try:
        data: dict[str, Any] = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise InstallError(f"the target interpreter {python!r} gave no description") from exc
    return data


def _finish(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """``proc``'s output, as ``subprocess.run`` would collect it (killed on timeout)."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise

"""Resolve a batch with uv (``backend = "uv"``): the same contract as the pip resolver, ~10x faster.

``uv pip compile --no-build`` never builds an sdist; ``--format pylock.toml`` (PEP 751) gives
the URL and sha256 of every wheel, and a second compile in requirements format (run at the
same time) gives the ``# via`` annotations the dependency graph is built from. Constraints pin
everything installed, so the plan is additive; what cannot be resolved is narrowed down to
the request responsible by resolving the requests one by one, in parallel.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import re
import tempfile
import tomllib
from typing import Any

from packaging.utils import canonicalize_name

from pytest_kisys.errors import InstallError
from pytest_kisys.install import pipcmd
from pytest_kisys.install.environment import TargetEnv
from pytest_kisys.install.interface import BackendOutcome
from pytest_kisys.install.interface import change_of
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.install.interface import Resolution
from pytest_kisys.install.interface import ResolverOptions
from pytest_kisys.vet.pipconfig import PipIndexConfig
from pytest_kisys.vet.release_age import iso


_PIN_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s*(?:#\s*via\s+(.*))?$")


class UvResolver:
    """Runs uv's resolver for a target environment and turns its lock into a plan."""

    def __init__(self, env: TargetEnv, options: ResolverOptions, uv: str, index: PipIndexConfig) -> None:
        self.env = env
        self.options = options
        self.uv = uv
        self.index = index

    def resolve(self, requirements: Sequence[str]) -> Resolution:
        """Resolve ``requirements`` additively; drops (and explains) the ones uv cannot resolve."""
        first = self._compile(requirements, constrained=True)
        if first.ok:
            return self._resolution(first, {}, None)
        failing = list(requirements)
        if len(requirements) > 1:
            alone = self._each(requirements, constrained=True)
            failing = [req for req in requirements if not alone[req].ok]
            if not failing:
                raise InstallError(
                    "the requirements conflict with each other: " + _tail(first.outcome.stderr)
                )
        fine = [req for req in requirements if req not in failing]
        unavailable: dict[str, str] = {}
        changes: list[str] = []
        for req, free in self._each(failing, constrained=False).items():
            if free.ok:
                changes.append(req)
            else:
                unavailable[req] = (
                    f"no installable wheel for {req}: {_tail(free.outcome.stderr, 2)}; kisys "
                    "installs wheels only, because building an sdist runs its setup code"
                )
        if changes:
            final = self._compile([*fine, *changes], constrained=False)
            if not final.ok:
                raise InstallError("resolving failed: " + _tail(final.outcome.stderr))
            return self._resolution(final, unavailable, _tail(first.outcome.stderr))
        if fine:
            final = self._compile(fine, constrained=True)
            if not final.ok:
                raise InstallError("resolving failed: " + _tail(final.outcome.stderr))
            return self._resolution(final, unavailable, None)
        return Resolution((), unavailable)

    # -- one compile

    def _each(self, requirements: Sequence[str], *, constrained: bool) -> dict[str, _Compiled]:
        with ThreadPoolExecutor(max_workers=min(4, max(1, len(requirements)))) as pool:
            futures = {
                req: pool.submit(self._compile, [req], constrained=constrained) for req in requirements
            }
            return {req: future.result() for req, future in futures.items()}

    def _compile(self, requirements: Sequence[str], *, constrained: bool) -> _Compiled:
        with tempfile.TemporaryDirectory(prefix="kisys-uv-resolve-") as tmp:
            root = Path(tmp)
            (root / "requested.in").write_text("\n".join(requirements) + "\n", encoding="utf-8")
            common = [
                self.uv,
                "pip",
                "compile",
                "--python",
                self.env.python,
                "--no-build",
                "--quiet",
                "--no-header",
                *self.index.uv_options(),
                *(["--offline"] if self.options.offline else []),
                *self._cooldown_options(),
            ]
            if constrained:
                (root / "installed.txt").write_text(
                    "\n".join(self.env.constraints()) + "\n", encoding="utf-8"
                )
                common += ["--constraints", str(root / "installed.txt")]
            pins = self.options.exclusion_constraints()
            if pins:
                # index_for: versions other indexes offer for a pinned name are never picked.
                (root / "index-pins.txt").write_text(pins, encoding="utf-8")
                common += ["--constraints", str(root / "index-pins.txt")]
            env = pipcmd.child_env()
            env["NO_COLOR"] = "1"
            if self.index.cert:
                env["SSL_CERT_FILE"] = self.index.cert
            lock_cmd = [
                *common,
                "--format",
                "pylock.toml",
                "--output-file",
                str(root / "pylock.toml"),
                str(root / "requested.in"),
            ]
            via_cmd = [*common, "--annotation-style", "line", str(root / "requested.in")]

            def run(command: list[str]) -> BackendOutcome:
                return pipcmd.with_retries(
                    lambda: pipcmd.run(command, env=env, timeout=self.options.timeout),
                    self.options.retries,
                )

            with ThreadPoolExecutor(max_workers=2) as pool:
                lock_future = pool.submit(run, lock_cmd)
                via = run(via_cmd)
                lock = lock_future.result()
            if not lock.ok:
                return _Compiled(lock, None, via.stdout)
            if not via.ok:
                return _Compiled(via, None, "")
            try:
                data = tomllib.loads((root / "pylock.toml").read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise InstallError(f"uv wrote no readable pylock.toml: {exc}") from exc
            return _Compiled(lock, data, via.stdout)

    def _cooldown_options(self) -> list[str]:
        """``--exclude-newer`` with the absolute cutoff; exempt names get one years ahead (uv
        rejects dates near the end of its calendar)."""
        if self.options.uploaded_before is None:
            return []
        options = ["--exclude-newer", iso(self.options.uploaded_before)]
        unlimited = iso(self.options.uploaded_before + 10 * 365 * 86400)
        for name in sorted(self.options.exempt):
            options += ["--exclude-newer-package", f"{name}={unlimited}"]
        return options

    # -- plan

    def _resolution(
        self, compiled: _Compiled, unavailable: Mapping[str, str], conflict: str | None
    ) -> Resolution:
        data = compiled.lock or {}
        requested: set[str] = set()
        parents: dict[str, set[str]] = {}
        for line in compiled.via.splitlines():
            match = _PIN_LINE.match(line.strip())
            if match is None:
                continue
            name = canonicalize_name(match.group(1))
            sources = [s.strip() for s in (match.group(3) or "").split(",") if s.strip()]
            if any(s.startswith("-r") for s in sources):
                requested.add(name)
            parents[name] = {canonicalize_name(s) for s in sources if not s.startswith("-")}
        items: list[PlannedItem] = []
        for package in data.get("packages", []):
            item = self._item(package, requested)
            if item is not None:
                items.append(item)
        planned = {item.name for item in items}
        graph: dict[str, set[str]] = {name: set() for name in planned}
        for child, owners in parents.items():
            for parent in owners & planned:
                if child in planned:
                    graph[parent].add(child)
        return Resolution(tuple(items), unavailable, conflict, None, graph)

    def _item(self, package: Mapping[str, Any], requested: set[str]) -> PlannedItem | None:
        name = canonicalize_name(str(package.get("name", "")))
        version = str(package.get("version", ""))
        installed = self.env.version_of(name)
        if installed == version:
            return None  # already there (the constraints pinned it)
        wheels = package.get("wheels") or []
        if not wheels:
            raise InstallError(f"uv resolved {name} {version} without a wheel; refusing to build it")
        wheel = wheels[0]
        url = str(wheel.get("url", ""))
        sha256 = str((wheel.get("hashes") or {}).get("sha256", ""))
        if not url or not sha256:
            raise InstallError(f"uv gave no URL or sha256 for {name} {version}")
        return PlannedItem(
            name=name,
            version=version,
            change=change_of(version, installed),
            url=url,
            sha256=sha256,
            requested=name in requested,
            installed_version=installed,
        )


class _Compiled:
    """One compile: the lock's outcome, the parsed lock (None on failure), the via listing."""

    def __init__(self, outcome: BackendOutcome, lock: dict[str, Any] | None, via: str) -> None:
        self.outcome = outcome
        self.lock = lock
        self.via = via

    @property
    def ok(self) -> bool:
        return self.lock is not None


def _tail(stderr: str, lines: int = 6) -> str:
    kept = [line.strip(" ╰─▶×│") for line in stderr.splitlines() if line.strip(" ╰─▶×│")]
    return " ".join(kept[-lines:])

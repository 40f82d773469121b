"""Resolve a batch with uv (``backend = "uv"``): the same contract as the pip resolver, ~10x faster.

``uv pip compile --no-build`` never builds an sdist; ``--format pylock.toml`` (PEP 751) gives
the URL and sha256 of every wheel. The lock has no dependencies: the installer reads the graph
from the inspected wheels' metadata (:mod:`.wheelgraph`), and only when extras make that
uncertain asks for a second compile in requirements format, whose ``# via`` annotations give
it (:attr:`Resolution.graph_fallback`). Constraints pin everything installed, so the plan is
additive; what cannot be resolved is narrowed down to the request responsible by resolving
the requests one by one, in parallel.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
import re
import subprocess
import tempfile
from typing import Any

from pytest_kisys.errors import InstallError
from pytest_kisys.install import pipcmd
from pytest_kisys.install import uvcompile
from pytest_kisys.install.environment import TargetEnv
from pytest_kisys.install.interface import BackendOutcome
from pytest_kisys.install.interface import change_of
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.install.interface import Resolution
from pytest_kisys.install.interface import ResolverOptions
from pytest_kisys.pep503 import canonicalize_name
from pytest_kisys.pep503 import is_valid_name
from pytest_kisys.vet.pipconfig import PipIndexConfig


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
        # Extras asked for make the wheels' metadata uncertain (wheelgraph): the graph then
        # comes from the resolver, in a second compile at the same time.
        extras = any(_has_extras(req) for req in requirements)
        first = self._compile(requirements, constrained=True, via=extras)
        if first.ok:
            return self._resolution(first, requirements, True, {}, None)
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
            final = self._compile([*fine, *changes], constrained=False, via=extras)
            if not final.ok:
                raise InstallError("resolving failed: " + _tail(final.outcome.stderr))
            return self._resolution(final, [*fine, *changes], False, unavailable, _tail(first.outcome.stderr))
        if fine:
            final = self._compile(fine, constrained=True, via=extras)
            if not final.ok:
                raise InstallError("resolving failed: " + _tail(final.outcome.stderr))
            return self._resolution(final, fine, True, unavailable, None)
        return Resolution((), unavailable)

    # -- one compile

    def _each(self, requirements: Sequence[str], *, constrained: bool) -> dict[str, _Compiled]:
        from concurrent.futures import ThreadPoolExecutor  # only when resolving failed

        with ThreadPoolExecutor(max_workers=min(4, max(1, len(requirements)))) as pool:
            futures = {
                req: pool.submit(self._compile, [req], constrained=constrained) for req in requirements
            }
            return {req: future.result() for req, future in futures.items()}

    def spec(self, requirements: Sequence[str], *, constrained: bool) -> uvcompile.CompileSpec:
        """What one compile of ``requirements`` depends on (:mod:`.uvcompile` runs it)."""
        return uvcompile.CompileSpec(
            uv=self.uv,
            python=self.env.python,
            requirements=tuple(requirements),
            constraints=tuple(self.env.constraints()) if constrained else None,
            pins=self.options.exclusion_constraints(),
            index_options=tuple(self.index.uv_options()),
            offline=self.options.offline,
            uploaded_before=self.options.uploaded_before,
            exempt=self.options.exempt,
            cert=self.index.cert,
        )

    def _compile(
        self, requirements: Sequence[str], *, constrained: bool, lock: bool = True, via: bool = False
    ) -> _Compiled:
        """One resolver run for the lock, the ``# via`` listing, or both at the same time."""
        spec = self.spec(requirements, constrained=constrained)
        early = uvcompile.adopt(spec) if lock and not via else None
        if early is not None:
            # Started by the verb before the installer was imported: the same command, whose
            # first run is the one already going (retried like any other on a network error).
            pending: list[subprocess.Popen[str]] = [early.proc]

            def attempt() -> BackendOutcome:
                if pending:
                    return pipcmd.collect(
                        pending.pop(), early.command, early.started, timeout=self.options.timeout
                    )
                return pipcmd.run(early.command, env=uvcompile.child_env(spec), timeout=self.options.timeout)

            try:
                pipcmd.announce_launch()
                return self._read(pipcmd.with_retries(attempt, self.options.retries), early.root, None)
            finally:
                early.stop()
        with tempfile.TemporaryDirectory(prefix="kisys-uv-resolve-") as tmp:
            root = Path(tmp)
            lock_cmd, via_cmd = uvcompile.commands(spec, root)
            env = uvcompile.child_env(spec)

            def run(command: list[str]) -> BackendOutcome:
                return pipcmd.with_retries(
                    lambda: pipcmd.run(command, env=env, timeout=self.options.timeout),
                    self.options.retries,
                )

            if not lock:
                listing = run(via_cmd)
                return _Compiled(listing, {} if listing.ok else None, listing.stdout)
            if not via:
                return self._read(run(lock_cmd), root, None)
            from concurrent.futures import ThreadPoolExecutor  # extras: the listing alongside

            with ThreadPoolExecutor(max_workers=1) as pool:
                listed = pool.submit(run, via_cmd)
                locked = run(lock_cmd)
                annotations = listed.result()
            return self._read(locked, root, annotations)

    @staticmethod
    def _read(locked: BackendOutcome, root: Path, annotations: BackendOutcome | None) -> _Compiled:
        """The compile's result from its outcomes and the ``pylock.toml`` it wrote in ``root``."""
        if not locked.ok:
            return _Compiled(locked, None, "")
        if annotations is not None and not annotations.ok:
            return _Compiled(annotations, None, "")
        import tomllib

        try:
            data = tomllib.loads((root / "pylock.toml").read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InstallError(f"uv wrote no readable pylock.toml: {exc}") from exc
        return _Compiled(locked, data, annotations.stdout if annotations is not None else None)

    # -- plan

    def _resolution(
        self,
        compiled: _Compiled,
        requirements: Sequence[str],
        constrained: bool,
        unavailable: Mapping[str, str],
        conflict: str | None,
    ) -> Resolution:
        data = compiled.lock or {}
        requested = {_requirement_name(req) for req in requirements}
        items: list[PlannedItem] = []
        for package in data.get("packages", []):
            item = self._item(package, requested)
            if item is not None:
                items.append(item)
        planned = {item.name for item in items}
        if compiled.via is not None:
            graph = _graph_from_via(compiled.via, planned)
            return Resolution(tuple(items), unavailable, conflict, None, graph)

        def via_graph() -> dict[str, set[str]]:
            listing = self._compile(requirements, constrained=constrained, lock=False, via=True)
            if not listing.ok or listing.via is None:
                raise InstallError("resolving the dependency graph failed: " + _tail(listing.outcome.stderr))
            return _graph_from_via(listing.via, planned)

        return Resolution(tuple(items), unavailable, conflict, None, None, via_graph)

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


def _has_extras(requirement: str) -> bool:
    if is_valid_name(requirement):
        return False
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement

    try:
        return bool(Requirement(requirement).extras)
    except InvalidRequirement:
        return "[" in requirement


def _requirement_name(requirement: str) -> str:
    """The canonical project name a requirement line names."""
    if is_valid_name(requirement):
        return canonicalize_name(requirement)
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement

    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return canonicalize_name(re.split(r"[\[<>=!~;@\s(]", requirement.strip(), maxsplit=1)[0])


def _graph_from_via(via: str, planned: set[str]) -> dict[str, set[str]]:
    """Planned item -> the planned items it requires, from ``# via`` annotations."""
    parents: dict[str, set[str]] = {}
    for line in via.splitlines():
        match = _PIN_LINE.match(line.strip())
        if match is None:
            continue
        sources = [s.strip() for s in (match.group(3) or "").split(",") if s.strip()]
        parents[canonicalize_name(match.group(1))] = {
            canonicalize_name(s) for s in sources if not s.startswith("-")
        }
    graph: dict[str, set[str]] = {name: set() for name in planned}
    for child, owners in parents.items():
        for parent in owners & planned:
            if child in planned:
                graph[parent].add(child)
    return graph


class _Compiled:
    """One compile: the lock's outcome, the parsed lock (None on failure), the via listing."""

    def __init__(self, outcome: BackendOutcome, lock: dict[str, Any] | None, via: str | None) -> None:
        self.outcome = outcome
        self.lock = lock
        self.via = via

    @property
    def ok(self) -> bool:
        return self.lock is not None


def _tail(stderr: str, lines: int = 6) -> str:
    kept = [line.strip(" ╰─▶×│") for line in stderr.splitlines() if line.strip(" ╰─▶×│")]
    return " ".join(kept[-lines:])

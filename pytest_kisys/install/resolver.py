"""Resolve a batch without running any package code: pip's dry-run report, wheels only.

``pip install --dry-run --report - --only-binary :all:`` by name, with a constraints file
pinning everything already installed, so the result is additive. No sdist is ever built
(building runs ``setup.py``), and no path or URL requirement ever reaches pip.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
import json
from pathlib import Path
import re
import tempfile
from typing import Any
from typing import TYPE_CHECKING

from pytest_kisys.errors import InstallError
from pytest_kisys.install import pipcmd
from pytest_kisys.install.environment import TargetEnv
from pytest_kisys.install.interface import BackendOutcome
from pytest_kisys.install.interface import change_of
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.install.interface import Resolution
from pytest_kisys.install.interface import ResolverOptions
from pytest_kisys.pep503 import canonicalize_name
from pytest_kisys.vet.release_age import iso


if TYPE_CHECKING:
    from packaging.markers import Marker

_NO_MATCH = re.compile(r"No matching distribution found for ([A-Za-z0-9._\-\[\], ]+)")
_NO_VERSION = re.compile(r"Could not find a version that satisfies the requirement ([^\s(]+)")
_CONFLICT = re.compile(r"ResolutionImpossible|conflicting dependencies|Cannot install", re.I)


class PipResolver:
    """Runs pip's resolver for a target environment and turns its report into a plan."""

    def __init__(self, env: TargetEnv, options: ResolverOptions) -> None:
        self.env = env
        self.options = options
        self._excluded: dict[str, set[str]] = {}

    def resolve(self, requirements: Sequence[str]) -> Resolution:
        """Resolve ``requirements`` additively; drops (and explains) the ones pip cannot find.

        With a cooldown, pip's own ``--uploaded-prior-to`` is used when this pip has it and
        no exemption is configured; otherwise each round excludes (``name!=version``
        constraints) the too-fresh versions of what the previous round picked, until the
        plan holds only old-enough releases (transitive ones included).

        Raises :class:`InstallError` when pip fails for another reason (after retries for
        network failures).
        """
        fallback = self.options.uploaded_before is not None and not self._native_cooldown()
        pending = list(requirements)
        too_fresh: dict[str, str] = {}
        for _round in range(8):
            try:
                resolution = self._resolve(pending)
            except InstallError:
                if not self._excluded:
                    raise
                # pip calls an exclusion that leaves nothing a conflict: find who is left out.
                failing = [r for r in pending if not self._dry_run([r], constrained=True).ok]
                if not failing:
                    raise
                for requirement in failing:
                    too_fresh[requirement] = f"no release of {requirement} is old enough"
                pending = [r for r in pending if r not in failing]
                resolution = self._resolve(pending) if pending else Resolution((), {})
            if too_fresh:
                resolution = dataclasses.replace(
                    resolution, unavailable={**resolution.unavailable, **too_fresh}
                )
            if not fallback or self.options.fresh is None:
                return resolution
            names = [i.name for i in resolution.items if i.name not in self.options.exempt]
            fresh = self.options.fresh(names)
            grew = False
            for item in resolution.items:
                versions = set(fresh.get(item.name, ()))
                if item.version in versions and not versions <= self._excluded.get(item.name, set()):
                    self._excluded.setdefault(item.name, set()).update(versions)
                    grew = True
            if not grew:
                return resolution
        raise InstallError("the release-age cooldown did not settle after 8 resolver rounds")

    def _native_cooldown(self) -> bool:
        """Whether pip's ``--uploaded-prior-to`` can do the cooldown on its own."""
        return not self.options.exempt and pipcmd.supports_uploaded_prior_to(
            self.env.purelib, self.env.has_pip
        )

    def _resolve(self, requirements: Sequence[str]) -> Resolution:
        pending = list(requirements)
        unavailable: dict[str, str] = {}
        while pending:
            outcome = self._dry_run(pending, constrained=True)
            if outcome.ok:
                report = _parse_report(outcome.stdout)
                return Resolution(self._plan(report), unavailable, None, report.get("environment"))
            missing = _missing_requirement(outcome.stderr, pending)
            if missing is None and _NO_MATCH.search(outcome.stderr) and len(pending) > 1:
                missing = self._find_unresolvable(pending)
            if missing is not None:
                unavailable[missing] = _explain_missing(missing, outcome.stderr)
                pending.remove(missing)
                continue
            if _CONFLICT.search(outcome.stderr):
                return self._explain_conflict(pending, unavailable, outcome)
            raise InstallError(_pip_failure("resolving", outcome))
        return Resolution((), unavailable)

    def _find_unresolvable(self, pending: Sequence[str]) -> str | None:
        """The first request that cannot be resolved on its own (a dependency has no wheel)."""
        for requirement in pending:
            alone = self._dry_run([requirement], constrained=True)
            if not alone.ok and _NO_MATCH.search(alone.stderr):
                return requirement
        return None

    def _explain_conflict(
        self, pending: list[str], unavailable: dict[str, str], constrained: BackendOutcome
    ) -> Resolution:
        free = self._dry_run(pending, constrained=False)
        if not free.ok:
            # The requests conflict among themselves, not only with what is installed.
            raise InstallError(_pip_failure("resolving", constrained))
        report = _parse_report(free.stdout)
        summary = _last_error_lines(constrained.stderr)
        return Resolution(self._plan(report), unavailable, summary, report.get("environment"))

    def _dry_run(self, requirements: Sequence[str], *, constrained: bool) -> BackendOutcome:
        with tempfile.TemporaryDirectory(prefix="kisys-resolve-") as tmp:
            command = [
                *pipcmd.pip_command(self.env.python, self.env.has_pip),
                "install",
                "--dry-run",
                "--quiet",
                "--report",
                "-",
                "--only-binary",
                ":all:",
                "--no-input",
                "--disable-pip-version-check",
                *pipcmd.index_options(
                    self.options.index_url, self.options.cert, offline=self.options.offline
                ),
            ]
            if constrained:
                constraints = Path(tmp) / "installed-constraints.txt"
                constraints.write_text("\n".join(self.env.constraints()) + "\n", encoding="utf-8")
                command += ["--constraint", str(constraints)]
            pins = self.options.exclusion_constraints()
            if pins:
                # index_for: versions other indexes offer for a pinned name are never picked.
                (Path(tmp) / "index-pin-constraints.txt").write_text(pins, encoding="utf-8")
                command += ["--constraint", str(Path(tmp) / "index-pin-constraints.txt")]
            if self.options.uploaded_before is not None:
                if self._native_cooldown():
                    command += ["--uploaded-prior-to", iso(self.options.uploaded_before)]
                elif self._excluded:
                    fresh = Path(tmp) / "release-age-constraints.txt"
                    lines = [
                        f"{name}!={v}"
                        for name, versions in sorted(self._excluded.items())
                        for v in sorted(versions)
                    ]
                    fresh.write_text("\n".join(lines) + "\n", encoding="utf-8")
                    command += ["--constraint", str(fresh)]
            command += list(requirements)
            return pipcmd.with_retries(
                lambda: pipcmd.run(command, env=pipcmd.child_env(), timeout=self.options.timeout),
                self.options.retries,
            )

    def _plan(self, report: Mapping[str, Any]) -> tuple[PlannedItem, ...]:
        items: list[PlannedItem] = []
        for entry in report.get("install", []):
            items.append(self._item(entry))
        return tuple(items)

    def _item(self, entry: Mapping[str, Any]) -> PlannedItem:
        metadata = entry.get("metadata", {})
        name = canonicalize_name(str(metadata.get("name", "")))
        version = str(metadata.get("version", ""))
        info = entry.get("download_info", {})
        url = str(info.get("url", ""))
        if entry.get("is_direct") or not url:
            raise InstallError(f"the resolver picked a direct reference for {name}: {url!r}")
        if not url.split("#", 1)[0].endswith(".whl"):
            raise InstallError(f"the resolver picked a non-wheel artifact for {name}: {url}")
        sha256 = _sha256_of(info, url)
        installed = self.env.version_of(name)
        change = change_of(version, installed)
        return PlannedItem(
            name=name,
            version=version,
            url=url,
            sha256=sha256,
            requested=bool(entry.get("requested")),
            change=change,
            installed_version=installed,
            yanked=bool(entry.get("is_yanked")),
            requires=tuple(str(r) for r in metadata.get("requires_dist", []) or []),
        )


def _sha256_of(info: Mapping[str, Any], url: str) -> str:
    archive = info.get("archive_info", {}) or {}
    hashes = archive.get("hashes", {}) or {}
    value = hashes.get("sha256")
    if not value:
        legacy = str(archive.get("hash", ""))
        if legacy.startswith("sha256="):
            value = legacy.split("=", 1)[1]
    if not value and url.startswith("file://"):
        import hashlib
        from urllib.parse import unquote
        from urllib.parse import urlparse

        value = hashlib.sha256(Path(unquote(urlparse(url).path)).read_bytes()).hexdigest()
    if not value:
        raise InstallError(f"the resolver reported no sha256 for {url}; cannot pin it")
    return str(value)


def _parse_report(stdout: str) -> dict[str, Any]:
    try:
        report: dict[str, Any] = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise InstallError("pip printed no installation report (pip >= 23.0 is needed)") from exc
    if str(report.get("version")) != "1":
        raise InstallError(f"unknown pip report version {report.get('version')!r}; expected 1")
    return report


def _missing_requirement(stderr: str, pending: Sequence[str]) -> str | None:
    """Which of ``pending`` pip could not find (a transitive one counts for its request)."""
    match = _NO_MATCH.search(stderr) or _NO_VERSION.search(stderr)
    if match is None:
        return None
    missing = match.group(1).strip()
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement

    try:
        missing_name = canonicalize_name(Requirement(missing).name)
    except InvalidRequirement:
        missing_name = canonicalize_name(re.split(r"[\[<>=!~;\s]", missing, maxsplit=1)[0])
    for requirement in pending:
        if canonicalize_name(Requirement(requirement).name) == missing_name:
            return requirement
    # A dependency is missing: blame the first request (pip stops at the first failure);
    # with one request left this is exact, otherwise the loop narrows it down.
    return pending[0] if len(pending) == 1 else None


def _explain_missing(requirement: str, stderr: str) -> str:
    versions = re.search(r"\(from versions: ([^)]*)\)", stderr)
    seen = versions.group(1).strip() if versions else "none"
    return (
        f"no wheel of {requirement} on the index (versions with a wheel: {seen}); "
        "kisys installs wheels only, because building an sdist runs its setup code"
    )


def _last_error_lines(stderr: str, limit: int = 6) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return "\n".join(lines[-limit:])


def _pip_failure(what: str, outcome: BackendOutcome) -> str:
    return f"pip failed while {what} (exit {outcome.returncode}): {_last_error_lines(outcome.stderr)}"


def dependency_graph(
    items: Sequence[PlannedItem], environment: Mapping[str, str] | None
) -> dict[str, set[str]]:
    """For each planned item, the planned items it requires (markers evaluated, extras kept)."""
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement

    planned = {item.name for item in items}
    graph: dict[str, set[str]] = {item.name: set() for item in items}
    for item in items:
        for text in item.requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            name = canonicalize_name(req.name)
            if name not in planned:
                continue
            if req.marker is not None and not _marker_may_apply(req.marker, environment):
                continue
            graph[item.name].add(name)
    return graph


def _marker_may_apply(marker: Marker, environment: Mapping[str, str] | None) -> bool:
    """Evaluate ``marker``; an ``extra`` clause counts as possibly applying (over-approximate)."""
    from packaging.markers import InvalidMarker

    env = dict(environment or {})
    try:
        if marker.evaluate({**env, "extra": ""}):
            return True
        return "extra" in str(marker) and marker.evaluate({**env, "extra": _any_extra(marker)})
    except InvalidMarker:
        return True


def _any_extra(marker: Marker) -> str:
    found = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", str(marker))
    return found.group(1) if found else ""


def closure(graph: Mapping[str, set[str]], root: str) -> set[str]:
    """``root`` and everything it reaches in ``graph``."""
    seen = {root}
    stack = [root]
    while stack:
        for dep in graph.get(stack.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return seen

"""Second code scanner: semgrep OSS with the project's own rule files, never the registry.

Runs only when ``semgrep_rules`` names local rule files or directories (the registry needs the
network, and its maintained rules carry a restrictive license: kisys bundles none). semgrep is
a subprocess, started from the environment under test (``pytest-kisys[semgrep]``) when it
has semgrep, else from kisys's scanner tool environment when that holds it
(:func:`pytest_kisys.tools.locate`), with metrics, version checks and the app token off and
its settings and log files in a throwaway directory.

Which files: the ones semgrep itself picks under the rootdir (its default ignores,
``.semgrepignore``, ``.gitignore``), so findings are those of ``semgrep scan --json --config
<rules>`` run in the rootdir (a parity test compares). Results are cached per file by path,
content, rule files and semgrep version; the list of files semgrep picked is cached against
the project's file listing. A warm run with nothing changed starts no process; a run where
only some files changed scans just those (semgrep's rules are per file).

Rule errors, a crash, output that is not semgrep's JSON, a timeout, or a file semgrep could
not parse make the check inconclusive, never clean.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
import json
import os
from pathlib import Path
import re
import subprocess
import tempfile
from typing import Any

from pytest_kisys.errors import ScanError
from pytest_kisys.scan.cache import digest
from pytest_kisys.scan.cache import FileResultCache
from pytest_kisys.scan.files import own_outputs
from pytest_kisys.scan.files import project_files
from pytest_kisys.scan.files import unreadable_items
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.interface import fingerprint
from pytest_kisys.scan.interface import Inconclusive
from pytest_kisys.scan.interface import ScanOutput
from pytest_kisys.scan.parallel import pool_size
from pytest_kisys.secrets.redact import redact_shapes
from pytest_kisys.settings import Settings


TOOL = "semgrep"
INSTALL_HINT = (
    "install it with `pip install 'pytest-kisys[semgrep]'` in the environment under test, "
    "or into the scanner tool environment (`kisys tools`)"
)
# semgrep's own severities, old (ERROR/WARNING/INFO) and new (CRITICAL...LOW).
_SEVERITY = {
    "CRITICAL": "critical",
    "ERROR": "high",
    "HIGH": "high",
    "WARNING": "medium",
    "MEDIUM": "medium",
    "INFO": "low",
    "LOW": "low",
    "INVENTORY": "info",
    "EXPERIMENT": "info",
}
_CWE = re.compile(r"CWE-(\d+)", re.IGNORECASE)
_RULE_SUFFIXES = (".yml", ".yaml", ".json")
# Environment that could point semgrep at the registry or the app.
_DROPPED_ENV = ("SEMGREP_APP_TOKEN", "SEMGREP_RULES", "SEMGREP_REPO_URL", "SEMGREP_APP_URL")
_TARGETS_KEY = "\0targets"


def semgrep_executable(settings: Settings) -> tuple[Path, str, str] | None:
    """``(semgrep, version, where it runs from)``: the environment under test's, else the
    kisys tool environment's (never built for semgrep: the shipped lock does not hold it);
    None when neither has it."""
    from pytest_kisys.errors import ToolError
    from pytest_kisys.tools import locate

    try:
        tool = locate(TOOL, settings, create=False)
    except ToolError:
        return None
    executable = Path(tool.executable("semgrep"))
    if not (executable.is_file() and os.access(executable, os.X_OK)):
        return None
    return executable, tool.version, tool.source.value


def rule_files(root: Path, rules: Sequence[Path]) -> list[Path]:
    """Every rule file ``rules`` names (directories walked), sorted; ScanError for a missing one."""
    out: list[Path] = []
    for entry in rules:
        path = entry if entry.is_absolute() else root / entry
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in _RULE_SUFFIXES and p.is_file()))
        elif path.is_file():
            out.append(path)
        else:
            raise ScanError(f"semgrep_rules: {entry} does not exist (under {root})")
    if not out:
        raise ScanError("semgrep_rules names no rule file (.yml, .yaml or .json)")
    return out


def semgrep_env(home: Path) -> dict[str, str]:
    """The environment semgrep runs in: no metrics, no version check, no app token or registry
    rules, its settings and log inside ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update(
        SEMGREP_SEND_METRICS="off",
        SEMGREP_ENABLE_VERSION_CHECK="0",
        SEMGREP_SETTINGS_FILE=str(home / "settings.yml"),
        SEMGREP_LOG_FILE=str(home / "semgrep.log"),
        SEMGREP_VERSION_CACHE_PATH=str(home / "version"),
        PYTHONWARNINGS="ignore",
    )
    return env


def semgrep_command(
    executable: Path, configs: Sequence[str], targets: Sequence[str], jobs: int
) -> list[str]:
    """The ``semgrep scan`` command line kisys runs (also what the parity test compares with)."""
    # --experimental: semgrep's own OCaml command line (osemgrep, the same OSS engine) instead
    # of its Python one, whose start-up alone costs 6-8 s of CPU here. The parity tests compare
    # the findings with plain `semgrep scan`.
    command = [str(executable), "scan", "--experimental", "--json", "--metrics=off",
               "--disable-version-check", "--quiet", "--jobs", str(max(1, jobs))]
    for config in configs:
        command += ["--config", config]
    return [*command, "--", *targets]


def run_semgrep(
    command: Sequence[str], root: Path, env: Mapping[str, str], timeout: float
) -> dict[str, Any]:
    """Run semgrep in ``root`` and return its JSON; ScanError for anything but a finished scan."""
    try:
        proc = subprocess.run(
            list(command), cwd=root, env=dict(env), capture_output=True, text=True,
            timeout=timeout if timeout > 0 else None, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ScanError(f"semgrep did not finish within {timeout:g} s") from exc
    except OSError as exc:
        raise ScanError(f"cannot start semgrep: {exc}") from exc
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])[-400:]
        raise ScanError(f"semgrep exited {proc.returncode} without its JSON output: {tail}")
    fatal = [e for e in data.get("errors", ()) if _is_rule_error(e)]
    if fatal or proc.returncode not in (0, 1):
        messages = "; ".join(_error_text(e) for e in fatal) or f"exit status {proc.returncode}"
        raise ScanError(f"semgrep could not run the rules: {messages}")
    return data


def _is_rule_error(error: Mapping[str, Any]) -> bool:
    """Errors about the rules or the run itself (not about one target file)."""
    kind = str(error.get("type", ""))
    if isinstance(error.get("type"), list):
        kind = str(error["type"][0])
    return "rule" in kind.lower() or error.get("level") == "error" and not _error_path(error)


def _error_path(error: Mapping[str, Any]) -> str | None:
    path = error.get("path")
    if isinstance(path, str):
        return path
    for span in error.get("spans") or ():
        if isinstance(span, dict) and isinstance(span.get("file"), str):
            return str(span["file"])
    return None


def _error_text(error: Mapping[str, Any]) -> str:
    message = str(error.get("message") or error.get("type") or "error").strip()
    return " ".join(message.split())[:300]


def _cwe(metadata: Mapping[str, Any]) -> int | None:
    raw = metadata.get("cwe")
    items = raw if isinstance(raw, list) else [raw]
    for item in items:
        match = _CWE.search(str(item)) if item is not None else None
        if match:
            return int(match.group(1))
    return None


def _help_url(metadata: Mapping[str, Any]) -> str | None:
    for key in ("source", "shortlink", "references"):
        value = metadata.get(key)
        first = value[0] if isinstance(value, list) and value else value
        if isinstance(first, str) and first.startswith(("http://", "https://")):
            return first
    return None


def _compact(result: Mapping[str, Any]) -> dict[str, Any]:
    """What kisys keeps (and caches) of one semgrep result."""
    extra = result.get("extra") or {}
    metadata = extra.get("metadata") or {}
    confidence = str(metadata.get("confidence", "medium")).lower()
    return {
        "check_id": str(result["check_id"]),
        "line": int(result["start"]["line"]),
        "severity": str(extra.get("severity", "WARNING")).upper(),
        # Rule messages may interpolate the matched code ($PASSWORD): masked before caching.
        "message": redact_shapes(" ".join(str(extra.get("message", "")).split()))[:1000],
        "cwe": _cwe(metadata),
        "confidence": confidence if confidence in ("low", "medium", "high") else "medium",
        "help_url": _help_url(metadata),
    }


class SemgrepScanner:
    """Runs semgrep over the rootdir with ``settings.semgrep_rules`` (see the module docstring)."""

    kind = "code"
    tool = TOOL

    def __init__(self, *, use_git: bool = True) -> None:
        self.use_git = use_git

    def scan(self, settings: Settings) -> ScanOutput:
        """Scan the rootdir; ScanError when semgrep is missing, rules are bad, or it failed."""
        if not settings.semgrep_rules:
            raise ScanError("semgrep was selected but semgrep_rules names no rule file")
        root = settings.rootdir.resolve()
        rules = rule_files(root, settings.semgrep_rules)
        found = semgrep_executable(settings)
        if found is None:
            raise ScanError(f"semgrep is not installed; {INSTALL_HINT}")
        executable, version, source = found
        with tempfile.TemporaryDirectory(prefix="kisys-semgrep-") as home:
            env = semgrep_env(Path(home))
            output = self._scan(settings, root, rules, executable, env, version)
        return dataclasses.replace(output, tool_source=source)

    def _scan(
        self,
        settings: Settings,
        root: Path,
        rules: list[Path],
        executable: Path,
        env: Mapping[str, str],
        version: str,
    ) -> ScanOutput:
        configs = [_under(p, root) for p in settings.semgrep_rules]
        rules_key = [(_under(p, root), p.read_bytes().decode("utf-8", "replace")) for p in rules]
        cache = FileResultCache(settings.resolved_cache_dir(), TOOL, version, [configs, rules_key])
        unreadable: list[str] = []
        listing = project_files(
            root, use_git=self.use_git, exclude=own_outputs(settings), unreadable=unreadable
        )
        ignores = [(n, (root / n).read_bytes().hex()) for n in (".semgrepignore",) if (root / n).is_file()]
        targets_key = cache.key(_TARGETS_KEY, digest([listing, ignores]).encode())
        known = cache.get(targets_key)
        contents = {rel: (root / rel).read_bytes() for rel in listing}
        results: dict[str, list[dict[str, Any]]] = {}
        failed: dict[str, str] = {}
        if known is None:
            # semgrep picks the files: the whole tree, as the CLI would.
            data = self._run(executable, configs, ["."], env, root, settings, contents)
            scanned = sorted({_rel(p) for p in data.get("paths", {}).get("scanned", ())})
            for rel in scanned:
                if rel not in contents:  # semgrep took a file the project listing leaves out
                    contents[rel] = (root / rel).read_bytes()
            self._collect(data, scanned, results, failed)
            for rel in scanned:
                if rel in contents and rel not in failed:
                    cache.put(cache.key(rel, contents[rel]), results[rel])
            # Files semgrep could not scan get no entry of their own, so the next run rescans
            # just those (a per-rule timeout on a loaded machine must not cost a full rerun).
            cache.put(targets_key, [{"path": rel} for rel in scanned])
            hits = 0
        else:
            scanned = [str(entry["path"]) for entry in known]
            misses = []
            for rel in scanned:
                hit = cache.get(cache.key(rel, contents.get(rel, b"")))
                if hit is None:
                    misses.append(rel)
                else:
                    results[rel] = hit
            hits = len(scanned) - len(misses)
            if misses:
                data = self._run(executable, configs, misses, env, root, settings, contents)
                self._collect(data, misses, results, failed)
                for rel in misses:
                    if rel not in failed:
                        cache.put(cache.key(rel, contents[rel]), results[rel])
        findings = self._findings(results, contents)
        inconclusive = [Inconclusive(TOOL, rel, f"semgrep could not scan it: {why}")
                        for rel, why in sorted(failed.items())]
        inconclusive += unreadable_items(TOOL, unreadable)
        return ScanOutput(
            tool_version=version,
            findings=tuple(findings),
            inconclusive=tuple(inconclusive),
            items_checked=len(scanned),
            cache_hits=hits,
        )

    def _run(
        self,
        executable: Path,
        configs: list[str],
        targets: list[str],
        env: Mapping[str, str],
        root: Path,
        settings: Settings,
        contents: Mapping[str, bytes],
    ) -> dict[str, Any]:
        size = sum(len(contents.get(t, b"")) for t in targets) if targets != ["."] else sum(
            len(c) for c in contents.values()
        )
        jobs = pool_size(TOOL, size, settings.effective_workers())
        command = semgrep_command(executable, configs, targets, jobs)
        return run_semgrep(command, root, env, settings.scan_timeout)

    @staticmethod
    def _collect(
        data: Mapping[str, Any],
        scanned: Sequence[str],
        results: dict[str, list[dict[str, Any]]],
        failed: dict[str, str],
    ) -> None:
        for rel in scanned:
            results.setdefault(rel, [])
        for raw in data.get("results", ()):
            results.setdefault(_rel(str(raw["path"])), []).append(_compact(raw))
        for error in data.get("errors", ()):
            path = _error_path(error)
            if path is not None:
                failed.setdefault(_rel(path), _error_text(error))

    @staticmethod
    def _findings(
        per_file: Mapping[str, list[dict[str, Any]]], contents: Mapping[str, bytes]
    ) -> list[Finding]:
        out: list[Finding] = []
        for rel in sorted(per_file):
            lines = contents.get(rel, b"").decode("utf-8", "replace").splitlines()
            seen: dict[tuple[str, str], int] = {}
            for raw in sorted(per_file[rel], key=lambda r: (r["line"], r["check_id"])):
                line_no = int(raw["line"])
                anchor = lines[line_no - 1].strip() if 0 < line_no <= len(lines) else ""
                occurrence = seen.get((raw["check_id"], anchor), 0)
                seen[(raw["check_id"], anchor)] = occurrence + 1
                out.append(
                    Finding(
                        tool=TOOL,
                        rule_id=raw["check_id"],
                        rule_name=raw["check_id"].rsplit(".", 1)[-1],
                        severity=_SEVERITY.get(raw["severity"], "medium"),
                        confidence=raw["confidence"],
                        path=rel,
                        line=line_no,
                        message=raw["message"] or raw["check_id"],
                        fingerprint=fingerprint(TOOL, raw["check_id"], rel, anchor, str(occurrence)),
                        cwe=raw.get("cwe"),
                        help_url=raw.get("help_url"),
                    )
                )
        return out


def _under(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it (cache keys survive a moved checkout)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _rel(path: str) -> str:
    return path[2:] if path.startswith("./") else path

"""Secrets check: detect-secrets through its Python API over the project's files.

Same plugins and filters as ``detect-secrets scan --all-files -n`` (or, when
``.secrets.baseline`` or ``baseline.secrets`` exists, the plugins and filters recorded in that
baseline, as ``scan --baseline`` does), inline ``pragma: allowlist secret`` honoured, and only
secrets absent from the baseline (same file, hash and type) count. Nothing is verified over
the network: a candidate secret is never sent anywhere.

**Pre-filter.** detect-secrets spends most of its time dispatching every line to every plugin.
A line can only yield a secret if one plugin's own pattern matches it, so only the lines that
:mod:`pytest_kisys.scan.prefilter` admits go through detect-secrets' plugin and filter
pipeline, with the whole file as context. Findings are identical (a test compares against the
CLI); a plugin the pre-filter does not understand switches it off for the run.

Secret values are never stored: type, file, line and SHA-1 hash only.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
import io
import json
from pathlib import Path
from typing import Any
from typing import cast
from typing import TYPE_CHECKING

from pytest_kisys.errors import ScanError
from pytest_kisys.scan.cache import FileResultCache
from pytest_kisys.scan.files import own_outputs
from pytest_kisys.scan.files import project_files
from pytest_kisys.scan.files import read_capped
from pytest_kisys.scan.files import unreadable_items
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.interface import fingerprint
from pytest_kisys.scan.interface import Inconclusive
from pytest_kisys.scan.interface import ScanOutput
from pytest_kisys.scan.parallel import scan_files_cached
from pytest_kisys.scan.prefilter import build_filter
from pytest_kisys.scan.prefilter import CandidateFilter
from pytest_kisys.scan.severity import secret_severity
from pytest_kisys.scan.textdecode import decode_source
from pytest_kisys.scan.textdecode import Undecodable


if TYPE_CHECKING:
    # Type only: scan workers import this module in the tool environment, without pytest.
    from pytest_kisys.settings import Settings


TOOL = "detect-secrets"
DEFAULT_BASELINE = ".secrets.baseline"
_INVALID_FILE_FILTER = "detect_secrets.filters.common.is_invalid_file"
_CONFIDENCE = {
    "Base64HighEntropyString": "low",
    "HexHighEntropyString": "low",
    "KeywordDetector": "medium",
}


@dataclass(frozen=True)
class SecretsOptions:
    """What a worker needs to configure detect-secrets identically in every process."""

    root: str
    config: Mapping[str, Any] | None  # None: every plugin of the installed detect-secrets
    prefilter: bool = True




def _line_sets(rel: str, text: str) -> Iterator[list[str]]:
    """The line lists ``detect_secrets.core.scan.scan_file`` would scan, in its order."""
    from detect_secrets.transformers import get_transformed_file

    handle = io.StringIO(text)
    handle.name = rel
    lines = get_transformed_file(cast(Any, handle))
    yield lines if lines else io.StringIO(text).readlines()
    handle.seek(0)
    eager = get_transformed_file(cast(Any, handle), use_eager_transformers=True)
    if eager:
        yield eager


def _scan_one(rel: str, text: str, prefilter: CandidateFilter | None) -> list[dict[str, Any]]:
    """detect-secrets' ``scan_file`` for one file, skipping lines no plugin could match."""
    from detect_secrets.core.scan import _is_filtered_out
    from detect_secrets.core.scan import _scan_line
    from detect_secrets.settings import get_plugins
    from detect_secrets.util.code_snippet import get_code_snippet

    if _is_filtered_out(required_filter_parameters=["filename"], filename=rel):
        return []
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for lines in _line_sets(rel, text):
        stripped = [raw.rstrip() for raw in lines]
        wanted = prefilter.candidates(stripped) if prefilter is not None else None
        for number, line in enumerate(stripped, start=1):
            if wanted is not None and number - 1 not in wanted:
                continue
            snippet = get_code_snippet(lines=lines, line_number=number)
            if _is_filtered_out(
                required_filter_parameters=["line"], filename=rel, line=line, context=snippet
            ):
                continue
            for plugin in get_plugins():
                for secret in _scan_line(
                    plugin=plugin, filename=rel, line=line, line_number=number, context=snippet
                ):
                    if _is_filtered_out(
                        required_filter_parameters=["context"],
                        filename=secret.filename,
                        secret=secret.secret_value,
                        plugin=plugin,
                        line=line,
                        context=snippet,
                    ):
                        continue
                    # Same identity as PotentialSecret (file, hash, type): first line wins.
                    found.setdefault(
                        (secret.type, secret.secret_hash),
                        {
                            "type": secret.type,
                            "hashed_secret": secret.secret_hash,
                            "line": secret.line_number,
                            "plugin": type(plugin).__name__,
                        },
                    )
        if found:
            break
    return sorted(found.values(), key=lambda s: (s["line"], s["type"], s["hashed_secret"]))


def scan_files_for_secrets(task: tuple[SecretsOptions, list[str]]) -> list[tuple[str, Any, str]]:
    """Worker entry point: ``(rel_path, secrets or None, reason)`` for each file of the task."""
    from detect_secrets.settings import get_plugins
    from detect_secrets.settings import get_settings
    from detect_secrets.settings import transient_settings

    options, rel_paths = task
    root = Path(options.root)
    out: list[tuple[str, Any, str]] = []
    with transient_settings(dict(settings_config(None) if options.config is None else options.config)):
        # Files come from our own listing (regular files only); relative names keep the
        # filters' path rules (exclude-files regexes, lock files) as the CLI applies them.
        get_settings().disable_filters(_INVALID_FILE_FILTER)
        prefilter = build_filter(get_plugins()) if options.prefilter else None
        for rel in rel_paths:
            try:
                content = (root / rel).read_bytes()
            except OSError as exc:
                out.append((rel, None, f"cannot read: {exc.strerror}"))
                continue
            text = decode_source(content)
            if isinstance(text, Undecodable):
                out.append((rel, None, text.reason))
            else:
                out.append((rel, [] if text is None else _scan_one(rel, text, prefilter), ""))
    return out


def baseline_config(baseline: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The baseline's plugins and filters; None (every plugin) without a baseline that names them."""
    if baseline is not None and "plugins_used" in baseline:
        config: dict[str, Any] = {"plugins_used": baseline["plugins_used"]}
        if "filters_used" in baseline:
            config["filters_used"] = baseline["filters_used"]
        return config
    return None


def settings_config(baseline: Mapping[str, Any] | None) -> dict[str, Any]:
    """The detect-secrets settings: the baseline's plugins and filters, else every plugin.

    Imports detect-secrets: call it in a worker, never in the test process.
    """
    config = baseline_config(baseline)
    if config is not None:
        return config
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    mapping: Mapping[str, Any] = get_mapping_from_secret_type_to_class()
    names = sorted(cls.__name__ for cls in mapping.values())
    return {"plugins_used": [{"name": name} for name in names]}


class SecretsScanner:
    """The ``secrets`` check (see the module docstring)."""

    kind = "secrets"
    tool = TOOL

    def __init__(self, *, prefilter: bool = True, use_git: bool = True) -> None:
        self.prefilter = prefilter
        self.use_git = use_git

    def _baseline(self, settings: Settings, root: Path) -> tuple[Path | None, Any]:
        configured = settings.baseline.get("secrets")
        path = configured if configured is not None else Path(DEFAULT_BASELINE)
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            if configured is not None and path.exists():
                raise ScanError(f"secrets baseline {path} is not a regular file")
            if configured is not None:
                raise ScanError(f"secrets baseline {path} does not exist")
            return None, None
        try:
            data = json.loads(read_capped(path))
        except (ScanError, ValueError) as exc:
            raise ScanError(f"secrets baseline {path} could not be read: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("results", {}), dict):
            raise ScanError(f"secrets baseline {path} is not a detect-secrets baseline")
        return path, data

    def scan(self, settings: Settings) -> ScanOutput:
        """Scan the project's files under ``settings.rootdir``."""
        root = settings.rootdir.resolve()
        baseline_path, baseline = self._baseline(settings, root)
        from pytest_kisys.tools import locate

        tool = locate("detect-secrets", settings)
        config = baseline_config(baseline)
        options = SecretsOptions(root=str(root), config=config, prefilter=self.prefilter)
        version = tool.version
        # Results name their plugin ("rules": 2); entries from before that are not reused.
        key_config = {"plugins": config or "all", "rules": 2}
        cache = FileResultCache(
            settings.resolved_cache_dir(), TOOL, version, key_config,
            required=("type", "hashed_secret", "line"),
        )
        skip = baseline_path.relative_to(root).as_posix() if baseline_path else None
        unreadable: list[str] = []
        listed = project_files(
            root, use_git=self.use_git, exclude=own_outputs(settings), unreadable=unreadable
        )
        files = [p for p in listed if p != skip]
        # Always out of process: detect-secrets keeps global settings and plugin caches.
        payload = {"root": options.root, "config": config, "prefilter": options.prefilter}
        scanned = scan_files_cached(
            "secrets", payload, root, files, cache,
            workers=settings.effective_workers(), timeout=settings.scan_timeout,
            command=tool.worker(),
        )
        per_file = scanned.results
        inconclusive = [Inconclusive(TOOL, rel, reason) for rel, reason in scanned.failed]
        inconclusive += unreadable_items(TOOL, unreadable)
        known = self._known(baseline)
        findings: list[Finding] = []
        baselined: list[Finding] = []
        for rel in sorted(per_file):
            for item in per_file[rel]:
                finding = self._finding(rel, item, settings)
                if (rel, item["hashed_secret"], item["type"]) in known:
                    baselined.append(finding)
                else:
                    findings.append(finding)
        return scanned.output(version, findings, inconclusive, baselined, files, tool.source.value)

    @staticmethod
    def _known(baseline: Any) -> set[tuple[str, str, str]]:
        if baseline is None:
            return set()
        known: set[tuple[str, str, str]] = set()
        for filename, entries in baseline.get("results", {}).items():
            for entry in entries or ():
                known.add((str(filename), str(entry.get("hashed_secret")), str(entry.get("type"))))
        return known

    @staticmethod
    def _finding(rel: str, item: Mapping[str, Any], settings: Settings) -> Finding:
        rule = str(item.get("plugin") or item["type"].replace(" ", ""))
        severity = secret_severity(
            rule, rel, settings.secrets_severity, settings.secrets_test_paths
        )
        return Finding(
            tool=TOOL,
            rule_id=rule,
            rule_name=item["type"],
            severity=severity,
            confidence=_CONFIDENCE.get(rule, "high"),
            path=rel,
            line=int(item["line"]),
            message=f"{item['type']} (value not shown; sha1 {item['hashed_secret'][:12]}...)",
            fingerprint=fingerprint(TOOL, rule, rel, item["hashed_secret"]),
            cwe=798,
            help_url="https://github.com/Yelp/detect-secrets#viewing-results",
        )

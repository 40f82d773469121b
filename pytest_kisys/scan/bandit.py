"""Code check: bandit through its Python API over the project's own Python sources.

Honours ``# nosec`` (bandit does), ``[tool.bandit]`` in the rootdir's ``pyproject.toml``
(``tests``, ``skips``, ``exclude_dirs``; bandit itself only reads it when passed ``-c``), and a
bandit JSON baseline (``baseline.code``) with bandit's own matching rule: a finding is new when
no baseline issue has the same file, test, text, severity, confidence and CWE. B101
(``assert``) is not reported in test files unless asked for. Files are scanned in worker
processes, and each file's issues are cached by path and content.

bandit is imported only inside the functions that run it.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
import fnmatch
import json
from pathlib import Path
import tomllib
from typing import Any
from typing import TYPE_CHECKING

from pytest_kisys.errors import ScanError
from pytest_kisys.pyproject import read_pyproject_toml
from pytest_kisys.scan.bandit_worker import _text_hash
from pytest_kisys.scan.bandit_worker import BanditOptions
from pytest_kisys.scan.cache import FileResultCache
from pytest_kisys.scan.files import own_outputs
from pytest_kisys.scan.files import project_files
from pytest_kisys.scan.files import python_files
from pytest_kisys.scan.files import read_capped
from pytest_kisys.scan.files import unreadable_items
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.interface import fingerprint
from pytest_kisys.scan.interface import Inconclusive
from pytest_kisys.scan.interface import ScanOutput
from pytest_kisys.scan.parallel import CachedScan
from pytest_kisys.scan.parallel import scan_files_cached


if TYPE_CHECKING:
    # Type only: scan workers import this module in the tool environment, without pytest.
    from pytest_kisys.settings import Settings
    from pytest_kisys.tools import ToolCommand


TOOL = "bandit"
_SEVERITY = {"UNDEFINED": "info", "LOW": "low", "MEDIUM": "medium", "HIGH": "high"}
_TEST_DIR_NAMES = frozenset({"test", "tests", "testing"})
# Entries before format 2 held bandit's text in clear; a new format never reads them.
_ENTRY_FORMAT = "masked-text-2"
# What every per-file result holds (a cached entry without them is discarded and rescanned).
RESULT_FIELDS = frozenset({"test_id", "test_name", "severity", "confidence", "text", "line"})




def read_tool_bandit(root: Path) -> dict[str, Any]:
    """The ``[tool.bandit]`` table of ``root/pyproject.toml`` (empty when absent)."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    try:
        data = read_pyproject_toml(root) or {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScanError(f"{pyproject}: cannot read [tool.bandit]: {exc}") from exc
    table = data.get("tool", {}).get("bandit", {})
    return table if isinstance(table, dict) else {}


def is_test_file(rel_path: str) -> bool:
    """Whether ``rel_path`` is test code (test dir, ``test_*.py``, ``*_test.py``, conftest)."""
    parts = rel_path.split("/")
    name = parts[-1]
    if any(p in _TEST_DIR_NAMES for p in parts[:-1]):
        return True
    return name == "conftest.py" or fnmatch.fnmatch(name, "test_*.py") or name.endswith("_test.py")


def _excluded_by_bandit(rel_path: str, exclude_dirs: Sequence[str]) -> bool:
    """bandit's own ``exclude_dirs`` rule: a glob match or a plain substring of ``./<path>``."""
    path = "./" + rel_path
    return any(fnmatch.fnmatch(path, x) or x in path for x in exclude_dirs if x)


def _load_baseline(path: Path, root: Path) -> set[tuple[Any, ...]]:
    try:
        data = json.loads(read_capped(path))  # a regular file of bounded size, never /dev/zero
        results = data["results"]
    except (ScanError, ValueError, KeyError, TypeError) as exc:
        raise ScanError(f"bandit baseline {path} could not be read: {exc}") from exc
    keys: set[tuple[Any, ...]] = set()
    for item in results:
        keys.add(_baseline_key(_relative(str(item.get("filename", "")), root), item))
    return keys


def _relative(filename: str, root: Path) -> str:
    path = Path(filename)
    if path.is_absolute():
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            return path.as_posix()
    text = path.as_posix()
    return text[2:] if text.startswith("./") else text


def _baseline_key(rel: str, item: Mapping[str, Any]) -> tuple[Any, ...]:
    cwe = item.get("issue_cwe")
    cwe_id = cwe.get("id") if isinstance(cwe, dict) else item.get("cwe")
    return (
        rel,
        item.get("test_id"),
        item.get("test_name"),
        item["text_sha"] if "text_sha" in item else _text_hash(str(item.get("issue_text", ""))),
        item.get("issue_severity", item.get("severity")),
        item.get("issue_confidence", item.get("confidence")),
        cwe_id,
    )


class BanditScanner:
    """The ``code`` check (see the module docstring)."""

    kind = "code"
    tool = TOOL

    def __init__(
        self,
        *,
        report_asserts_in_tests: bool = False,
        use_git: bool = True,
        linear_nosec: bool = True,
    ) -> None:
        self.report_asserts_in_tests = report_asserts_in_tests
        self.use_git = use_git
        self.linear_nosec = linear_nosec

    def _options(self, root: Path, table: Mapping[str, Any]) -> BanditOptions:
        config_file = str(root / "pyproject.toml") if table else None
        return BanditOptions(
            root=str(root),
            tests=tuple(str(t) for t in table.get("tests", ()) or ()),
            skips=tuple(str(s) for s in table.get("skips", ()) or ()),
            config_file=config_file,
            linear_nosec=self.linear_nosec,
        )

    def scan(self, settings: Settings) -> ScanOutput:
        """Scan the Python sources under ``settings.rootdir``."""
        root = settings.rootdir.resolve()
        table = read_tool_bandit(root)
        options = self._options(root, table)
        exclude_dirs = [str(x) for x in table.get("exclude_dirs", ()) or ()]
        unreadable: list[str] = []
        sources = python_files(
            project_files(
                root, use_git=self.use_git, exclude=own_outputs(settings), unreadable=unreadable
            )
        )
        files = [p for p in sources if not _excluded_by_bandit(p, exclude_dirs)]
        if sources and not files:
            raise ScanError(
                f"[tool.bandit] exclude_dirs {exclude_dirs} leaves none of the project's "
                f"{len(sources)} Python file(s) to check"
            )
        from pytest_kisys.tools import locate

        tool = locate("bandit", settings)
        version = tool.version
        cache = FileResultCache(
            settings.resolved_cache_dir(), TOOL, version,
            [options.tests, options.skips, _ENTRY_FORMAT], required=RESULT_FIELDS,
        )
        # Always out of process: no bandit import (or its warnings) in the test process.
        scanned = scan_files_cached(
            "bandit", dataclasses.asdict(options), root, files, cache,
            workers=settings.effective_workers(), timeout=settings.scan_timeout,
            command=tool.worker(),
        )
        inconclusive = [
            Inconclusive(TOOL, rel, f"bandit could not scan it: {reason}")
            for rel, reason in scanned.failed
        ]
        inconclusive += unreadable_items(TOOL, unreadable)
        findings = self._findings(scanned.results, scanned.contents)
        baselined: list[Finding] = []
        baseline_path = settings.baseline.get("code")
        if baseline_path is not None:
            path = baseline_path if baseline_path.is_absolute() else root / baseline_path
            try:
                known = _load_baseline(path, root)
            except ScanError as exc:
                inconclusive.append(Inconclusive(TOOL, str(baseline_path), str(exc)))
            else:
                keep: list[Finding] = []
                for finding, raw in findings:
                    (baselined if _baseline_key(finding.path, raw) in known else keep).append(
                        finding
                    )
                return self._output(tool, keep, inconclusive, baselined, files, scanned)
        return self._output(
            tool, [f for f, _ in findings], inconclusive, baselined, files, scanned
        )

    def _output(
        self,
        tool: ToolCommand,
        findings: list[Finding],
        inconclusive: list[Inconclusive],
        baselined: list[Finding],
        files: list[str],
        scanned: CachedScan,
    ) -> ScanOutput:
        return scanned.output(
            tool.version, findings, inconclusive, baselined, files, tool.source.value
        )

    def _findings(
        self, per_file: Mapping[str, list[dict[str, Any]]], contents: Mapping[str, bytes]
    ) -> list[tuple[Finding, dict[str, Any]]]:
        out: list[tuple[Finding, dict[str, Any]]] = []
        for rel in sorted(per_file):
            lines = contents[rel].decode("utf-8", "replace").splitlines()
            seen: dict[tuple[str, str], int] = {}
            for raw in sorted(per_file[rel], key=lambda i: (i["line"], i["test_id"])):
                if raw["test_id"] == "B101" and not self.report_asserts_in_tests:
                    if is_test_file(rel):
                        continue
                line_no = int(raw["line"])
                anchor = lines[line_no - 1].strip() if 0 < line_no <= len(lines) else ""
                occurrence = seen.get((raw["test_id"], anchor), 0)
                seen[(raw["test_id"], anchor)] = occurrence + 1
                finding = Finding(
                    tool=TOOL,
                    rule_id=raw["test_id"],
                    rule_name=raw["test_name"],
                    severity=_SEVERITY.get(raw["severity"], "info"),
                    confidence=str(raw["confidence"]).lower(),
                    path=rel,
                    line=line_no,
                    message=raw["text"],
                    fingerprint=fingerprint(TOOL, raw["test_id"], rel, anchor, str(occurrence)),
                    cwe=raw.get("cwe") or None,
                    help_url=raw.get("more_info"),
                )
                out.append((finding, {**raw, "test_name": raw["test_name"]}))
        return out

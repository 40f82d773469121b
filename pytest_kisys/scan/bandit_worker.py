"""The bandit side of a scan worker process: configure bandit, run it over files, report issues.

Imported only in worker processes (``python -I -m pytest_kisys.scan.worker``), so it imports
nothing of kisys that would pull in pytest or the settings: a worker's start-up is part of
every cold check. :mod:`pytest_kisys.scan.bandit` is the check that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
from pathlib import Path
from typing import Any

from pytest_kisys.secrets.redact import redact_shapes


# Hard-coded password rules quote the value in their message; a secret never leaves the file.
_REDACTED_RULES = frozenset({"B105", "B106", "B107"})


@dataclass(frozen=True)
class BanditOptions:
    """What a worker needs to configure bandit the same way in every process (picklable)."""

    root: str
    tests: tuple[str, ...] = ()
    skips: tuple[str, ...] = ()
    config_file: str | None = None
    ignore_nosec: bool = False
    linear_nosec: bool = True
    """Use :func:`_linear_get_nosec`, :func:`_shared_linerange` and the visitor's fast paths
    (:mod:`pytest_kisys.scan.bandit_fast`); False runs bandit's own code unchanged (the parity
    tests run both)."""


def _linear_get_nosec(original: Any) -> Any:
    """bandit's ``utils.get_nosec`` without its cost on large literals, same answers.

    bandit calls it for every test on every node with the node's line range; for a string
    inside a big dict or list that range is the whole literal, so a file of large literals
    costs lines x strings dictionary look-ups (most of bandit's time on pip's vendored data
    files). The answer is the ``# nosec`` entry of the first line of the range that has one:
    with no entries at all it is None, and with fewer entries than lines it is the smallest
    entry inside the range. Ranges bandit builds are consecutive ascending line numbers
    (``list(range(a, b + 1))``); anything else goes to bandit's own function.
    """

    def get_nosec(nosec_lines: dict[int, Any], context: dict[str, Any]) -> Any:
        if not nosec_lines:
            return None
        lines = context["linerange"]
        if (
            isinstance(lines, list)
            and lines
            and len(nosec_lines) < len(lines)
            and lines[-1] - lines[0] + 1 == len(lines)
        ):
            low, high = lines[0], lines[-1]
            inside = [n for n, v in nosec_lines.items() if v is not None and low <= n <= high]
            return nosec_lines[min(inside)] if inside else None
        return original(nosec_lines, context)

    get_nosec.kisys_linear = True  # type: ignore[attr-defined]
    return get_nosec


def _shared_linerange(original: Any) -> Any:
    """bandit's ``utils.linerange``, built once per node that has line numbers.

    For a node with ``lineno`` bandit returns ``list(range(lineno, end_lineno + 1))``, a pure
    function of the node; it rebuilds (and frees) that list for every string inside the node,
    which is the other quadratic cost of large literals. No bandit code changes the list.
    """

    def linerange(node: Any) -> Any:
        if not hasattr(node, "lineno"):
            return original(node)
        cached = node.__dict__.get("_kisys_linerange")
        if cached is None:
            cached = node._kisys_linerange = original(node)
        return cached

    linerange.kisys_linear = True  # type: ignore[attr-defined]
    return linerange


def _patch_bandit() -> None:
    """Install the two linear helpers and the visitor's fast paths
    (:mod:`pytest_kisys.scan.bandit_fast`) in this worker process (never in the test process)."""
    from bandit.core import utils as b_utils

    from pytest_kisys.scan.bandit_fast import install

    if not getattr(b_utils.get_nosec, "kisys_linear", False):
        b_utils.get_nosec = _linear_get_nosec(b_utils.get_nosec)
    if not getattr(b_utils.linerange, "kisys_linear", False):
        b_utils.linerange = _shared_linerange(b_utils.linerange)
    install()


def scan_files_with_bandit(task: tuple[BanditOptions, list[str]]) -> list[tuple[str, Any, str]]:
    """Worker entry point: ``(rel_path, issues or None, skip reason)`` for each file of the task."""
    import logging

    from bandit.core import config as b_config
    from bandit.core import docs_utils
    from bandit.core import extension_loader
    from bandit.core import manager as b_manager

    options, rel_paths = task
    if options.linear_nosec:
        _patch_bandit()
    logging.getLogger("bandit").setLevel(logging.CRITICAL)
    conf = b_config.BanditConfig(config_file=options.config_file)
    profile = {"include": set(options.tests), "exclude": set(options.skips)}
    # bandit only logs a warning for an unknown id; a typo must not read as "checked, clean".
    unknown = sorted(
        t for t in profile["include"] | profile["exclude"]
        if t != "B001" and not extension_loader.MANAGER.check_id(t)
    )
    if unknown:
        raise SystemExit(f"[tool.bandit] names unknown bandit test id(s): {', '.join(unknown)}")
    root = Path(options.root)
    by_abs = {str(root / rel): rel for rel in rel_paths}
    # bandit tokenises every file only to find "# nosec" comments (its pattern is
    # case-sensitive). A file without the word cannot have one, so it is scanned by a manager
    # told to ignore nosec: same results, no tokenising (about a tenth of bandit's time).
    with_nosec = {a for a in by_abs if options.ignore_nosec or b"nosec" in Path(a).read_bytes()}
    managers = []
    for group, ignore_nosec in ((sorted(with_nosec), options.ignore_nosec),
                                (sorted(set(by_abs) - with_nosec), True)):
        if not group:
            continue
        mgr = b_manager.BanditManager(
            conf, "file", False, profile=profile, quiet=True, ignore_nosec=ignore_nosec
        )
        if not mgr.b_ts.tests:
            raise SystemExit("[tool.bandit] tests/skips leave no test to run (bandit: "
                             "\"No tests would be run, please check the profile.\")")
        # Set the list directly: discover_files would apply exclude_dirs to absolute paths too.
        mgr.files_list = group
        mgr.run_tests()
        managers.append(mgr)
    issues: dict[str, list[dict[str, Any]]] = {rel: [] for rel in rel_paths}
    found = [issue for mgr in managers for issue in mgr.get_issue_list()]
    for issue in found:
        data = issue.as_dict(with_code=False)
        rel = by_abs.get(data["filename"], data["filename"])
        cwe = data.get("issue_cwe") or {}
        issues.setdefault(rel, []).append(
            {
                "test_id": data["test_id"],
                "test_name": data["test_name"],
                "severity": data["issue_severity"],
                "confidence": data["issue_confidence"],
                # Cached and shown: masked. Baselines compare bandit's own text by its hash.
                "text": _message(data["test_id"], data["issue_text"]),
                "text_sha": _text_hash(data["issue_text"]),
                "line": data["line_number"],
                "cwe": cwe.get("id"),
                "more_info": docs_utils.get_url(data["test_id"]),
            }
        )
    skipped = {
        by_abs.get(name, name): reason for mgr in managers for name, reason in mgr.skipped
    }
    return [
        (rel, None if rel in skipped else issues[rel], skipped.get(rel, "")) for rel in rel_paths
    ]


def _message(test_id: str, text: str) -> str:
    """bandit's text masked: the quoted value cut out for the hard-coded password rules, and
    the one redactor's rules (credential shapes, high entropy) for every other rule."""
    if test_id in _REDACTED_RULES:
        return text.split(":", 1)[0] + " (value redacted)"
    return redact_shapes(text)


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()

"""bandit's node visitor without its per-node overhead, same results (scan workers only).

bandit visits every AST node (535,000 on pip's source) and for each one builds a context,
writes three debug log lines (their arguments formatted even when logging is off) and runs
its tester, which for most node types (``Name``, ``Load``, ``Attribute``...) has no test at
all and then returns a fresh all-zero score table that the visitor adds, element by element,
to its own. Profiled on pip's source that bookkeeping was about a fifth of bandit's time.

:func:`install` replaces, in the worker process only:

* ``BanditTester.run_tests`` for a node type without tests: the shared zero table
  (:data:`ZERO_SCORES`), which ``update_scores`` then skips;
* ``BanditNodeVisitor.pre_visit``/``post_visit``: the same context and depth bookkeeping
  without the debug logging (bandit's own method still runs with ``-d``/debug);
* ``BanditNodeVisitor.generic_visit``/``visit``: the same walk without ``ast.iter_fields``'
  generator, the ``visit_<Node>`` method looked up once per node class, and a node type
  without tests skipped before the tester is called.

Each replacement is installed only when bandit's original has exactly the source it was
written against (:data:`KNOWN_SOURCES`, bandit 1.9.x): another bandit runs unpatched. The
parity tests compare the findings with ``bandit -r`` and with unpatched bandit.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
from typing import Any


KNOWN_SOURCES: dict[str, frozenset[str]] = {
    "BanditNodeVisitor.pre_visit": frozenset({"f9142633cc6364f8"}),
    "BanditNodeVisitor.post_visit": frozenset({"1863f74ec3bb00ba"}),
    "BanditNodeVisitor.update_scores": frozenset({"974aaf7b1fcd8de7"}),
    "BanditTester.run_tests": frozenset({"5046e0c7f4669ce6"}),
    "BanditNodeVisitor.generic_visit": frozenset({"b6c64ce5f0ac6c30"}),
    "BanditNodeVisitor.visit": frozenset({"988544ad8d36775f"}),
}
"""SHA-256 (16 hex digits) of the source of each bandit method a fast path stands in for."""

ZERO_SCORES: dict[str, list[int]] = {"SEVERITY": [0, 0, 0, 0], "CONFIDENCE": [0, 0, 0, 0]}
"""What bandit's tester returns for a node type without tests (never modified)."""


def _known(function: Any) -> bool:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
    return digest in KNOWN_SOURCES.get(function.__qualname__, frozenset())


def _run_tests(original: Any) -> Any:
    def run_tests(self: Any, raw_context: Any, checktype: str) -> Any:
        if not self.testset.tests.get(checktype):
            return ZERO_SCORES
        return original(self, raw_context, checktype)

    return run_tests


def _update_scores(original: Any) -> Any:
    def update_scores(self: Any, scores: Any) -> None:
        if scores is not ZERO_SCORES:
            original(self, scores)

    return update_scores


def _pre_visit(original: Any, utils: Any) -> Any:
    def pre_visit(self: Any, node: Any) -> bool:
        if self.debug:
            return bool(original(self, node))
        context: dict[str, Any] = {"imports": self.imports, "import_aliases": self.import_aliases}
        if hasattr(node, "lineno"):
            context["lineno"] = node.lineno
        if hasattr(node, "col_offset"):
            context["col_offset"] = node.col_offset
        if hasattr(node, "end_col_offset"):
            context["end_col_offset"] = node.end_col_offset
        context["node"] = node
        context["linerange"] = utils.linerange(node)  # looked up per call, as bandit does
        context["filename"] = self.fname
        context["file_data"] = self.fdata
        self.context = context
        self.depth += 1
        return True

    return pre_visit


def _post_visit(original: Any, utils: Any) -> Any:
    def post_visit(self: Any, node: Any) -> None:
        if self.debug:
            original(self, node)
            return
        self.depth -= 1
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            self.namespace = utils.namespace_path_split(self.namespace)[0]

    return post_visit


def _generic_visit() -> Any:
    node_type: Any = ast.AST

    def generic_visit(self: Any, node: Any) -> None:
        # bandit's loop over ast.iter_fields, without the generator.
        for field in node._fields:
            try:
                value = getattr(node, field)
            except AttributeError:
                continue
            if isinstance(value, list):
                last = len(value) - 1
                for index, item in enumerate(value):
                    if isinstance(item, node_type):
                        item._bandit_sibling = value[index + 1] if index < last else None
                        item._bandit_parent = node
                        if self.pre_visit(item):
                            self.visit(item)
                            self.generic_visit(item)
                            self.post_visit(item)
            elif isinstance(value, node_type):
                value._bandit_sibling = None
                value._bandit_parent = node
                if self.pre_visit(value):
                    self.visit(value)
                    self.generic_visit(value)
                    self.post_visit(value)

    return generic_visit


def _visit(original: Any, skip_untested: bool) -> Any:
    methods: dict[tuple[type, type], Any] = {}

    def visit(self: Any, node: Any) -> None:
        if self.debug:
            original(self, node)
            return
        key = (type(self), type(node))
        try:
            method = methods[key]
        except KeyError:
            method = methods[key] = getattr(key[0], "visit_" + key[1].__name__, None)
        if method is not None:
            method(self, node)
            return
        name = key[1].__name__
        if skip_untested and not self.tester.testset.tests.get(name):
            return  # run_tests would return ZERO_SCORES, which update_scores skips
        self.update_scores(self.tester.run_tests(self.context, name))

    return visit


def install() -> list[str]:
    """Install every fast path whose bandit original is the known one; the names installed."""
    from bandit.core import node_visitor
    from bandit.core import tester
    from bandit.core import utils as b_utils

    visitor = node_visitor.BanditNodeVisitor
    installed: list[str] = []
    if _known(tester.BanditTester.run_tests) and _known(visitor.update_scores):
        tester.BanditTester.run_tests = _run_tests(tester.BanditTester.run_tests)
        visitor.update_scores = _update_scores(visitor.update_scores)
        installed += ["run_tests", "update_scores"]
    if _known(visitor.pre_visit):
        visitor.pre_visit = _pre_visit(visitor.pre_visit, b_utils)
        installed.append("pre_visit")
    if _known(visitor.post_visit):
        visitor.post_visit = _post_visit(visitor.post_visit, b_utils)
        installed.append("post_visit")
    if _known(visitor.generic_visit):
        visitor.generic_visit = _generic_visit()
        installed.append("generic_visit")
    if _known(visitor.visit):
        skip = "run_tests" in installed
        visitor.visit = _visit(visitor.visit, skip)
        installed.append("visit")
    return installed

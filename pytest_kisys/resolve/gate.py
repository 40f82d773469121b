"""The collection role's per-test hooks, registered only where a test can need them.

A plain run whose tests carry no ``requires`` marker calls none of these: the collection role's
lazy-import tags are a tap on the masking role's report wrapper (called only for a phase that
raised). :class:`RequiresGate` is registered when collection found a test with ``requires``
(it answers at once for the others); :class:`ControllerReports` on an xdist controller, which
sees its workers' reports only through ``pytest_runtest_logreport``.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping

from packaging.utils import canonicalize_name
import pytest

from pytest_kisys.resolve.outcome import Denial
from pytest_kisys.resolve.plan import requirement_satisfied
from pytest_kisys.resolve.probe import installed_version


DENIED_PROPERTY = "kisys_denied"
LAZY_PROPERTY = "kisys_lazy_missing"
SKIP_CATEGORY = "kisys-skipped"
FAIL_KEY: pytest.StashKey[str] = pytest.StashKey()


def marker_texts(node: pytest.Item) -> Iterable[str]:
    """The requirement strings of ``node``'s ``requires`` markers."""
    for marker in node.iter_markers("requires"):
        for arg in marker.args:
            if isinstance(arg, str):
                yield arg


class RequiresIndex:
    """Which nodes carry a ``requires`` marker, their own or a parent's.

    Parents are looked at once each, so a suite without the marker costs one scan of each
    item's own markers (``iter_markers`` would walk every item's whole chain).
    """

    def __init__(self) -> None:
        # id -> (the node, kept so that its id is not reused while known; the answer)
        self._inherited: dict[int, tuple[pytest.Collector, bool]] = {}

    def _parent_has(self, node: pytest.Collector | None) -> bool:
        if node is None:
            return False
        known = self._inherited.get(id(node))
        if known is not None:
            return known[1]
        hit = any(m.name == "requires" for m in node.own_markers) or self._parent_has(node.parent)
        self._inherited[id(node)] = (node, hit)
        return hit

    def has(self, item: pytest.Item) -> bool:
        """Whether ``item`` or one of its parents carries ``requires``."""
        return any(m.name == "requires" for m in item.own_markers) or self._parent_has(item.parent)


def items_with_requires(items: Iterable[pytest.Item]) -> set[int]:
    """``id()`` of each item carrying a ``requires`` marker (its own or a parent's)."""
    index = RequiresIndex()
    return {id(item) for item in items if index.has(item)}


def denied_report_status(report: pytest.TestReport) -> tuple[str, str, str] | None:
    """Tests skipped for denied packages are counted separately on the final line."""
    if report.when == "setup" and report.skipped:
        if any(key == DENIED_PROPERTY for key, _ in report.user_properties):
            return SKIP_CATEGORY, "s", "SKIPPED (kisys)"
    return None


class RequiresGate:
    """Skips (or fails, ``on_denied = "error"``) a test whose ``requires`` are not met."""

    def __init__(self, items: set[int], denied: Callable[[], Mapping[str, Denial]], on_denied: str) -> None:
        self._items = items
        self._denied = denied
        self._on_denied = on_denied

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Skip (or fail, ``on_denied = "error"``) a test whose requirements are not met."""
        if id(item) not in self._items:
            return
        from pytest_kisys.vet.requirements import parse_requirement

        for text in marker_texts(item):
            parsed = parse_requirement(text)
            if not parsed.applies() or requirement_satisfied(parsed, installed_version):
                continue
            known = self._denied().get(canonicalize_name(parsed.name))
            denial = known or Denial(text, "is not installed", f"--kisys-allow {parsed.name}")
            if denial.requirement != text:
                denial = Denial(text, denial.reason, denial.hint)
            item.user_properties.append((DENIED_PROPERTY, text))
            if self._on_denied == "error":
                # Fail in the call phase, so it counts as a failed test, not a setup error.
                item.stash[FAIL_KEY] = denial.message()
                return
            pytest.skip(denial.message())

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        """With ``on_denied = "error"``, fail a test whose requirement was denied."""
        message = item.stash.get(FAIL_KEY, None)
        if message is not None:
            pytest.fail(message, pytrace=False)

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, str] | None:
        """Count tests skipped for denied packages separately on the final line."""
        return denied_report_status(report)


class ControllerReports:
    """xdist controller: lazy-import failures and denied skips from the workers' reports."""

    def __init__(self, lazy: dict[str, list[str]]) -> None:
        self._lazy = lazy

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect lazy import failures."""
        for key, value in report.user_properties:
            if key == LAZY_PROPERTY and report.failed:
                self._lazy.setdefault(str(value), []).append(report.nodeid)

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, str] | None:
        """Count tests skipped for denied packages separately on the final line."""
        return denied_report_status(report)

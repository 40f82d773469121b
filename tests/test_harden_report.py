"""Issue 15 items 18 and 19: the report says which stage failed the run; matrix stages keep
their task type whole."""

from __future__ import annotations

import json

import pytest

from pytest_kisys.telemetry.runtime import task_type


pytest_plugins = ["pytester"]


def test_report_verdict_names_the_stage_that_failed_the_run(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        kisys='stages:\n  - {name: lint, run: [python, -c, "raise SystemExit(3)"], severity: low}\n',
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--kisys", "--kisys-scan", "none", "-p", "no:cacheprovider", "--kisys-fail-on", "low",
        "--kisys-report", "report.json",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    verdict = json.loads((pytester.path / "report.json").read_text())["verdict"]
    assert verdict["stages_failed"] == ["lint"]
    assert any("lint" in reason and "status 3" in reason for reason in verdict["reasons"])


@pytest.mark.parametrize(
    ("stage", "expected"),
    [("mx[3.11]", "mx"), ("scan.code", "scan"), ("install", "build"), ("lint", "lint"),
     ("scan.semgrep[a.b]", "scan")],
)
def test_task_type_of_matrix_stage_is_not_cut_at_a_dot(stage: str, expected: str) -> None:
    assert task_type(stage) == expected


COST_SUITE = """
import time

import pytest


def _burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_heavy():
    _burn(0.2)


@pytest.mark.slow
def test_light():
    pass


@pytest.mark.parametrize("value", ["ghp_" + "Zq8Vn3Lp6Rt9Wx2Ky5Mb1Hc4Jd7Fg0Sa3Ue6"], ids=lambda v: v)
def test_secret_id(value):
    pass
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_cost_reaches_the_report_with_tracing_off(pytester: pytest.Pytester, xdist: bool) -> None:
    """Item 17: cost attribution without tracing, in report.json (merged from xdist workers)."""
    pytester.makepyfile(test_cost=COST_SUITE)
    args = ["--kisys", "--kisys-scan", "none", "-p", "no:cacheprovider", "--kisys-trace", "none",
            "--kisys-report", "report.json", "-o", "kisys_cost_per_cpu_hour=3.6"]
    if xdist:
        args += ["-n", "2"]
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.OK
    cost = json.loads((pytester.path / "report.json").read_text())["cost"]
    assert cost["tests"] == 3
    assert cost["top_tests"][0]["nodeid"] == "test_cost.py::test_heavy"
    assert cost["top_tests"][0]["cpu_seconds"] >= 0.19
    assert cost["total_cpu_seconds"] >= 0.19
    assert cost["top_modules"][0]["module"] == "test_cost.py"
    assert cost["cost_per_cpu_hour"] == 3.6
    # 3.6 per CPU hour is 0.001 per CPU second.
    assert cost["money_by_marker"]["slow"] < cost["money_by_marker"]["(none)"]
    assert cost["money_by_module"]["test_cost.py"] >= 0.00019
    assert "Zq8Vn3Lp6Rt9Wx2Ky5Mb1Hc4Jd7Fg0Sa3Ue6" not in result.stdout.str()
    assert "Zq8Vn3Lp6Rt9Wx2Ky5Mb1Hc4Jd7Fg0Sa3Ue6" not in (pytester.path / "report.json").read_text()
    result.stdout.fnmatch_lines(["*kisys cost*", "cpu time * over 3 tests", "estimated cost *"])


def test_cost_is_not_measured_when_nothing_shows_it(pytester: pytest.Pytester) -> None:
    """No report, no rate, no ``-v``: a run without tracing does no per-test cost work."""
    pytester.makeconftest(
        "def pytest_sessionfinish(session):\n"
        "    pm = session.config.pluginmanager\n"
        "    print('COST-ROLE', pm.get_plugin('kisys-cost') is not None)\n"
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--kisys", "--kisys-scan", "none", "-p", "no:cacheprovider", "--kisys-trace", "none", "-s"
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*COST-ROLE False*"])
    result = pytester.runpytest_subprocess(
        "--kisys", "--kisys-scan", "none", "-p", "no:cacheprovider", "--kisys-trace", "none", "-s",
        "--kisys-report", "r.json",
    )
    result.stdout.fnmatch_lines(["*COST-ROLE True*"])


def test_cost_reaches_the_report_with_tracing_on(pytester: pytest.Pytester) -> None:
    """With tracing on the telemetry plugin's ledger feeds the same report field."""
    pytester.makepyfile(test_cost=COST_SUITE)
    result = pytester.runpytest_subprocess(
        "--kisys", "--kisys-scan", "none", "-p", "no:cacheprovider", "--kisys-trace", "file:spans.jsonl",
        "--kisys-report", "report.json",
    )
    assert result.ret == pytest.ExitCode.OK
    cost = json.loads((pytester.path / "report.json").read_text())["cost"]
    assert cost["tests"] == 3
    assert cost["top_tests"][0]["nodeid"] == "test_cost.py::test_heavy"
    assert "cost_per_cpu_hour" not in cost

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

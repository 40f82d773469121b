"""The stage graph inside ``pytest --kisys``: config stages, plugin stages, report rows."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

# Imported here so in-process pytester runs share these modules with the plugin: a module first
# imported inside a run is dropped from sys.modules afterwards, while `from pytest_kisys import
# session` in the plugin still finds the old one on the package, with its own stash keys.
import pytest_kisys.record  # noqa: F401
import pytest_kisys.roles  # noqa: F401
import pytest_kisys.stages.plugin  # noqa: F401


# Dumps the run record's stage rows where the test can read them.
RECORD_CONFTEST = """
import json
import pathlib

from pytest_kisys.record import RUN_KEY


def pytest_unconfigure(config):
    record = config.stash.get(RUN_KEY, None)
    if record is not None:
        rows = [stage.to_json() for stage in record.stages]
        pathlib.Path("stages.json").write_text(json.dumps(rows))
"""

KISYS = ("--kisys", "--kisys-scan", "none", "-p", "no:cacheprovider")


def rows(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    data = json.loads((pytester.path / "stages.json").read_text())
    return {row["name"]: row for row in data}


def test_config_stages_run_fail_and_skip(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RECORD_CONFTEST)
    pytester.makefile(
        ".yaml",
        kisys=textwrap.dedent(
            """
            stages:
              - name: lint
                run: [python, -c, "import sys; print('E501 line too long'); sys.exit(1)"]
                severity: medium
              - name: docs
                run: [python, -c, "print('built')"]
                needs: [lint]
              - name: cleanup
                run: [python, -c, "print('cleaned')"]
                needs: [docs]
                always: true
              - name: only-on-main
                run: [python, -c, "print('deployed')"]
                if: "env.KISYS_TEST_BRANCH == 'main'"
            """
        ),
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*KISYS, "--kisys-fail-on", "low")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*= kisys stages =*",
            'failed   lint *: `python -c "import sys; print(*)*"` exited with status 1',
            "    [[]medium[]]",
            "      | E501 line too long",
            "skipped  docs: needs 'lint', which failed",
            "skipped  only-on-main: if: env.KISYS_TEST_BRANCH == 'main' is false",
        ]
    )
    found = rows(pytester)
    assert found["lint"]["findings"][0]["detail"] == "E501 line too long"
    assert found["lint"]["findings"][0]["severity"] == "medium"
    assert found["docs"]["reason"] == "needs 'lint', which failed"
    assert found["cleanup"]["status"] == "passed"
    assert found["only-on-main"]["status"] == "skipped"
    assert found["tests"]["status"] == "passed"
    assert found["report"]["start"] >= found["tests"]["end"]
    for row in found.values():
        assert set(row) >= {"name", "status", "reason", "attempts", "start", "end", "findings"}


def test_finding_below_fail_on_does_not_fail_the_session(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        kisys='stages:\n  - {name: lint, run: [python, -c, "raise SystemExit(1)"], severity: low}\n',
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*KISYS, "--kisys-fail-on", "high")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["failed   lint *exited with status 1"])


def test_stage_from_plugin_hook_runs_after_tests(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        RECORD_CONFTEST
        + textwrap.dedent(
            """
            from pytest_kisys.stages import Stage, StageOutcome

            def upload(ctx):
                (ctx.rootdir / "uploaded.txt").write_text(ctx.stage.name)

            def gate(ctx):
                return StageOutcome.failed("coverage 12% < 90%")

            def pytest_kisys_stages(config, settings):
                return [
                    Stage("upload", needs=("tests",), action=upload, source="conftest"),
                    Stage("coverage-gate", needs=("tests",), action=gate, source="conftest"),
                ]
            """
        )
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*KISYS)
    result.assert_outcomes(passed=1)
    assert (pytester.path / "uploaded.txt").read_text() == "upload"
    found = rows(pytester)
    assert found["upload"]["source"] == "conftest"
    assert found["upload"]["start"] >= found["tests"]["end"]
    # A failure without findings cannot be judged: it fails the run (fail closed).
    assert found["coverage-gate"]["reason"] == "coverage 12% < 90%"
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_plugin_stage_with_unknown_need_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        textwrap.dedent(
            """
            from pytest_kisys.stages import Stage

            def pytest_kisys_stages(config, settings):
                return [Stage("publish", needs=("tets",), action=lambda ctx: None)]
            """
        )
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*KISYS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*kisys stages: stage 'publish' (plugin) needs unknown stage 'tets' (did you mean 'tests'?)*"]
    )


def test_cycle_in_pyproject_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(
        textwrap.dedent(
            """
            [tool.kisys.stages.a]
            run = ["true"]
            needs = ["b"]

            [tool.kisys.stages.b]
            run = ["true"]
            needs = ["a"]
            """
        )
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*KISYS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*stage 'a' is part of a cycle: a -> b -> a*"])


def test_bad_field_names_file_and_stage(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", kisys="stages:\n  - {name: lint, run: [ruff], retries: 2}\n")
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*KISYS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*stage 'lint' (kisys.yaml*): unknown field 'retries' (did you mean 'retry'?)*"]
    )


def test_bad_type_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", kisys="stages:\n  - {name: lint, run: ruff check .}\n")
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*KISYS)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*stage 'lint' (kisys.yaml*): 'run' must be an argument list*"])


def test_subsystem_binds_a_builtin_stage(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        RECORD_CONFTEST
        + textwrap.dedent(
            """
            from pytest_kisys.stages import bind_stage

            def pytest_configure(config):
                def write_report(ctx):
                    (ctx.rootdir / "report.txt").write_text("written")
                bind_stage(config, "report", write_report)
            """
        )
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*KISYS)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert (pytester.path / "report.txt").read_text() == "written"
    found = rows(pytester)
    assert found["report"]["status"] == "passed"
    assert found["report"]["start"] >= found["tests"]["end"]
    # The collection role records resolve/vet/install before conftests load (stage_scope).
    for name in ("resolve", "vet", "install"):
        assert found[name]["reason"] != "not run in this session"
        assert found[name]["end"] <= found["tests"]["start"]


def test_subsystem_scopes_a_builtin_stage(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        RECORD_CONFTEST
        + textwrap.dedent(
            """
            from pytest_kisys.stages import Stage, stage_scope

            def pytest_kisys_stages(config, settings):
                return [Stage("publish", needs=("report",), action=lambda ctx: None)]

            def pytest_sessionfinish(session):
                # Report writers run in sessionfinish before kisys finishes the graph (trylast).
                with stage_scope(session.config, "report") as handle:
                    assert handle.active
                    handle.fail("disk full")
            """
        )
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*KISYS)
    result.assert_outcomes(passed=1)
    found = rows(pytester)
    assert found["report"]["status"] == "failed"
    assert found["report"]["reason"] == "disk full"
    assert found["publish"]["reason"] == "needs 'report', which failed"


def test_kisys_off_runs_no_stages(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", kisys="stages:\n  - {name: boom, run: [python, -c, 'raise SystemExit(3)']}\n")
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    assert "kisys stages" not in result.stdout.str()


def test_every_stage_is_a_span(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        textwrap.dedent(
            """
            import json
            import pathlib

            from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

            EXPORTER = InMemorySpanExporter()

            def pytest_kisys_span_exporter(config):
                return EXPORTER

            def pytest_unconfigure(config):
                spans = {
                    span.name: dict(span.attributes)
                    for span in EXPORTER.get_finished_spans()
                    if "kisys.stage.status" in (span.attributes or {})
                }
                pathlib.Path("spans.json").write_text(json.dumps(spans, default=str))
            """
        )
    )
    pytester.makefile(
        ".yaml",
        kisys=textwrap.dedent(
            """
            stages:
              - {name: build, run: [python, -c, "raise SystemExit(1)"], severity: low}
              - {name: ship, run: [python, -c, "pass"], needs: [build]}
              - {name: after-tests, run: [python, -c, "pass"], needs: [tests], matrix: {n: [1, 2]}}
            """
        ),
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*KISYS, "--kisys-trace", "console")
    result.assert_outcomes(passed=1)
    spans = json.loads((pytester.path / "spans.json").read_text())
    assert spans["build"]["kisys.stage.status"] == "failed"
    assert spans["build"]["cicd.pipeline.task.run.result"] == "failure"
    assert spans["ship"]["kisys.stage.status"] == "skipped"
    assert spans["ship"]["kisys.stage.reason"] == "needs 'build', which failed"
    assert spans["after-tests[2]"]["kisys.stage.matrix.n"] == "2"
    assert spans["after-tests[1]"]["cicd.pipeline.task.run.result"] == "success"


def test_xdist_controller_runs_the_graph_once(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RECORD_CONFTEST)
    pytester.makefile(
        ".yaml",
        kisys=textwrap.dedent(
            """
            stages:
              - name: count
                run: [python, -c, "open('count.txt', 'a').write('x')"]
                needs: [tests]
            """
        ),
    )
    pytester.makepyfile(
        "import pytest\n\n@pytest.mark.parametrize('n', range(4))\ndef test_ok(n):\n    pass\n"
    )
    result = pytester.runpytest(*KISYS, "-n", "2")
    result.assert_outcomes(passed=4)
    assert (pytester.path / "count.txt").read_text() == "x"
    found = rows(pytester)
    assert found["tests"]["status"] == "passed"
    assert found["count"]["start"] >= found["tests"]["end"]


def test_scan_first_failure_stops_before_tests(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        RECORD_CONFTEST
        + textwrap.dedent(
            """
            from pytest_kisys.stages import StageOutcome, bind_stage

            def pytest_configure(config):
                # Stands in for a scanner that found something (the real ones are tested elsewhere).
                bind_stage(config, "scan.code", lambda ctx: StageOutcome.failed("planted finding"))
            """
        )
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(
        "--kisys", "--kisys-scan", "code", "--kisys-scan-first", "-p", "no:cacheprovider"
    )
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "failed   scan.code *: planted finding",
            "failed   tests *: not run: scan.code failed first (scan_first)",
            "*no tests ran*",
        ]
    )
    found = rows(pytester)
    assert found["tests"]["status"] == "failed"
    assert found["tests"]["reason"] == "not run: scan.code failed first (scan_first)"

"""The stage runner: parallelism, retry and backoff, conditions, skip propagation, commands."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
import sys
import threading
from typing import Any

import pytest

from pytest_kisys.stages import Retry
from pytest_kisys.stages import Stage
from pytest_kisys.stages import StageContext
from pytest_kisys.stages import StageOutcome
from pytest_kisys.stages import StageResult
from pytest_kisys.stages.config import parse_stages
from pytest_kisys.stages.graph import build_graph
from pytest_kisys.stages.runner import StageRunner


class FakeClock:
    """A clock that only moves when the runner sleeps, recording each sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def time(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds


def by_name(results: tuple[StageResult, ...]) -> dict[str, StageResult]:
    return {result.name: result for result in results}


def run(stages: list[Stage], **kwargs: Any) -> dict[str, StageResult]:
    kwargs.setdefault("env", {"PATH": os.environ.get("PATH", "")})
    kwargs.setdefault("max_workers", 4)
    return by_name(StageRunner(build_graph(stages), **kwargs).run())


def passes(ctx: StageContext) -> None:
    return None


def raises(ctx: StageContext) -> None:
    raise RuntimeError(f"broken on attempt {ctx.attempt}")


def test_independent_stages_overlap() -> None:
    # Each stage waits until the other has started: only parallel execution lets both pass.
    barrier = threading.Barrier(2, timeout=10)

    def meet(ctx: StageContext) -> None:
        barrier.wait()

    results = run([Stage("a", action=meet), Stage("b", action=meet)])
    a, b = results["a"], results["b"]
    assert (a.status, b.status) == ("passed", "passed")
    assert a.started is not None
    assert b.started is not None
    assert a.ended is not None
    assert b.ended is not None
    assert a.started < b.ended
    assert b.started < a.ended


def test_max_workers_one_runs_one_at_a_time() -> None:
    active: list[int] = []
    peak: list[int] = [0]
    lock = threading.Lock()

    def count(ctx: StageContext) -> None:
        with lock:
            active.append(1)
            peak[0] = max(peak[0], len(active))
        threading.Event().wait(0.02)
        with lock:
            active.pop()

    runner = StageRunner(build_graph([Stage(n, action=count) for n in "abc"]), env={}, max_workers=1)
    assert all(r.status == "passed" for r in runner.run())
    assert peak[0] == 1


def test_retry_counts_and_backoff_schedule() -> None:
    clock = FakeClock()
    calls: list[int] = []

    def flaky(ctx: StageContext) -> StageOutcome | None:
        calls.append(ctx.attempt)
        if ctx.attempt < 4:
            return StageOutcome.failed(f"attempt {ctx.attempt} failed")
        return None

    results = run(
        [
            Stage("flaky", action=flaky, retry=Retry(attempts=5, base=2.0, cap=5.0)),
            Stage("hopeless", action=raises, retry=Retry(attempts=3, base=1.0, cap=10.0)),
        ],
        clock=clock.time,
        sleep=clock.sleep,
    )
    assert calls == [1, 2, 3, 4]
    assert results["flaky"].status == "passed"
    assert results["flaky"].attempts == 4
    assert results["hopeless"].status == "failed"
    assert results["hopeless"].attempts == 3
    assert results["hopeless"].reason == "RuntimeError: broken on attempt 3"
    # flaky waits 2, 4, 5 (capped) and then passes; hopeless waits 1, 2. They share the clock.
    assert sorted(clock.sleeps) == [1.0, 2.0, 2.0, 4.0, 5.0]


def test_backoff_schedule_of_one_stage_exactly() -> None:
    clock = FakeClock()
    results = run(
        [Stage("x", action=raises, retry=Retry(attempts=6, base=0.5, cap=3.0))],
        clock=clock.time,
        sleep=clock.sleep,
    )
    assert clock.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert results["x"].attempts == 6
    assert results["x"].started == 1000.0
    assert results["x"].ended == pytest.approx(1009.5)


def test_if_false_skips_with_reason_and_dependants_follow() -> None:
    results = run(
        [
            Stage("deploy", action=passes, condition="env.BRANCH == 'main'"),
            Stage("announce", action=passes, needs=("deploy",)),
            Stage("cleanup", action=passes, needs=("deploy",), always=True),
        ],
        env={"BRANCH": "feature"},
    )
    assert results["deploy"].status == "skipped"
    assert results["deploy"].reason == "if: env.BRANCH == 'main' is false"
    assert results["deploy"].attempts == 0
    assert results["announce"].status == "skipped"
    assert results["announce"].reason == "needs 'deploy', which was skipped"
    assert results["cleanup"].status == "passed"


def test_if_true_runs() -> None:
    results = run([Stage("deploy", action=passes, condition="env.BRANCH == 'main'")], env={"BRANCH": "main"})
    assert results["deploy"].status == "passed"


def test_failure_skips_dependants_transitively_and_always_runs() -> None:
    seen: list[str] = []

    def note(ctx: StageContext) -> None:
        seen.append(ctx.stage.name)

    results = run(
        [
            Stage("build", action=raises),
            Stage("test", action=note, needs=("build",)),
            Stage("publish", action=note, needs=("test",)),
            Stage("cleanup", action=note, needs=("publish",), always=True),
            Stage("unrelated", action=note),
        ]
    )
    assert results["build"].status == "failed"
    assert results["test"].reason == "needs 'build', which failed"
    assert results["publish"].reason == "needs 'test', which was skipped"
    assert results["cleanup"].status == "passed"
    assert sorted(seen) == ["cleanup", "unrelated"]
    assert results["test"].to_json()["status"] == "skipped"


def test_off_and_nothing_to_do_do_not_block_dependants() -> None:
    results = run(
        [
            Stage("scan.deps", action=passes),
            Stage("quiet", action=lambda ctx: StageOutcome.skipped("nothing changed")),
            Stage("after", action=passes, needs=("scan.deps", "quiet")),
        ],
        off={"scan.deps": "off: scan = code"},
    )
    assert results["scan.deps"].reason == "off: scan = code"
    assert results["quiet"].status == "skipped"
    assert results["after"].status == "passed"


def test_matrix_stages_receive_their_values() -> None:
    seen: dict[str, str] = {}
    lock = threading.Lock()

    def record(ctx: StageContext) -> None:
        with lock:
            seen[ctx.stage.name] = ctx.matrix["py"]

    results = run([Stage("check", action=record, matrix={"py": ("3.11", "3.12")})])
    assert seen == {"check[3.11]": "3.11", "check[3.12]": "3.12"}
    assert results["check[3.12]"].to_json()["matrix"] == {"py": "3.12"}


def test_timeout_fails_the_attempt() -> None:
    release = threading.Event()

    def hangs(ctx: StageContext) -> None:
        release.wait(10)

    try:
        results = run([Stage("slow", action=hangs, timeout=0.05)])
    finally:
        release.set()
    assert results["slow"].status == "failed"
    assert results["slow"].reason == "timed out after 0.05s"


def test_action_returning_garbage_fails() -> None:
    results = run([Stage("odd", action=lambda ctx: "ok")])  # type: ignore[arg-type,return-value]
    assert results["odd"].reason == "stage action returned str, expected StageOutcome or None"


def test_external_stage_waits_for_needs_and_records() -> None:
    order: list[str] = []
    graph = build_graph(
        [
            Stage("install", action=lambda ctx: order.append("install") and None),
            Stage("tests", needs=("install",), always=True),
            Stage("after", action=lambda ctx: order.append("after") and None, needs=("tests",)),
        ]
    )
    runner = StageRunner(graph, env={}, external=["tests"])
    runner.start()
    with runner.external("tests") as handle:
        assert handle.active
        order.append("tests")
        handle.fail("2 failed")
    results = by_name(runner.finish())
    assert order == ["install", "tests"]
    assert results["tests"].status == "failed"
    assert results["after"].reason == "needs 'tests', which failed"


def test_external_stage_nobody_ran_is_skipped_not_run() -> None:
    graph = build_graph(
        [Stage("install"), Stage("tests", needs=("install",)), Stage("x", action=passes, needs=("install",))]
    )
    results = by_name(StageRunner(graph, env={}, external=["install", "tests"]).run())
    assert results["install"].reason == "not run in this session"
    assert results["tests"].reason == "not run in this session"
    assert results["x"].status == "passed"


def test_on_result_and_span_see_every_stage() -> None:
    recorded: list[str] = []
    spans: list[str] = []

    class Span:
        def __init__(self, name: str) -> None:
            self.name = name
            self.attributes: dict[str, object] = {}

        def __enter__(self) -> Span:
            return self

        def __exit__(self, *exc: object) -> None:
            spans.append(f"{self.name}:{self.attributes['kisys.stage.status']}")

        def set_attribute(self, key: str, value: object) -> None:
            self.attributes[key] = value

    run(
        [Stage("a", action=passes), Stage("b", action=raises), Stage("c", action=passes, needs=("b",))],
        on_result=lambda r: recorded.append(r.name),
        span=lambda name, attrs: Span(name),
    )
    assert sorted(recorded) == ["a", "b", "c"]
    assert sorted(spans) == ["a:passed", "b:failed", "c:skipped"]


# -- command stages ----------------------------------------------------------------------


def command_stage(tmp_path: Path, **spec: object) -> Stage:
    (stage,) = parse_stages([{"name": "cmd", **spec}], "kisys.yaml:1")
    return stage


def test_failing_command_becomes_finding_with_output_tail(tmp_path: Path) -> None:
    script = (
        "import sys\nfor i in range(100): print('line', i)\nprint('the end', file=sys.stderr)\nsys.exit(3)"
    )
    stage = command_stage(tmp_path, run=[sys.executable, "-u", "-c", script], severity="medium")
    results = run([stage], rootdir=tmp_path)
    result = results["cmd"]
    assert result.status == "failed"
    assert "exited with status 3" in result.reason
    (finding,) = result.findings
    assert finding.severity == "medium"
    assert finding.stage == "cmd"
    assert finding.detail.splitlines()[-1] == "the end"
    assert "line 99" in finding.detail
    assert "line 10\n" not in finding.detail  # only the tail is kept
    assert result.to_json()["findings"][0]["detail"] == finding.detail


def test_passing_command_sees_matrix_and_env(tmp_path: Path) -> None:
    script = (
        "import os, pathlib; pathlib.Path(os.environ['KISYS_STAGE'] + '.txt')"
        ".write_text(os.environ['KISYS_MATRIX_WORD'] + os.environ['EXTRA'])"
    )
    stage = command_stage(
        tmp_path,
        run=[sys.executable, "-c", script],
        matrix={"word": ["alpha"]},
        env={"EXTRA": "-${matrix.word}"},
    )
    results = run([stage], rootdir=tmp_path)
    assert results["cmd[alpha]"].status == "passed"
    assert (tmp_path / "cmd[alpha].txt").read_text() == "alpha-alpha"


def test_command_without_shell_does_not_interpret_metacharacters(tmp_path: Path) -> None:
    script = "import pathlib, sys; pathlib.Path('argv.txt').write_text(repr(sys.argv[1:]))"
    plain = command_stage(tmp_path, run=[sys.executable, "-c", script, "a;b", "$HOME", "*"])
    shelled = command_stage(tmp_path, run="echo $((6*7)) > out.txt", shell=True)  # noqa: S604
    results = run([plain, dataclasses.replace(shelled, name="sh")], rootdir=tmp_path)
    assert results["cmd"].status == "passed"
    assert (tmp_path / "argv.txt").read_text() == repr(["a;b", "$HOME", "*"])
    assert results["sh"].status == "passed"
    assert (tmp_path / "out.txt").read_text().strip() == "42"


def test_command_not_found_fails_closed(tmp_path: Path) -> None:
    stage = command_stage(tmp_path, run=["definitely-not-a-command-kisys"])
    result = run([stage], rootdir=tmp_path)["cmd"]
    assert result.status == "failed"
    assert result.reason.startswith("could not start `definitely-not-a-command-kisys`")
    assert result.findings[0].severity == "high"


def test_command_timeout_kills_and_reports(tmp_path: Path) -> None:
    stage = command_stage(
        tmp_path,
        run=[sys.executable, "-c", "import time; print('started', flush=True); time.sleep(30)"],
        timeout=0.5,
    )
    result = run([stage], rootdir=tmp_path)["cmd"]
    assert result.status == "failed"
    assert "timed out after 0.5s" in result.reason
    assert result.duration is not None
    assert result.duration < 10


def test_command_output_masks_secret_env_values(tmp_path: Path) -> None:
    fake = "fake-token-value-1234"
    stage = command_stage(
        tmp_path,
        run=[
            sys.executable,
            "-c",
            "import os; print('token is', os.environ['API_TOKEN']); raise SystemExit(1)",
        ],
    )
    result = run([stage], rootdir=tmp_path, env={"API_TOKEN": fake})["cmd"]
    assert fake not in result.findings[0].detail
    assert "token is ***" in result.findings[0].detail


def test_finish_with_timeout_records_what_did_not_run() -> None:
    release = threading.Event()
    graph = build_graph(
        [
            Stage("slow", action=lambda ctx: release.wait(10) and None),
            Stage("later", action=passes, needs=("slow",)),
        ]
    )
    runner = StageRunner(graph, env={})
    runner.start()
    try:
        results = by_name(runner.finish(timeout=0.0))
    finally:
        release.set()
    assert "slow" not in results  # still running, abandoned
    assert results["later"].status == "skipped"
    assert results["later"].reason == "not finished when the session ended"

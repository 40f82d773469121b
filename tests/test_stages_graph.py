"""Validation and ordering of the stage graph, the ``if`` language and config parsing."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_kisys.settings import Settings
from pytest_kisys.stages import Retry
from pytest_kisys.stages import Stage
from pytest_kisys.stages import StageConfigError
from pytest_kisys.stages.builtin import builtin_stages
from pytest_kisys.stages.builtin import with_report_last
from pytest_kisys.stages.condition import Condition
from pytest_kisys.stages.condition import ConditionError
from pytest_kisys.stages.condition import Scope
from pytest_kisys.stages.condition import settings_names
from pytest_kisys.stages.config import parse_stages
from pytest_kisys.stages.graph import build_graph


def test_topological_order_keeps_declaration_order_among_independent_stages() -> None:
    graph = build_graph([Stage("d", needs=("b", "c")), Stage("b", needs=("a",)), Stage("c"), Stage("a")])
    assert graph.names == ("c", "a", "b", "d")
    assert graph.upstream("d") == ("c", "a", "b")
    assert graph.dependants("a") == ("b",)


def test_cycle_is_named_in_full() -> None:
    with pytest.raises(StageConfigError, match=r"cycle: a -> b -> c -> a") as info:
        build_graph(
            [
                Stage("a", needs=("b",)),
                Stage("b", needs=("c",)),
                Stage("c", needs=("a",)),
                Stage("downstream", needs=("a",)),
            ]
        )
    assert "stage 'a'" in str(info.value)


def test_self_need_is_a_cycle() -> None:
    with pytest.raises(StageConfigError, match=r"cycle: solo -> solo"):
        build_graph([Stage("solo", needs=("solo",))])


def test_unknown_need_names_stage_and_suggests() -> None:
    with pytest.raises(StageConfigError) as info:
        build_graph([Stage("install"), Stage("lint", needs=("instal",), source="kisys.yaml:3")])
    message = str(info.value)
    assert "stage 'lint' (kisys.yaml:3) needs unknown stage 'instal'" in message
    assert "(did you mean 'install'?); known stages: install, lint" in message


def test_duplicate_names_both_sources() -> None:
    with pytest.raises(StageConfigError, match=r"duplicate stage 'tests': declared by built-in"):
        build_graph([*builtin_stages(), Stage("tests", source="my-plugin")])


def test_matrix_expansion_names_and_needs() -> None:
    graph = build_graph(
        [
            Stage(
                "lint",
                matrix={"python": ("3.11", "3.12"), "path": ("src", "tests")},
                run=("tox", "-e", "py${matrix.python}", "${matrix.path}"),
            ),
            Stage("after", needs=("lint",)),
        ]
    )
    assert graph.names == (
        "lint[3.11-src]",
        "lint[3.11-tests]",
        "lint[3.12-src]",
        "lint[3.12-tests]",
        "after",
    )
    assert graph["after"].needs == graph.names[:4]
    expanded = graph["lint[3.12-tests]"]
    assert expanded.run == ("tox", "-e", "py3.12", "tests")
    assert expanded.matrix_values == {"python": "3.12", "path": "tests"}
    assert expanded.declared_name == "lint"


def test_matrix_with_repeated_values_is_a_duplicate() -> None:
    with pytest.raises(StageConfigError, match=r"duplicate stage 'x\[1\]' after matrix"):
        build_graph([Stage("x", matrix={"n": ("1", "1")})])


def test_brackets_are_reserved_for_matrix_names() -> None:
    with pytest.raises(StageConfigError, match=r"stage 'x\[1\]' \(plugin\): invalid name"):
        build_graph([Stage("x[1]")])


def test_report_needs_everything_not_after_it() -> None:
    stages = with_report_last(
        [
            *builtin_stages(),
            Stage("lint"),
            Stage("docs", needs=("lint",)),
            Stage("upload", needs=("report",)),
        ]
    )
    graph = build_graph(stages)
    assert "docs" in graph["report"].needs
    assert "lint" not in graph["report"].needs  # implied through docs
    assert "upload" not in graph["report"].needs
    assert graph.names[-1] == "upload"


def test_scan_first_makes_tests_wait_for_scans() -> None:
    graph = build_graph(builtin_stages(Settings(scan_first=True)))
    assert set(graph["tests"].needs) == {"install", "scan.code", "scan.deps", "scan.secrets"}


def test_retry_schedule_is_exponential_and_capped() -> None:
    assert Retry(attempts=6, base=0.5, cap=3.0).schedule() == (0.5, 1.0, 2.0, 3.0, 3.0)
    assert Retry().schedule() == ()


# -- the `if` language -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("env.CI == 'true'", True),
        ('env.CI != "true"', False),
        ("env.MISSING", False),
        ("env.ZERO", False),
        ("not env.ZERO and env.CI", True),
        ("env.MISSING or (env.CI == 'true' and not env.MISSING)", True),
        ("env.A == 'x' or env.B == 'y' and env.C == 'z'", False),
        ("settings.offline == false", True),
        ("settings.level == 'paranoid'", True),
        ("settings.scan == 'code,deps'", True),
        ("settings.report", False),
        ("settings.max_workers == 4", True),
        ("matrix.python == '3.12'", True),
        ("true and not false", True),
        ("'it\\'s' == \"it's\"", True),
    ],
)
def test_condition_evaluates(text: str, expected: bool) -> None:
    scope = Scope(
        env={"CI": "true", "ZERO": "0", "A": "a"},
        settings=Settings(level="paranoid", scan=frozenset({"deps", "code"}), max_workers=4),
        matrix={"python": "3.12"},
    )
    assert Condition.parse(text, settings_names=settings_names()).evaluate(scope) is expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("env.CI ==", "ends too early"),
        ("(env.CI", "missing ')'"),
        ("env.CI == 'x' )", "unexpected ')'"),
        ("__import__('os')", "unknown name '__import__'"),
        ("env.CI; rm", "unexpected ';'"),
        ("settings.nope", "unknown setting 'settings.nope'"),
        ("os.environ", "unknown name 'os.environ'"),
    ],
)
def test_condition_rejects(text: str, problem: str) -> None:
    with pytest.raises(ConditionError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        Condition.parse(text, settings_names=settings_names())


# -- config parsing ----------------------------------------------------------------------


def test_config_stage_full_shape() -> None:
    (stage,) = parse_stages(
        [
            {
                "name": "lint",
                "run": ["ruff", "check", "."],
                "needs": "install",
                "if": "env.CI",
                "always": True,
                "retry": {"attempts": 3, "backoff": 0.5, "max_backoff": 4},
                "timeout": 60,
                "matrix": {"python": ["3.11", 3.12]},
                "severity": "medium",
                "cwd": "src",
                "env": {"LC_ALL": "C"},
                "description": "lint",
            }
        ],
        "kisys.yaml:4",
    )
    assert stage.needs == ("install",)
    assert stage.retry == Retry(3, 0.5, 4.0)
    assert stage.matrix == {"python": ("3.11", "3.12")}
    assert stage.timeout == 60.0
    assert stage.action is not None
    assert stage.source == "kisys.yaml:4"


def test_config_table_of_names_shape() -> None:
    stages = parse_stages([{"lint": {"run": ["ruff"]}, "docs": {"run": ["mkdocs", "build"]}}])
    assert [stage.name for stage in stages] == ["lint", "docs"]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"run": ["x"], "need": ["a"]}, "unknown field 'need' (did you mean 'needs'?)"),
        ({"run": ["x"], "retry": {"tries": 2}}, "unknown field 'retry.tries'"),
        ({}, "missing 'run'"),
        ({"run": "ruff check ."}, "'run' must be an argument list"),
        ({"run": []}, "'run' must be a non-empty list"),
        ({"run": ["x"], "shell": "yes"}, "'shell' must be true or false"),
        ({"run": ["x"], "always": 1}, "'always' must be true or false"),
        ({"run": ["x"], "needs": 3}, "'needs' must be a stage name or a list"),
        ({"run": ["x"], "timeout": -1}, "'timeout' must be a positive number"),
        ({"run": ["x"], "timeout": "10"}, "'timeout' must be a positive number"),
        ({"run": ["x"], "retry": 0}, "'retry.attempts' must be a whole number >= 1"),
        ({"run": ["x"], "retry": {"backoff": "1s"}}, "'retry.backoff' must be a number"),
        ({"run": ["x"], "matrix": ["a", "b"]}, "'matrix' must map a name to a list"),
        ({"run": ["x"], "matrix": {"py": "3.12"}}, "'matrix.py' must be a non-empty list"),
        ({"run": ["x"], "severity": "urgent"}, "'severity' must be one of info, low"),
        ({"run": ["x"], "if": "env.CI = 1"}, "bad 'if': unexpected '='"),
        ({"run": ["x"], "if": True}, "'if' must be a string expression"),
        ({"run": ["x"], "env": ["A=1"]}, "'env' must map variable names"),
    ],
)
def test_config_errors_name_stage_and_problem(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(StageConfigError) as info:
        parse_stages([{"name": "lint", **spec}], "kisys.yaml:2")
    assert str(info.value).startswith("stage 'lint' (kisys.yaml:2): ")
    assert problem in str(info.value)


def test_config_entry_without_name() -> None:
    with pytest.raises(StageConfigError, match=r"stages\[0\] \(config\): a stage needs a 'name'"):
        parse_stages([{"run": ["x"]}])


@pytest.mark.parametrize(
    ("stage", "problem"),
    [
        (Stage("x", needs="install"), "'needs' must be a tuple of stage names"),  # type: ignore[arg-type]
        (Stage("x", timeout=0), "'timeout' must be a positive number"),
        (Stage("x", retry=Retry(attempts=0)), "retry needs attempts >= 1"),
        (Stage("x", action="echo"), "'action' must be callable"),  # type: ignore[arg-type]
        (Stage("x", condition="env.A ==="), "bad 'if'"),
    ],
)
def test_stages_built_in_code_are_type_checked(stage: Stage, problem: str) -> None:
    with pytest.raises(StageConfigError, match=r"^stage 'x' \(plugin\): ") as info:
        build_graph([stage])
    assert problem in str(info.value)

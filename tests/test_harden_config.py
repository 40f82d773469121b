"""Issue 15 items 10, 20, 23 and 27 (YAML): bounded configuration, clear errors, no tracebacks."""

from __future__ import annotations

from pathlib import Path
import time

import pytest

from pytest_kisys.config_files import read_yaml
from pytest_kisys.errors import ConfigError
from pytest_kisys.settings import for_command
from pytest_kisys.settings import to_project_names
from pytest_kisys.stages import StageConfigError
from pytest_kisys.stages.condition import Condition
from pytest_kisys.stages.condition import ConditionError
from pytest_kisys.stages.config import parse_stages


pytest_plugins = ["pytester"]


def test_stage_matrix_over_the_cap_is_a_clear_error() -> None:
    matrix = {f"k{i}": [str(v) for v in range(10)] for i in range(8)}  # 10**8 stages
    started = time.monotonic()
    with pytest.raises(StageConfigError, match=r"expands to 100000000 stages.*at most 256"):
        parse_stages([{"name": "big", "run": ["true"], "matrix": matrix}])
    assert time.monotonic() - started < 30  # refused, not expanded


def test_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 9):
        refs = ", ".join([f"*a{n - 1}"] * 9)
        lines.append(f"a{n}: &a{n} [{refs}]")
    lines.append("stages:\n  - name: bomb\n    run: [\"true\"]\n    matrix: {x: *a8}")
    (tmp_path / "kisys.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="YAML aliases"):
        read_yaml(tmp_path)


def test_allow_list_merge_is_linear() -> None:
    names = [f"pkg{i}" for i in range(20_000)]
    started = time.monotonic()
    assert len(to_project_names(names + names, "allow", "test")) == 20_000
    settings = for_command({"allow": [",".join(names)]}, None)
    assert len(settings.allow) >= 20_000
    assert time.monotonic() - started < 5  # was 6.8 s for the merge alone


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    (tmp_path / "kisys.yaml").write_text("level: balanced\noffline: true\nlevel: paranoid\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'level'.*kisys.yaml:3 \(first at line 1\)"):
        read_yaml(tmp_path)


def test_yaml_nested_5000_levels_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "kisys.yaml").write_text("level: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested"):
        read_yaml(tmp_path)


def test_if_with_20000_parentheses_is_a_clear_error() -> None:
    with pytest.raises(ConditionError, match="nests more than"):
        Condition.parse("(" * 20_000 + "true" + ")" * 20_000)
    assert Condition.parse("((not (true)))").evaluate  # ordinary nesting still works


def test_if_naming_matrix_key_on_a_stage_without_matrix_is_an_error() -> None:
    with pytest.raises(StageConfigError, match=r"'matrix.python' is not a matrix key.*no matrix"):
        parse_stages([{"name": "s", "run": ["true"], "if": "matrix.python == '3.12'"}])
    with pytest.raises(StageConfigError, match=r"'matrix.pyton' is not a matrix key.*matrix.python"):
        parse_stages([{"name": "s", "run": ["true"], "if": "matrix.pyton == '3.12'",
                       "matrix": {"python": ["3.12"]}}])


@pytest.mark.parametrize("value", ["inf", "-inf", "1e999"])
def test_infinite_scan_timeout_is_refused(tmp_path: Path, value: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f'[tool.kisys]\nscan_timeout = "{value}"\n')
    with pytest.raises(ConfigError, match="scan_timeout"):
        for_command({}, tmp_path)


YAML_STAGES = """\
level: balanced
stages:
  - name: first
    run: [python, -c, "pass"]

  - name: second
    run: [python, -c, "pass"]
    needs: [first]
  - third: {run: [python, -c, "pass"]}
    fourth:
      run: [python, -c, "pass"]
"""


def test_each_yaml_stage_names_its_own_line(tmp_path: Path) -> None:
    """Item 20: a stage's source is its own line in kisys.yaml, not the ``stages:`` key's."""
    from pytest_kisys.stages.plugin import config_source

    (tmp_path / "kisys.yaml").write_text(YAML_STAGES)
    settings = for_command({}, tmp_path)
    stages = parse_stages(settings.stages, config_source(settings))
    assert {s.name: s.source for s in stages} == {
        "first": "kisys.yaml:3", "second": "kisys.yaml:6", "third": "kisys.yaml:9",
        "fourth": "kisys.yaml:10",
    }
    bad = YAML_STAGES.replace("needs: [first]", "neds: [first]")
    (tmp_path / "kisys.yaml").write_text(bad)
    settings = for_command({}, tmp_path)
    with pytest.raises(StageConfigError, match=r"stage 'second' \(kisys\.yaml:6\): unknown field 'neds'"):
        parse_stages(settings.stages, config_source(settings))


def test_pyproject_stages_name_their_index(tmp_path: Path) -> None:
    from pytest_kisys.stages.plugin import config_source

    (tmp_path / "pyproject.toml").write_text(
        '[tool.kisys]\nstages = [{name = "a", run = ["true"]}, {name = "b", run = ["true"]}]\n'
    )
    settings = for_command({}, tmp_path)
    stages = parse_stages(settings.stages, config_source(settings))
    assert [s.source for s in stages] == [
        "pyproject.toml [tool.kisys] stages[0]", "pyproject.toml [tool.kisys] stages[1]"
    ]


def test_if_naming_matrix_key_without_matrix_is_a_usage_error_in_a_run(
    pytester: pytest.Pytester,
) -> None:
    """Item 20 end to end: the run stops with a usage error naming the stage and its line."""
    pytester.makefile(
        ".yaml",
        kisys="stages:\n  - name: ok\n    run: [python, -c, pass]\n"
        "  - name: mx\n    run: [python, -c, pass]\n    if: matrix.python == '3.12'\n",
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("--kisys", "--kisys-scan", "none", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*stage 'mx' (kisys.yaml:4): bad 'if': 'matrix.python' is not a matrix key*no matrix*"]
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()

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

"""Settings: precedence, sources and every bad-configuration case, through real pytest runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_kisys.config_files import RawValue
from pytest_kisys.errors import ConfigError
from pytest_kisys.settings import resolve


@pytest.fixture(autouse=True)
def _clean_kisys_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("KISYS_", "OTEL_")) or name == "TRACEPARENT":
            monkeypatch.delenv(name)


def _usage_error(pytester: pytest.Pytester, *args: str) -> str:
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    return result.stderr.str()


# -- precedence and sources -----------------------------------------------------------------


def test_precedence_cli_over_env_over_pyproject_over_yaml(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.kisys]\nlevel = "autonomous"\nfail_on = "low"\nretries = 5\n'
    )
    (tmp_path / "kisys.yaml").write_text(
        "level: paranoid\nfail_on: medium\nretries: 1\ncache_ttl: 60\n"
    )
    settings = resolve(
        cli={"level": ["balanced"]},
        environ={"KISYS_FAIL_ON": "critical"},
        ini={},
        rootdir=tmp_path,
    )
    assert settings.level == "balanced"
    assert settings.source_of("level") == "command line --kisys-level"
    assert settings.fail_on == "critical"
    assert settings.source_of("fail_on") == "env KISYS_FAIL_ON"
    assert settings.retries == 5
    assert settings.source_of("retries") == f"{tmp_path / 'pyproject.toml'} [tool.kisys]"
    assert settings.cache_ttl == 60.0
    assert settings.source_of("cache_ttl") == f"{tmp_path / 'kisys.yaml'}:4"
    assert settings.backend == "auto"
    assert settings.source_of("backend") == "default"


def test_allow_lists_merge_across_sources_and_are_canonical(tmp_path: Path) -> None:
    (tmp_path / "kisys.yaml").write_text("allow: [Scikit_Learn]\n")
    settings = resolve(
        cli={"allow": ["tabulate", "Foo.Bar"]}, environ={"KISYS_ALLOW": "rich"}, ini={},
        rootdir=tmp_path,
    )
    assert settings.allow == ("scikit-learn", "rich", "tabulate", "foo-bar")


def test_trace_defaults_from_otel_traces_exporter(tmp_path: Path) -> None:
    settings = resolve(cli={}, environ={"OTEL_TRACES_EXPORTER": "otlp"}, ini={}, rootdir=tmp_path)
    assert (settings.trace, settings.source_of("trace")) == ("otlp", "env OTEL_TRACES_EXPORTER")
    settings = resolve(
        cli={"trace": ["console"]}, environ={"OTEL_TRACES_EXPORTER": "otlp"}, ini={},
        rootdir=tmp_path,
    )
    assert settings.trace == "console"


def test_config_paths_are_relative_to_rootdir(tmp_path: Path) -> None:
    (tmp_path / "kisys.yaml").write_text("report: out/r.json\nbaseline:\n  secrets: .sb\n")
    settings = resolve(cli={}, environ={}, ini={}, rootdir=tmp_path)
    assert settings.report == tmp_path / "out" / "r.json"
    assert settings.baseline["secrets"] == tmp_path / ".sb"


def test_ini_and_pyproject_conflict_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.kisys]\nlevel = "paranoid"\n')
    with pytest.raises(ConfigError, match="conflicting values"):
        resolve(
            cli={}, environ={}, ini={"level": RawValue("balanced", "tox.ini (kisys_level)")},
            rootdir=tmp_path,
        )


def test_invalid_inherited_traceparent_is_ignored(tmp_path: Path) -> None:
    settings = resolve(cli={}, environ={"TRACEPARENT": "garbage"}, ini={}, rootdir=tmp_path)
    assert settings.traceparent is None


# -- the switch, header and help -------------------------------------------------------------


def test_off_by_default_prints_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "kisys:" not in result.stdout.str()


@pytest.mark.parametrize(
    ("files", "args"),
    [
        ({}, ("--kisys",)),
        ({"pytest.ini": "[pytest]\nkisys = true\n"}, ()),
        ({"pyproject.toml": "[tool.kisys]\nenabled = true\n"}, ()),
        ({"kisys.yaml": "enabled: true\n"}, ()),
    ],
    ids=["flag", "ini", "pyproject", "yaml"],
)
def test_turned_on_by_flag_or_config(
    pytester: pytest.Pytester, files: dict[str, str], args: tuple[str, ...]
) -> None:
    for name, text in files.items():
        pytester.path.joinpath(name).write_text(text)
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest("--kisys-scan", "none", *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["kisys: level=balanced offline=false scan=none *"])


def test_verbose_header_names_sources(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.kisys]\nlevel = "paranoid"\n')
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest("--kisys", "--kisys-scan=none", "-v")
    result.stdout.fnmatch_lines(["kisys:   level = 'paranoid'  (*pyproject.toml [[]tool.kisys[]])"])


def test_help_lists_every_flag_with_defaults(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*pytest-kisys: test-time supply-chain guard:",
            "*--kisys *turn pytest-kisys on*",
            "*--kisys-level={paranoid,balanced,autonomous}*",
            "*(default: balanced*",
        ]
    )
    text = result.stdout.str()
    for flag in (
        "--kisys-offline", "--kisys-allow", "--kisys-deny", "--kisys-scan", "--kisys-fail-on",
        "--kisys-report", "--kisys-sarif", "--kisys-sbom", "--kisys-trace",
    ):
        assert flag in text
    assert "default: high" in text
    assert "default: all" in text


def test_configure_hook_called_with_settings(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        seen = []
        def pytest_kisys_configure(config, settings):
            seen.append(settings.level)
        def pytest_report_header(config):
            return [f"seen-by-conftest: {seen}"]
        """
    )
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest("--kisys", "--kisys-level=autonomous", "--kisys-scan=none")
    result.stdout.fnmatch_lines(["seen-by-conftest: ['autonomous']"])


# -- bad configuration: each is a UsageError naming key, file (and line) and what is allowed ----


def test_unknown_key_suggests(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.kisys]\nlevle = "paranoid"\n')
    err = _usage_error(pytester, "--kisys")
    assert "unknown key 'levle'" in err
    assert "pyproject.toml [tool.kisys]" in err
    assert "did you mean 'level'?" in err


def test_unknown_key_in_yaml_names_line(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("kisys.yaml").write_text("level: paranoid\nfail_onn: high\n")
    err = _usage_error(pytester, "--kisys")
    assert "kisys.yaml:2" in err
    assert "did you mean 'fail_on'?" in err


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('offline = "maybe"', "invalid value 'maybe' for 'offline'*expected true or false"),
        ('level = "lax"', "invalid value 'lax' for 'level'*paranoid, balanced, autonomous"),
        ('fail_on = "severe"', "invalid value 'severe' for 'fail_on'*low, medium, high, critical"),
        ("retries = -1", "invalid value -1 for 'retries'*a whole number >= 0"),
        ('retries = "three"', "invalid value 'three' for 'retries'*a whole number >= 0"),
        ("scan_timeout = -5", "invalid value -5 for 'scan_timeout'*a number >= 0"),
        ('trace_timeout = "soon"', "invalid value 'soon' for 'trace_timeout'*a number >= 0"),
        ("level = 3", "invalid value 3 for 'level'"),
        ('allow = ["numpy", "not a name"]', "'not a name' in 'allow'*is not a valid project name"),
        ('deny = ["--index-url=x"]', "'--index-url=x' in 'deny'*is not a valid project name"),
        ('ignore = [{id = "B101"}]', "ignores 'B101' without a reason"),
        (
            'ignore = [{id = "B101", reason = "ok", expires = "next week"}]',
            "unparseable expires 'next week'*YYYY-MM-DD",
        ),
        ('scan = "code,virus"', "invalid value 'code,virus' for 'scan'"),
        ('trace = "jaeger"', "invalid value 'jaeger' for 'trace'*file:PATH"),
        ('index = {url = "ftp://x"}', "'index.url'*an http:// or https:// URL"),
    ],
)
def test_bad_pyproject_values(pytester: pytest.Pytester, toml: str, expected: str) -> None:
    pytester.makepyprojecttoml(f"[tool.kisys]\n{toml}\n")
    err = _usage_error(pytester, "--kisys")
    assert "pyproject.toml [tool.kisys]" in err
    pattern = f"*{expected}*"
    assert any(__import__("fnmatch").fnmatch(line, pattern) for line in err.splitlines()), err


def test_malformed_yaml_names_line(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("kisys.yaml").write_text("level: balanced\nallow: [numpy\nfoo: 1\n")
    err = _usage_error(pytester, "--kisys")
    assert "malformed YAML" in err
    assert "kisys.yaml:" in err


def test_yaml_value_error_names_line(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("kisys.yaml").write_text("level: balanced\n\nretries: -2\n")
    err = _usage_error(pytester, "--kisys")
    assert "kisys.yaml:3" in err
    assert "'retries'" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [("- level: paranoid\n", "must be a mapping of settings"), ("", "is empty"), ("# c\n", "is empty")],
    ids=["list", "empty", "comment-only"],
)
def test_yaml_that_is_a_list_or_empty(pytester: pytest.Pytester, text: str, expected: str) -> None:
    pytester.path.joinpath("kisys.yaml").write_text(text)
    assert expected in _usage_error(pytester, "--kisys")


def test_flag_given_twice_with_conflicting_values(pytester: pytest.Pytester) -> None:
    err = _usage_error(pytester, "--kisys", "--kisys-fail-on=low", "--kisys-fail-on=high")
    assert "--kisys-fail-on was given 2 times with conflicting values ['low', 'high']" in err


def test_flag_given_twice_with_the_same_value_is_fine(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest("--kisys", "--kisys-scan=none", "--kisys-level=paranoid",
                                "--kisys-level=paranoid")
    result.assert_outcomes(passed=1)


def test_bad_env_value_names_variable(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KISYS_LEVEL", "yolo")
    err = _usage_error(pytester, "--kisys")
    assert "invalid value 'yolo' for 'level' in env KISYS_LEVEL" in err


def test_bad_ini_value_names_file(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nkisys_retries = many\n")
    err = _usage_error(pytester, "--kisys")
    assert "tox.ini (kisys_retries)" in err
    assert "a whole number >= 0" in err


def test_bad_config_ignored_when_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")
    pytester.path.joinpath("kisys.yaml").write_text("level: nonsense\n")
    pytester.runpytest().assert_outcomes(passed=1)

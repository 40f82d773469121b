"""The declared-test-dependency reader: PEP 735 groups, extras, requirements files, tox, tools."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
from pathlib import Path
import sys
import textwrap

import pytest

from pytest_kisys.resolve.declared import read_declared
from pytest_kisys.resolve.declared import RefusalReason
from pytest_kisys.resolve.declared import Source
from pytest_kisys.resolve.declared_tools import poetry_specifier


_EVENTS: list[str] = []
_WATCHING: list[bool] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _WATCHING and event in (
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "socket.connect",
        "socket.getaddrinfo",
    ):
        _EVENTS.append(event)


sys.addaudithook(_audit)


@contextlib.contextmanager
def no_io() -> Iterator[list[str]]:
    """Record every subprocess start and network connection attempt inside the block."""
    _EVENTS.clear()
    _WATCHING.append(True)
    try:
        yield _EVENTS
    finally:
        _WATCHING.pop()


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def by_name(declarations: object) -> dict[str, object]:
    return {d.name: d for d in declarations.requirements}  # type: ignore[attr-defined]


def test_dependency_group_with_include_group_and_line_numbers(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "demo"
        version = "1"

        [dependency-groups]
        base = ["coverage>=7"]
        tests = [
            "pytest-mock>=3",
            {include-group = "base"},
            "tomli ; python_version < '3.11'",
        ]
        lint = ["ruff"]
        """,
    )
    found = read_declared(tmp_path)
    names = by_name(found)
    assert set(names) == {"pytest-mock", "coverage", "tomli"}
    assert names["pytest-mock"].requested_by == "dependency-group tests (pyproject.toml:8)"
    assert names["coverage"].requested_by == "dependency-group base (pyproject.toml:6)"
    assert names["pytest-mock"].source is Source.DEPENDENCY_GROUP
    assert names["tomli"].requirement == 'tomli ; python_version < "3.11"'
    assert not found.refused


def test_include_group_cycle_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [dependency-groups]
        tests = [{include-group = "more"}, "six"]
        more = [{include-group = "tests"}]
        """,
    )
    found = read_declared(tmp_path)
    assert [d.name for d in found.requirements] == ["six"]
    assert [r.reason for r in found.refused] == [RefusalReason.CYCLE]
    assert "tests -> more -> tests" in found.refused[0].detail


def test_requirements_dev_with_own_extras_and_includes(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "demo"
        version = "1"

        [project.optional-dependencies]
        socks = ["pysocks>=1.7"]
        docs = ["sphinx"]
        """,
    )
    write(tmp_path, "requirements/base.txt", "attrs==23.2.0\n")
    write(tmp_path, "requirements/pins.txt", "attrs<24\nhypothesis==6.100.0\n")
    write(
        tmp_path,
        "requirements-dev.txt",
        """
        # tests
        -e .[socks]
        -r requirements/base.txt
        -c requirements/pins.txt
        pytest-httpbin>=2 \\
            ; python_version >= "3.8"
        """,
    )
    found = read_declared(tmp_path, project_extras=[])
    names = by_name(found)
    assert set(names) == {"pysocks", "attrs", "pytest-httpbin"}
    assert names["pysocks"].source is Source.PROJECT_EXTRA
    assert names["pysocks"].requested_by == "project extra socks (pyproject.toml:6)"
    assert names["attrs"].requested_by == "requirements/base.txt:1"
    assert names["attrs"].requirement == "attrs==23.2.0,<24"
    assert names["pytest-httpbin"].requested_by == "requirements-dev.txt:5"
    assert "requirements/pins.txt" in found.files


def test_all_project_extras_by_default_except_docs_and_conflicts(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "demo"
        version = "1"

        [project.optional-dependencies]
        fast = ["orjson"]
        old = ["numpy==1.26.4"]
        new = ["numpy==2.1.0"]
        docs = ["sphinx"]
        all = ["demo[fast]"]
        """,
    )
    found = read_declared(tmp_path)
    assert set(by_name(found)) == {"orjson", "numpy"}
    assert by_name(found)["numpy"].requirement == "numpy==1.26.4"
    assert found.warnings == (
        "project extra 'new' dropped: it pins numpy==2.1.0 and extra 'old' pins numpy==1.26.4",
    )
    chosen = read_declared(tmp_path, project_extras=["docs"])
    assert set(by_name(chosen)) == {"sphinx"}


def test_uv_declared_conflict_drops_the_later_extra(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "demo"
        version = "1"
        [project.optional-dependencies]
        a = ["six"]
        b = ["idna"]
        [tool.uv]
        conflicts = [[{extra = "a"}, {extra = "b"}]]
        """,
    )
    found = read_declared(tmp_path)
    assert set(by_name(found)) == {"six"}
    assert "'b' dropped: [tool.uv] conflicts" in found.warnings[0]


def test_tox_deps_and_extras(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [project]
        name = "demo"
        version = "1"
        [project.optional-dependencies]
        yaml = ["pyyaml"]
        """,
    )
    write(
        tmp_path,
        "tox.ini",
        """
        [tox]
        envlist = py311

        [testenv]
        extras = yaml
        deps =
            pytest-timeout
            py310: backports.zoneinfo
            {[base]deps}
        commands = pytest

        [testenv:lint]
        deps = ruff
        """,
    )
    found = read_declared(tmp_path, project_extras=[])
    names = by_name(found)
    assert set(names) == {"pytest-timeout", "pyyaml"}
    assert names["pytest-timeout"].requested_by == "tox.ini:7"
    assert names["pytest-timeout"].source is Source.TOX
    assert len(found.warnings) == 2


def test_hatch_pdm_poetry_groups(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [tool.poetry]
        name = "demo"
        [tool.poetry.group.test.dependencies]
        python = "^3.11"
        pytest-xdist = "^3.5"
        freezegun = {version = "~1.4", extras = ["x"]}
        local = {path = "../local"}
        theirs = {git = "https://example.invalid/x.git"}
        [tool.pdm.dev-dependencies]
        test = ["pytest-randomly>=3"]
        [tool.hatch.envs.default]
        dependencies = ["pytest-env"]
        """,
    )
    found = read_declared(tmp_path)
    names = by_name(found)
    assert names["pytest-xdist"].requirement == "pytest-xdist<4,>=3.5"
    assert names["freezegun"].requirement == "freezegun[x]<1.5,>=1.4"
    assert names["pytest-randomly"].source is Source.PDM
    assert names["pytest-env"].requested_by == "hatch env default (pyproject.toml:12)"
    assert {r.reason for r in found.refused} == {RefusalReason.PATH, RefusalReason.VCS}


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("^1.2.3", ">=1.2.3,<2"),
        ("^0.3", ">=0.3,<0.4"),
        ("~2.1", ">=2.1,<2.2"),
        ("*", ""),
        ("1.4", "==1.4"),
        (">=1,<3", ">=1,<3"),
    ],
)
def test_poetry_specifier(constraint: str, expected: str) -> None:
    assert poetry_specifier(constraint) == expected


def test_hostile_declarations_are_refused_without_io(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[project]\nname = "demo"\nversion = "1"\n')
    outside = tmp_path.parent / "outside-reqs.txt"
    outside.write_text("evil\n", encoding="utf-8")
    write(
        tmp_path,
        "requirements-dev.txt",
        f"""
        --index-url https://evil.invalid/simple
        --extra-index-url=https://evil.invalid/simple
        -f https://evil.invalid/wheels
        https://evil.invalid/pkg-1.0-py3-none-any.whl
        git+https://evil.invalid/repo.git#egg=thing
        thing @ git+https://evil.invalid/repo.git
        -e ../sibling
        /abs/path/pkg
        -r {outside}
        six==1.16.0 --hash=sha256:1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926
        requests
        """,
    )
    with no_io() as events:
        found = read_declared(tmp_path)
    assert events == []
    assert set(by_name(found)) == {"six", "requests"}
    reasons = [r.reason for r in found.refused]
    assert reasons == [
        RefusalReason.OPTION,
        RefusalReason.OPTION,
        RefusalReason.OPTION,
        RefusalReason.URL,
        RefusalReason.VCS,
        RefusalReason.VCS,
        RefusalReason.OPTION,
        RefusalReason.PATH,
        RefusalReason.PATH,
        RefusalReason.HASH,
    ]
    assert found.refused[0].requested_by == "requirements-dev.txt:1"
    assert "outside the project" in found.refused[8].detail
    assert all(r.detail for r in found.refused)


def test_declared_setting_adds_groups_and_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pyproject.toml",
        """
        [dependency-groups]
        ci = ["pytest-rerunfailures"]
        """,
    )
    write(tmp_path, "ci/reqs.txt", "pytest-sugar\n")
    found = read_declared(tmp_path, declared=["ci", "ci/reqs.txt"])
    assert set(by_name(found)) == {"pytest-rerunfailures", "pytest-sugar"}
    assert read_declared(tmp_path).requirements == ()


def test_unreadable_pyproject_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[project\nname=")
    found = read_declared(tmp_path)
    assert found.requirements == ()
    assert "pyproject.toml could not be read" in found.warnings[0]


def test_dev_group_only_when_no_test_group(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[dependency-groups]\ndev = ["ruff"]\ntests = ["pytest-mock"]\n')
    assert set(by_name(read_declared(tmp_path))) == {"pytest-mock"}
    write(tmp_path, "pyproject.toml", '[dependency-groups]\ndev = ["pytest-mock"]\n')
    assert set(by_name(read_declared(tmp_path))) == {"pytest-mock"}


def test_setup_cfg_extras(tmp_path: Path) -> None:
    write(
        tmp_path,
        "setup.cfg",
        """
        [metadata]
        name = demo

        [options.extras_require]
        tests =
            packaging
            pytest-asyncio ; python_version >= "3.8"
        old = six; idna
        docs = sphinx
        """,
    )
    found = read_declared(tmp_path)
    names = by_name(found)
    assert set(names) == {"packaging", "pytest-asyncio", "six", "idna"}
    assert names["pytest-asyncio"].requested_by == "extra tests (setup.cfg:7)"
    assert names["six"].source is Source.PROJECT_EXTRA

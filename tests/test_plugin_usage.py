"""Fixtures, markers, ini keys and options a suite uses, mapped to plugins through the table."""

from __future__ import annotations

from pathlib import Path
import textwrap

from pytest_kisys.resolve.plugintable import load_table
from pytest_kisys.resolve.plugintable import plugin_needs
from pytest_kisys.resolve.plugintable import PluginTable
from pytest_kisys.resolve.plugintable import Provides
from pytest_kisys.resolve.usage import config_usage
from pytest_kisys.resolve.usage import filter_category_module
from pytest_kisys.resolve.usage import read_ini
from pytest_kisys.resolve.usage import scan_usage


SOURCE = textwrap.dedent(
    """
    import pytest

    pytestmark = pytest.mark.asyncio

    @pytest.fixture
    def server(httpserver, tmp_path):
        return httpserver

    @pytest.fixture(name="renamed")
    def _impl():
        return 1

    @pytest.mark.parametrize("value, other", [(1, 2)])
    def test_one(value, other, server, mocker, renamed, flag=True, *args, **kw):
        pass

    @pytest.mark.usefixtures("benchmark")
    @pytest.mark.timeout(3)
    class TestX:
        async def test_two(self, caplog,
                           freezer):
            pass

    def helper(not_a_fixture):
        pass
    """
).encode()


def test_scan_usage_finds_requested_defined_and_markers() -> None:
    usage = scan_usage(SOURCE)
    fixtures = dict(usage.fixtures)
    assert set(fixtures) == {
        "httpserver",
        "tmp_path",
        "server",
        "mocker",
        "renamed",
        "benchmark",
        "caplog",
        "freezer",
    }
    assert fixtures["mocker"] == 15
    assert fixtures["freezer"] == 21
    assert set(usage.defined) == {"server", "renamed"}
    assert dict(usage.markers) == {"asyncio": 4, "timeout": 19}


def test_config_usage_reads_addopts_plugins_and_filters() -> None:
    usage = config_usage(
        {
            "addopts": "-ra --cov=pkg -n auto -p xdist.looponfail -p no:cacheprovider --strict-markers",
            "asyncio_mode": "auto",
            "markers": ["slow: slow tests", "network"],
            "required_plugins": "pytest-timeout>=2 pytest-env",
            "filterwarnings": [
                "error",
                "ignore::trio.TrioDeprecationWarning",
                "ignore::DeprecationWarning",
                "ignore::pytest.PytestUnraisableExceptionWarning",
            ],
        },
        "pyproject.toml",
    )
    assert usage.options == ("-r", "--cov", "-n", "--strict-markers")
    assert usage.plugins == ("xdist.looponfail",)
    assert usage.required_plugins == ("pytest-timeout>=2", "pytest-env")
    assert usage.markers == ("slow", "network")
    assert usage.filter_modules == (("trio", "ignore::trio.TrioDeprecationWarning"),)
    assert "asyncio_mode" in usage.ini_keys


def test_filter_category_module() -> None:
    assert filter_category_module("ignore:msg:sqlalchemy.exc.SADeprecationWarning") == "sqlalchemy.exc"
    assert filter_category_module("error::builtins.UserWarning") is None
    assert filter_category_module("error") is None


TABLE = PluginTable.from_json(
    {
        "plugins": {
            "pytest-mock": {"fixtures": ["mocker"], "pytest11": ["pytest_mock"]},
            "pytest-httpserver": {"fixtures": ["httpserver"], "pytest11": ["pytest_httpserver"]},
            "pytest-asyncio": {"markers": ["asyncio"], "ini": ["asyncio_mode"], "pytest11": ["asyncio"]},
            "pytest-cov": {"options": ["--cov"], "markers": ["no_cover"], "pytest11": ["pytest_cov"]},
            "pytest-freezegun": {"fixtures": ["freezer"], "pytest11": ["freezegun"]},
            "pytest-freezer": {"fixtures": ["freezer"], "pytest11": ["freezer"]},
            "pytest-timeout": {"markers": ["timeout"], "pytest11": ["timeout"]},
        }
    }
)


def test_plugin_needs_maps_unique_providers_and_reports_ambiguous() -> None:
    config = config_usage({"asyncio_mode": "auto", "addopts": "--cov=pkg"}, "pyproject.toml")
    needs, ambiguous = plugin_needs(
        [("tests/test_x.py", scan_usage(SOURCE))],
        config,
        table=TABLE,
        installed=lambda name: name == "pytest-timeout",
    )
    found = {n.distribution: n for n in needs}
    assert set(found) == {"pytest-mock", "pytest-httpserver", "pytest-asyncio", "pytest-cov"}
    assert found["pytest-mock"].reason == "fixture mocker in tests/test_x.py:15 (provided by pytest-mock)"
    assert found["pytest-asyncio"].provides is Provides.MARKER
    assert found["pytest-cov"].where == "pyproject.toml addopts"
    assert [(a.name, a.candidates) for a in ambiguous] == [
        ("freezer", ("pytest-freezegun", "pytest-freezer"))
    ]
    assert "declare the one you use" in ambiguous[0].hint()


def test_a_fixture_the_suite_defines_is_never_a_need() -> None:
    usage = scan_usage(
        b"import pytest\n@pytest.fixture\ndef mocker():\n    pass\ndef test_a(mocker):\n    pass\n"
    )
    needs, _ = plugin_needs([("t.py", usage)], config_usage({}), table=TABLE, installed=lambda n: False)
    assert needs == []


def test_bundled_table_maps_the_common_plugins() -> None:
    table = load_table()
    assert table.header["generated"]
    assert table.header["source"]
    assert (
        len(
            table.header["probed"]
            if isinstance(table.header["probed"], list)
            else range(table.header["probed"])
        )
        >= 150
    )
    assert table.providers(Provides.FIXTURE, "mocker") == ("pytest-mock",)
    assert table.providers(Provides.INI, "asyncio_mode") == ("pytest-asyncio",)
    assert table.providers(Provides.OPTION, "--cov") == ("pytest-cov",)
    assert table.providers(Provides.MARKER, "no_cover") == ("pytest-cov",)
    assert "pytest-httpserver" in table.providers(Provides.FIXTURE, "httpserver")
    assert "pytest-xdist" in table.providers(Provides.OPTION, "-n")


def test_read_ini_pyproject_and_setup_cfg(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nasyncio_mode = "auto"\n', encoding="utf-8"
    )
    assert read_ini(tmp_path / "pyproject.toml") == ({"asyncio_mode": "auto"}, "pyproject.toml")
    (tmp_path / "setup.cfg").write_text("[tool:pytest]\ntimeout = 5\n", encoding="utf-8")
    assert read_ini(tmp_path / "setup.cfg") == ({"timeout": "5"}, "setup.cfg")
    assert read_ini(None) == ({}, "pytest configuration")

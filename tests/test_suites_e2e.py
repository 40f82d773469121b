"""End to end: a suite goes green from a bare venv in one ``pytest --kisys``.

Declared test dependencies (a PEP 735 group, requirements-dev.txt with ``-e .[extra]``, tox
deps) are installed first; a pytest plugin kisys installs is active in the same run (its
option in ``addopts``, its ini key, its marker and its fixture all work, with the counts of a
run where it was preinstalled); a plugin found through the bundled table by its fixture; a
module named in ``filterwarnings``; a conftest import denied in CI prints the kisys section
and its hint before pytest's exit 4; hostile declarations are refused without a request.

Real ``python -m pytest`` runs in throwaway venvs, real pip installing real wheels from the
loopback index (:mod:`tests.support.pkgindex`).
"""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess
import sys
import textwrap
import time

from packaging.utils import canonicalize_name
import pytest

from tests import test_collect_e2e
from tests.support.pkgindex import build_wheel
from tests.support.pkgindex import isolated_pip_env
from tests.support.pkgindex import PackageIndex
from tests.test_collect_e2e import add_module_project
from tests.test_collect_e2e import Project


project = test_collect_e2e.project
"""The throwaway project, venv and loopback index of the import-resolution end-to-end tests."""

PLUGIN = "kisys-demo-plugin"
PLUGIN_SOURCE = textwrap.dedent(
    """
    import pytest

    def pytest_addoption(parser):
        parser.addoption("--demo-flag", default="0", help="demo option")
        parser.addini("demo_setting", "demo ini key", default="unset")

    def pytest_configure(config):
        config.addinivalue_line("markers", "demo_mark: a marker the demo plugin registers")

    @pytest.fixture
    def demo_value(request):
        return (request.config.getoption("--demo-flag"), request.config.getini("demo_setting"))
    """
)


def add_plugin(
    index: PackageIndex, name: str = PLUGIN, module: str = "kisys_demo_plugin", source: str = PLUGIN_SOURCE
) -> None:
    """A pytest plugin wheel: ``pytest11`` entry point, an option, an ini key, a marker, a fixture."""
    index.add_empty_project(name)
    first = time.time() - 3 * 365 * 86400
    for position, version in enumerate(("1.0", "1.1", "2.0")):
        dist_info = f"{canonicalize_name(name).replace('-', '_')}-{version}.dist-info"
        wheel = build_wheel(
            name,
            version,
            {
                f"{module}/__init__.py": source,
                f"{dist_info}/entry_points.txt": f"[pytest11]\n{name} = {module}\n",
            },
            top_level=[module],
        )
        index.add_artifact(name, version, wheel, upload_time=first + position * 30 * 86400)


PLUGIN_SUITE = textwrap.dedent(
    """
    import pytest

    @pytest.mark.demo_mark
    def test_option_and_ini(demo_value):
        assert demo_value == ("7", "hello")

    @pytest.mark.demo_mark
    @pytest.mark.parametrize("n", [1, 2])
    def test_param(demo_value, n):
        assert demo_value[0] == "7"

    def test_fails_on_purpose(demo_value):
        assert demo_value == ("nope", "nope")
    """
)


def test_declared_plugin_is_active_in_the_same_run(project: Project) -> None:
    add_plugin(project.index)
    project.configure(
        ini='addopts = "--demo-flag=7 --strict-markers --strict-config"\ndemo_setting = "hello"',
        extra_kisys="",
    )
    pyproject = project.pytester.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + f'\n[dependency-groups]\ntests = ["{PLUGIN}>=1.1"]\n', encoding="utf-8"
    )
    project.pytester.makepyfile(test_demo=PLUGIN_SUITE)
    result = project.run()
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- kisys -*",
            f"declared: {PLUGIN}>=1.1 (dependency-group tests (pyproject.toml:*))",
            f"installed: {PLUGIN}==2.0",
            f"activated plugin {PLUGIN}:{PLUGIN} for this run",
        ]
    )
    # The same suite with the plugin preinstalled, without kisys: the same counts.
    other = project.venv.copy_to(project.venv.root.parent / "preinstalled")
    subprocess.run(
        [other.python, "-m", "pip", "install", "-q", "--index-url", project.index.simple_url, PLUGIN],
        check=True,
        capture_output=True,
    )
    again = project.pytester.run(other.python, "-m", "pytest", "-p", "no:cacheprovider", timeout=120)
    again.assert_outcomes(passed=3, failed=1)


def test_plugin_found_by_its_fixture_through_the_table(project: Project) -> None:
    # A stand-in for pytest-mock on the loopback index: the bundled table maps "mocker" to it.
    add_plugin(
        project.index,
        "pytest-mock",
        "pytest_mock",
        "import pytest\n\n@pytest.fixture\ndef mocker():\n    return 'mocked'\n",
    )
    project.configure(allow=("pytest-mock",))
    project.pytester.makepyfile(test_uses="def test_mocker(mocker):\n    assert mocker == 'mocked'\n")
    result = project.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["plugin: pytest-mock for fixture mocker (test_uses.py:1)", "installed: pytest-mock==2.0"]
    )


def test_requirements_dev_with_own_extra_and_tox_deps(project: Project) -> None:
    for dist in ("kisys-extra-dep", "kisys-dev-dep", "kisys-tox-dep"):
        add_module_project(project.index, dist)
    project.configure()
    pyproject = project.pytester.path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "demo-proj"\nversion = "1"\n'
        '[project.optional-dependencies]\nfast = ["kisys-extra-dep"]\n' + pyproject.read_text(),
        encoding="utf-8",
    )
    project.pytester.makefile(".txt", **{"requirements-dev": "-e .[fast]\nkisys-dev-dep>=1.1\n"})
    project.pytester.makepyfile(
        test_all=(
            "import kisys_extra_dep, kisys_dev_dep, kisys_tox_dep\n"
            "def test_all():\n    assert kisys_extra_dep.VALUE == kisys_tox_dep.VALUE == 42\n"
        )
    )
    project.pytester.path.joinpath("tox.ini").write_text(
        "[testenv]\ndeps =\n    kisys-tox-dep\n", encoding="utf-8"
    )
    result = project.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines_random(
        [
            "declared: kisys-extra-dep (project extra fast (pyproject.toml:*))",
            "declared: kisys-dev-dep>=1.1 (requirements-dev.txt:2)",
            "declared: kisys-tox-dep (tox.ini:3)",
        ]
    )
    assert {"kisys_extra_dep", "kisys_dev_dep", "kisys_tox_dep"} <= project.installed()


def test_filterwarnings_module_is_installed_before_the_tests(project: Project) -> None:
    project.index.add_project(
        "kisys-fw-mod",
        ("1.0", "1.1", "2.0"),
        modules={"kisys_fw_mod/__init__.py": "class FwWarning(UserWarning):\n    pass\n"},
    )
    project.configure(
        allow=("kisys-fw-mod",),
        import_map={"kisys_fw_mod": "kisys-fw-mod"},
        ini='filterwarnings = ["ignore::kisys_fw_mod.FwWarning"]',
    )
    project.pytester.makepyfile(
        test_fw=(
            "import warnings\n"
            "def test_filter_applies():\n"
            "    import kisys_fw_mod\n"
            "    assert any(f[2] is kisys_fw_mod.FwWarning for f in warnings.filters)\n"
        )
    )
    result = project.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["installed: kisys-fw-mod==2.0"])
    assert "kisys_fw_mod" in project.installed()


def test_denied_conftest_import_prints_the_kisys_section_before_exit_4(project: Project) -> None:
    add_module_project(project.index, "kisys-denied-conf")
    project.configure(import_map={"kisys_denied_conf": "kisys-denied-conf"})
    project.pytester.makeconftest("import kisys_denied_conf\n")
    project.pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = project.run()
    assert result.ret == 4
    err = result.stderr.lines
    section = next(i for i, line in enumerate(err) if "- kisys -" in line)
    pytest_error = next(i for i, line in enumerate(err) if "ImportError while loading conftest" in line)
    assert section < pytest_error
    denied = [line for line in err[section:pytest_error] if line.startswith("denied: ")]
    assert denied, err
    assert "--kisys-allow kisys-denied-conf" in denied[0]
    # The hint's flag is one pytest accepts: with it the same run goes green.
    again = project.run("--kisys-allow", "kisys-denied-conf")
    again.assert_outcomes(passed=1)


def test_hostile_declarations_are_refused_without_a_request(project: Project) -> None:
    add_module_project(project.index, "kisys-good-dep")
    project.configure()
    project.pytester.makefile(
        ".txt",
        **{
            "requirements-dev": (
                f"--index-url {project.index.url}/evil/simple\n"
                f"{project.index.url}/evil/kisys_evil-1.0-py3-none-any.whl\n"
                "../outside-project\n"
                "git+https://example.invalid/evil.git#egg=kisys-evil\n"
                "kisys-good-dep\n"
            )
        },
    )
    project.pytester.makepyfile(test_ok="import kisys_good_dep\ndef test_ok():\n    pass\n")
    result = project.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines_random(
        [
            "refused declaration: requirements-dev.txt:1: '--index-url *' refused: installer options*",
            "refused declaration: requirements-dev.txt:2: '*' refused: URLs*",
            "refused declaration: requirements-dev.txt:3: '../outside-project' refused: local paths*",
            "refused declaration: requirements-dev.txt:4: 'git+*' refused: VCS links*",
        ]
    )
    assert not [p for p in project.index_paths() if "evil" in p]


def test_pytest_hint_flag_is_accepted_by_pytest(project: Project) -> None:
    add_module_project(project.index, "kisys-hint-dep")
    project.configure(import_map={"kisys_hint_dep": "kisys-hint-dep"})
    project.pytester.makepyfile(test_h="import kisys_hint_dep\ndef test_h():\n    pass\n")
    denied = project.run()
    line = next(line for line in denied.stdout.lines if line.startswith("denied: "))
    flags = line.split("run with ", 1)[1].split(" (or ", 1)[0].split()
    assert flags == ["--kisys-allow", "kisys-hint-dep"]
    project.run(*flags).assert_outcomes(passed=1)


@pytest.fixture(scope="session")
def kisys_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pytest-kisys built as a wheel (the editable dev install has no top-level ``.pth``)."""
    out = tmp_path_factory.mktemp("kisys-wheel")
    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(root),
        ],
        check=True,
        capture_output=True,
        env=isolated_pip_env(),
    )
    shutil.rmtree(root / "build", ignore_errors=True)
    (wheel,) = out.glob("pytest_kisys-*.whl")
    return wheel


def test_filterwarnings_error_with_a_missing_module_is_resolved_before_pytest_reads_it(
    project: Project, kisys_wheel: Path
) -> None:
    project.index.add_project(
        "kisys-fw-early",
        ("1.0", "1.1", "2.0"),
        modules={"kisys_fw_early/__init__.py": "class FwWarning(UserWarning):\n    pass\n"},
    )
    project.configure(ini='filterwarnings = ["error", "ignore::kisys_fw_early.FwWarning"]')
    pyproject = project.pytester.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + '\n[dependency-groups]\ntests = ["kisys-fw-early"]\n', encoding="utf-8"
    )
    project.pytester.makepyfile(
        test_fw=(
            "import warnings, kisys_fw_early\n"
            "def test_ignored():\n    warnings.warn(kisys_fw_early.FwWarning('x'))\n"
        )
    )
    subprocess.run(
        [project.venv.python, "-m", "pip", "install", "-q", "--no-deps", str(kisys_wheel)],
        check=True,
        capture_output=True,
    )
    # Without kisys, pytest stops on the filter before any plugin loads.
    plain = project.run(kisys=False)
    assert plain.ret != 0
    assert "Failed to import filter module 'kisys_fw_early'" in str(plain.stderr) + str(plain.stdout)
    result = project.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "before pytest reads its configuration: filterwarnings names kisys_fw_early*",
            "installed (before pytest): kisys-fw-early==2.0",
        ]
    )

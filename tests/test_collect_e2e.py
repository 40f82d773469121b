"""End to end: pytest --kisys in a throwaway venv installs a suite's missing imports from a
loopback index before conftests load, skips what is denied with the reason, and stays out
of the way when off.

Every run is a real ``python -m pytest`` in a copy of the session's base venv, with real
pip/uv installing real wheels from :mod:`tests.support.pkgindex`; nothing touches the dev venv.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import os
from pathlib import Path
import textwrap

import pytest

from tests.support.pkgindex import PackageIndex
from tests.support.venvs import Venv


ESTABLISHED = ("1.0", "1.1", "2.0")


@dataclass
class Project:
    """A test project under ``pytester.path`` run by the throwaway venv's interpreter."""

    pytester: pytest.Pytester
    venv: Venv
    index: PackageIndex
    first_request: int = 0
    """Requests before this test (the server's log spans the session)."""

    def configure(
        self,
        *,
        allow: tuple[str, ...] = (),
        import_map: dict[str, str] | None = None,
        extra_kisys: str = "",
        ini: str = "",
    ) -> None:
        mapping = ", ".join(f'{k} = "{v}"' for k, v in (import_map or {}).items())
        allowed = ", ".join(f'"{a}"' for a in allow)
        cache = self.venv.root.parent / "kisys-cache"
        self.pytester.makefile(
            ".toml",
            pyproject=textwrap.dedent(
                f"""
                [tool.pytest.ini_options]
                {ini}

                [tool.kisys]
                scan = "none"
                cache_dir = "{cache}"
                log_file = "{self.audit_log}"
                allow = [{allowed}]
                import_map = {{{mapping}}}
                index = {{url = "{self.index.simple_url}"}}
                {extra_kisys}
                """
            ),
        )

    def run(self, *args: str, kisys: bool = True) -> pytest.RunResult:
        flags = ["--kisys"] if kisys else []
        return self.pytester.run(
            self.venv.python,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-rs",
            *flags,
            *args,
            timeout=120,
        )

    def installed(self) -> set[str]:
        return {name.split("-")[0] for name in self.venv.own_dists()}

    @property
    def audit_log(self) -> Path:
        return self.venv.root.parent / "kisys-audit.jsonl"

    def install_batches(self) -> list[dict[str, object]]:
        """The installer's audit-log entries: one per batch that got as far as installing."""
        if not self.audit_log.exists():
            return []
        entries = [json.loads(line) for line in self.audit_log.read_text().splitlines()]
        return [e for e in entries if e.get("event") == "install"]

    def index_paths(self) -> list[str]:
        return [path for _, path in self.index.requests[self.first_request :]]


def add_module_project(index: PackageIndex, dist: str, versions: tuple[str, ...] = ESTABLISHED) -> str:
    """An established project whose wheel provides the module ``dist`` with dashes as underscores."""
    module = dist.replace("-", "_")
    index.add_project(dist, versions, modules={f"{module}/__init__.py": "VALUE = 42\n"})
    return module


@pytest.fixture
def project(
    pytester: pytest.Pytester,
    throwaway_venv: Venv,
    pkgindex: PackageIndex,
    isolated_pip: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Project:
    """A project, its venv and the index; CI=true so nothing could ever wait for an answer."""
    for name in list(os.environ):
        if name.startswith(("PYTEST_XDIST", "PYTEST_ADDOPTS", "KISYS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_INDEX_URL", pkgindex.simple_url)
    monkeypatch.setenv("CI", "true")
    return Project(pytester, throwaway_venv, pkgindex, len(pkgindex.requests))


def test_missing_imports_in_both_conftests_and_a_module_install_in_one_batch(
    project: Project,
) -> None:
    for dist in ("kisys-e2e-root", "kisys-e2e-sub", "kisys-e2e-mod"):
        add_module_project(project.index, dist)
    project.configure(
        allow=("kisys-e2e-root", "kisys-e2e-sub", "kisys-e2e-mod"),
        import_map={
            "kisys_e2e_root": "kisys-e2e-root",
            "kisys_e2e_sub": "kisys-e2e-sub",
            "kisys_e2e_mod": "kisys-e2e-mod",
        },
    )
    project.pytester.makeconftest("import kisys_e2e_root\n")
    project.pytester.makepyfile(
        **{
            "tests/conftest.py": "import kisys_e2e_sub\n",
            "tests/test_mod.py": (
                "import kisys_e2e_mod, kisys_e2e_root, kisys_e2e_sub\n"
                "def test_values():\n"
                "    assert kisys_e2e_mod.VALUE + kisys_e2e_root.VALUE + kisys_e2e_sub.VALUE == 126\n"
            ),
        }
    )
    result = project.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*- kisys -*",
            "*3 to install*",
            "resolved: import kisys_e2e_root -> kisys-e2e-root*",
            "installed: kisys-e2e-mod==2.0",
        ]
    )
    assert {"kisys_e2e_root", "kisys_e2e_sub", "kisys_e2e_mod"} <= project.installed()
    # One batch for all three (and so one consent and one resolver run).
    batches = project.install_batches()
    assert len(batches) == 1
    installed = batches[0]["installed"]
    assert isinstance(installed, list)
    assert sorted(item["name"] for item in installed) == [
        "kisys-e2e-mod",
        "kisys-e2e-root",
        "kisys-e2e-sub",
    ]


def test_lazy_import_failure_is_reported_with_the_marker_hint(project: Project) -> None:
    add_module_project(project.index, "kisys-e2e-lazy")
    project.configure(import_map={"kisys_e2e_lazy": "kisys-e2e-lazy"})
    project.pytester.makepyfile(
        test_lazy="def test_lazy():\n    import kisys_e2e_lazy\n\ndef test_fine():\n    pass\n"
    )
    result = project.run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "lazy import kisys_e2e_lazy (test_lazy.py:2) is missing and not installed*",
            "*- kisys summary -*",
            "1 test(s) failed importing 'kisys_e2e_lazy' inside the test (test_lazy.py::test_lazy);"
            " declare it with @pytest.mark.requires*",
        ]
    )
    assert "kisys_e2e_lazy" not in project.installed()


def test_guarded_import_stays_missing_without_error(project: Project) -> None:
    project.configure()
    project.pytester.makepyfile(
        test_guarded=(
            "try:\n    import kisys_e2e_guarded\nexcept ImportError:\n    kisys_e2e_guarded = None\n"
            "def test_guarded():\n    assert kisys_e2e_guarded is None\n"
        )
    )
    result = project.run()
    result.assert_outcomes(passed=1)
    assert not any("guarded" in path for path in project.index_paths())
    result.stdout.no_fnmatch_line("*kisys_e2e_guarded*")


def test_first_party_module_is_never_requested_from_the_index(
    project: Project, second_index: PackageIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The index has a project with the same name, allowed and even mapped: still never asked,
    # nor on pip's extra index (dependency confusion needs only one index to ask).
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", second_index.simple_url)
    add_module_project(project.index, "kisys-e2e-first")
    add_module_project(second_index, "kisys-e2e-first")
    project.configure(
        allow=("kisys-e2e-first",),
        import_map={"kisys_e2e_first": "kisys-e2e-first"},
        ini='pythonpath = ["src"]',
    )
    project.pytester.makepyfile(
        **{
            "src/kisys_e2e_first/__init__.py": "VALUE = 'local'\n",
            "tests/test_first.py": (
                "import kisys_e2e_first\ndef test_local():\n    assert kisys_e2e_first.VALUE == 'local'\n"
            ),
        }
    )
    result = project.run()
    result.assert_outcomes(passed=1)
    assert not [p for p in project.index_paths() if "first" in p]
    assert not [p for _, p in second_index.requests if "first" in p]
    assert "kisys_e2e_first" not in project.installed()


def test_requires_marker_with_and_without_version_on_class_module_and_param(project: Project) -> None:
    add_module_project(project.index, "kisys-e2e-marker")
    add_module_project(project.index, "kisys-e2e-param")
    add_module_project(project.index, "kisys-e2e-modmark")
    project.configure(allow=("kisys-e2e-marker", "kisys-e2e-param", "kisys-e2e-modmark"))
    project.pytester.makepyfile(
        test_markers=textwrap.dedent(
            """
            import importlib.metadata
            import pytest

            @pytest.mark.requires("kisys-e2e-marker>=1.1")
            class TestVersioned:
                def test_version(self):
                    assert importlib.metadata.version("kisys-e2e-marker") == "2.0"

            @pytest.mark.requires("kisys-e2e-marker")
            def test_plain():
                import kisys_e2e_marker
                assert kisys_e2e_marker.VALUE == 42

            @pytest.mark.parametrize("name", [
                "kisys-e2e-marker",
                pytest.param("kisys-e2e-param", marks=pytest.mark.requires("kisys-e2e-param==1.1")),
            ])
            def test_param(name):
                assert importlib.metadata.version(name)

            @pytest.mark.requires("kisys-e2e-marker>=9")
            def test_unsatisfiable():
                pass
            """
        )
    )
    project.pytester.makepyfile(
        test_module_mark=(
            "import pytest\n"
            "pytestmark = pytest.mark.requires('kisys-e2e-modmark<2')\n"
            "def test_module_level():\n"
            "    import kisys_e2e_modmark\n"
            "    assert kisys_e2e_modmark.VALUE == 42\n"
        )
    )
    result = project.run()
    result.assert_outcomes(passed=5, skipped=0)
    # Lazy imports that a marker brought in are not reported as missing.
    result.stdout.no_fnmatch_line("lazy import kisys_e2e_marker*")
    result.stdout.fnmatch_lines(["*1 kisys-skipped*"])
    result.stdout.fnmatch_lines(["*SKIPPED test_markers.py::test_unsatisfiable: kisys: kisys-e2e-marker>=9*"])
    assert {"kisys_e2e_marker", "kisys_e2e_param"} <= project.installed()
    assert project.venv.own_dists().get("kisys_e2e_param-1.1.dist-info") == "1.1"
    assert project.venv.own_dists().get("kisys_e2e_modmark-1.1.dist-info") == "1.1"


def test_ci_with_an_unknown_package_skips_with_the_reason_and_never_waits(
    project: Project,
) -> None:
    add_module_project(project.index, "kisys-e2e-unknown")
    project.configure(import_map={"kisys_e2e_unknown": "kisys-e2e-unknown"})
    project.pytester.makepyfile(
        test_marker=(
            "import pytest\n"
            "@pytest.mark.requires('kisys-e2e-unknown')\n"
            "def test_needs_it():\n    pass\n"
            "def test_other():\n    pass\n"
        ),
        test_module="import kisys_e2e_unknown\ndef test_in_module():\n    pass\n",
    )
    result = project.run()
    assert result.ret == 0
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "denied: kisys: kisys-e2e-unknown needs confirmation (nobody can answer: CI is set*); "
            "run with --kisys-allow kisys-e2e-unknown*",
            "*SKIPPED test_marker.py::test_needs_it: kisys: kisys-e2e-unknown *"
            "--kisys-allow kisys-e2e-unknown*",
            "*1 passed, 1 skipped, 1 kisys-skipped*",
        ]
    )
    assert result.duration < 60
    assert "kisys_e2e_unknown" not in project.installed()


def test_on_denied_error_fails_the_test(project: Project) -> None:
    add_module_project(project.index, "kisys-e2e-unknown")
    project.configure(extra_kisys='on_denied = "error"')
    project.pytester.makepyfile(
        test_marker="import pytest\n@pytest.mark.requires('kisys-e2e-unknown')\ndef test_x():\n    pass\n"
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*kisys: kisys-e2e-unknown *--kisys-allow kisys-e2e-unknown*"])


def test_safety_net_installs_a_dynamic_import_and_recollects(project: Project) -> None:
    add_module_project(project.index, "kisys-e2e-dyn")
    project.configure(allow=("kisys-e2e-dyn",), import_map={"kisys_e2e_dyn": "kisys-e2e-dyn"})
    project.pytester.makepyfile(
        test_dyn=(
            "import importlib\n"
            "NAME = 'kisys_e2e_' + 'dyn'\n"
            "mod = importlib.import_module(NAME)\n"
            "def test_dyn():\n    assert mod.VALUE == 42\n"
        )
    )
    result = project.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["installed during collection (missed by the static import reader): kisys-e2e-dyn==2.0"]
    )


def test_xdist_installs_once_and_both_workers_run(project: Project) -> None:
    add_module_project(project.index, "kisys-e2e-xd")
    project.configure(allow=("kisys-e2e-xd",), import_map={"kisys_e2e_xd": "kisys-e2e-xd"})
    body = "import os, time, kisys_e2e_xd\n" + "".join(
        f"def test_{n}():\n    time.sleep(0.2)\n    print(os.environ['PYTEST_XDIST_WORKER'])\n"
        for n in range(6)
    )
    project.pytester.makepyfile(test_xd=body)
    result = project.run("-n", "2", "-rA")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["installed: kisys-e2e-xd==2.0"])
    assert len([line for line in result.outlines if line.startswith("installed: ")]) == 1
    output = result.stdout.str()
    assert "gw0" in output
    assert "gw1" in output
    # Installed once, by the controller: the workers found it there.
    assert len(project.install_batches()) == 1


def test_malformed_requirement_is_a_collection_error_naming_test_and_string(
    project: Project,
) -> None:
    project.configure()
    project.pytester.makepyfile(
        test_bad=(
            "import pytest\n@pytest.mark.requires('https://evil.invalid/x.whl')\ndef test_x():\n    pass\n"
        )
    )
    result = project.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*test_bad.py::test_x: @pytest.mark.requires('https://evil.invalid/x.whl') is not a valid*"]
    )


@pytest.mark.parametrize("off", [(), ("-p", "no:kisys")], ids=["no-flag", "p-no-kisys"])
def test_plugin_off_gives_the_usual_errors(project: Project, off: tuple[str, ...]) -> None:
    project.configure()
    project.pytester.makepyfile(test_plain="import kisys_e2e_absent\ndef test_x():\n    pass\n")
    result = project.run(*off, kisys=False)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ModuleNotFoundError: No module named 'kisys_e2e_absent'*"])
    result.stdout.no_fnmatch_line("*- kisys -*")
    assert project.index_paths() == []


def test_unresolvable_import_keeps_the_usual_error_and_says_how_to_map_it(
    project: Project,
) -> None:
    project.configure()
    project.pytester.makepyfile(test_nobody="import kisys_e2e_nobody\ndef test_x():\n    pass\n")
    result = project.run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "not installed: import kisys_e2e_nobody (test_nobody.py:1): no trusted distribution*"
            "import_map = {kisys_e2e_nobody = *",
            "*ModuleNotFoundError: No module named 'kisys_e2e_nobody'*",
        ]
    )
    assert not [p for p in project.index_paths() if "nobody" in p]


def test_pre_collection_decisions_reach_the_hook_and_the_json_report(project: Project) -> None:
    module = add_module_project(project.index, "kisys-e2e-report")
    project.configure(allow=("kisys-e2e-report",), import_map={module: "kisys-e2e-report"})
    # A plugin loaded with -p exists before the pre-collection batch, so it sees its decisions.
    project.pytester.makepyfile(
        decision_probe=(
            "import json, pytest\n"
            "@pytest.hookimpl(optionalhook=True)\n"
            "def pytest_kisys_decision(config, decision):\n"
            "    with open('decisions.jsonl', 'a') as out:\n"
            "        out.write(json.dumps([decision.name, decision.action]) + '\\n')\n"
        ),
        test_uses=f"import {module}\n\ndef test_value():\n    assert {module}.VALUE == 42\n",
    )
    result = project.run("-p", "decision_probe", "--kisys-report", "report.json")
    result.assert_outcomes(passed=1)
    lines = (project.pytester.path / "decisions.jsonl").read_text().splitlines()
    seen = [json.loads(line) for line in lines]
    assert ["kisys-e2e-report", "allow"] in seen
    report = json.loads((project.pytester.path / "report.json").read_text())
    assert report["schema"] == "kisys-report/1"
    assert any(d["name"] == "kisys-e2e-report" and d["action"] == "allow" for d in report["decisions"])
    assert report["installs"], "the install batch is missing from the report"
    stages = {row["name"]: row["status"] for row in report["stages"]}
    assert stages["resolve"] == "passed"
    assert stages["install"] == "passed"


def test_verbose_run_lists_each_pre_collection_decision(project: Project) -> None:
    quiet_module = add_module_project(project.index, "kisys-e2e-quiet")
    loud_module = add_module_project(project.index, "kisys-e2e-verbose")
    project.configure(
        allow=("kisys-e2e-quiet", "kisys-e2e-verbose"),
        import_map={quiet_module: "kisys-e2e-quiet", loud_module: "kisys-e2e-verbose"},
    )
    project.pytester.makepyfile(test_q=f"import {quiet_module}\n\ndef test_q():\n    pass\n")
    quiet = project.run()
    quiet.assert_outcomes(passed=1)
    quiet.stdout.fnmatch_lines(["installed: kisys-e2e-quiet==2.0"])
    quiet.stdout.no_fnmatch_line("kisys: kisys-e2e-quiet*-> allow*")
    project.pytester.makepyfile(test_v=f"import {loud_module}\n\ndef test_v():\n    pass\n")
    loud = project.run("-v")
    loud.assert_outcomes(passed=2)
    loud.stdout.fnmatch_lines(["kisys: kisys-e2e-verbose==2.0 -> allow (*whitelisted*"])

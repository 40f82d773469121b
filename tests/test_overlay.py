"""Overlay mode: missing test dependencies go to a content-addressed overlay under the cache.

Real runs of ``python -m pytest --kisys`` in a throwaway venv (and in a real, non-venv
interpreter with a planted ``EXTERNALLY-MANAGED`` marker), installing real wheels from the
loopback index with pip/uv ``--target``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import sysconfig
import time

import pytest

from pytest_kisys.install.overlay import OverlayStore
from tests.support.venvs import Venv
from tests.test_collect_e2e import add_module_project
from tests.test_collect_e2e import Project
from tests.test_collect_e2e import project  # noqa: F401  (the fixture)


USES_IT = """
import os, subprocess, sys
import kisys_ov_mod

def test_in_process():
    assert kisys_ov_mod.VALUE == 42
    assert "overlays" in kisys_ov_mod.__file__

def test_a_subprocess_imports_it():
    out = subprocess.run(
        [sys.executable, "-c", "import kisys_ov_mod; print(kisys_ov_mod.__file__)"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "overlays" in out
"""


LEAN_REUSE = """
import sys

def test_reuse_imported_no_installer():
    # (install/batch.py is there: this project writes an audit log, whose writer it holds.)
    loaded = {"installer", "backends", "pip_backend", "uv_backend", "release_gate", "lock", "signals"}
    assert not {n for n in loaded if f"pytest_kisys.install.{n}" in sys.modules}
"""


def freeze_all(python: str) -> list[str]:
    proc = subprocess.run(
        [python, "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    return sorted(proc.stdout.splitlines())


def overlays(proj: Project) -> list[Path]:
    return [o.path for o in OverlayStore(proj.venv.root.parent / "kisys-cache").overlays()]


def setup(proj: Project, extra: str = "isolate = true") -> None:
    add_module_project(proj.index, "kisys-ov-mod")
    proj.configure(allow=("kisys-ov-mod",), import_map={"kisys_ov_mod": "kisys-ov-mod"}, extra_kisys=extra)
    proj.pytester.makepyfile(test_ov=USES_IT)


def test_the_environment_is_unchanged_and_a_second_run_installs_nothing(project: Project) -> None:  # noqa: F811
    setup(project)
    before = freeze_all(project.venv.python)
    result = project.run()
    result.assert_outcomes(passed=2)
    assert freeze_all(project.venv.python) == before
    assert not any(name.startswith("kisys_ov_mod") for name in project.venv.own_dists())
    (overlay,) = overlays(project)
    assert (overlay / "kisys_ov_mod" / "__init__.py").is_file()
    wheels = [p for p in project.index_paths() if p.endswith(".whl")]
    assert wheels
    # The reuse path needs none of the install machinery a run with everything installed
    # does not import either (the first run, which built the overlay, imported it).
    project.pytester.makepyfile(test_lean=LEAN_REUSE)
    again = project.run()
    again.assert_outcomes(passed=3)
    # Reused: nothing resolved, downloaded or installed, the same overlay.
    assert [p for p in project.index_paths() if p.endswith(".whl")] == wheels
    last = project.install_batches()[-1]
    assert last["installed"] == []
    assert last["backend"] == ""
    assert overlays(project) == [overlay]
    assert freeze_all(project.venv.python) == before


def test_a_changed_overlay_is_not_reused_but_built_again(project: Project) -> None:  # noqa: F811
    """An overlay whose files changed since it was built never reaches sys.path.

    Overlay mode from the command line here: ``--kisys-isolate`` is a switch, as documented.
    """
    setup(project, extra="")
    project.run("--kisys-isolate").assert_outcomes(passed=2)
    (overlay,) = overlays(project)
    module = overlay / "kisys_ov_mod" / "__init__.py"
    module.write_text("VALUE = 0  # changed after the overlay was built\n")
    again = project.run("-v", "--kisys-isolate")
    again.assert_outcomes(passed=2)  # VALUE == 42 again: the vetted wheel, not the edited file
    last = project.install_batches()[-1]
    assert any("changed since it was built; deleted, not reused" in n for n in last["notes"])  # type: ignore[union-attr]
    assert [i["name"] for i in last["installed"]] == ["kisys-ov-mod"]  # type: ignore[union-attr, index]
    assert "VALUE = 42" in module.read_text()
    assert overlays(project) == [overlay]  # the same content address, rebuilt


def test_an_overlay_of_a_now_denied_distribution_is_not_reused(project: Project) -> None:  # noqa: F811
    setup(project)
    project.run().assert_outcomes(passed=2)
    denied = project.run("-v", "--kisys-deny", "kisys-ov-mod")
    outcomes = denied.parseoutcomes()
    assert "passed" not in outcomes  # the overlay's module was never importable
    denied.stdout.fnmatch_lines(["*kisys-ov-mod*deny*"])


def test_xdist_workers_import_from_the_overlay(project: Project) -> None:  # noqa: F811
    setup(project)
    project.pytester.makepyfile(
        test_workers=(
            "import os, kisys_ov_mod\n"
            + "".join(
                f"def test_{n}():\n    print(os.environ['PYTEST_XDIST_WORKER'], kisys_ov_mod.__file__)\n"
                for n in range(4)
            )
        )
    )
    # --dist each: every worker runs every test, so both must import from the overlay (with
    # load balancing, a loaded machine may hand every test to one worker).
    result = project.run("-n", "2", "--dist", "each", "-rA")
    result.assert_outcomes(passed=12)
    lines = [line for line in result.outlines if line.startswith("gw")]
    assert {line.split()[0] for line in lines} == {"gw0", "gw1"}
    assert all("overlays" in line for line in lines)


@pytest.fixture
def managed_python(tmp_path: Path) -> Venv:
    """A real interpreter that is not a venv, whose own stdlib directory has EXTERNALLY-MANAGED.

    Its stdlib is this interpreter's, linked entry by entry into a directory of its own, so the
    marker is planted there and nowhere else; its site-packages reaches the dev environment.
    """
    base = Path(sys.base_prefix)
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    root = tmp_path / "system"
    stdlib = root / "lib" / version
    (stdlib / "site-packages").mkdir(parents=True)
    (root / "bin").mkdir()
    shutil.copy2(Path(sys._base_executable).resolve(), root / "bin" / "python")  # noqa: SLF001
    for entry in (base / "lib" / version).iterdir():
        if entry.name != "site-packages":
            (stdlib / entry.name).symlink_to(entry)
    (stdlib / "EXTERNALLY-MANAGED").write_text("[externally-managed]\nError=planted by a kisys test\n")
    dev_site = sysconfig.get_paths()["purelib"]
    (stdlib / "site-packages" / "_kisys_dev_env.pth").write_text(
        f"import site; site.addsitedir({dev_site!r})\n"
    )
    return Venv(root)


def test_an_externally_managed_interpreter_uses_the_overlay_and_says_so(
    project: Project, managed_python: Venv  # noqa: F811
) -> None:
    project.venv = managed_python
    setup(project, extra="")
    result = project.run("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*externally managed (PEP 668): installing into an overlay*"])
    assert not any(name.startswith("kisys_ov_mod") for name in managed_python.own_dists())
    assert len(overlays(project)) == 1


def test_kisys_tools_lists_and_prunes_overlays(tmp_path: Path) -> None:
    store = OverlayStore(tmp_path)
    for name, age_days in (("cpython3.11-aaaa-old", 40), ("cpython3.11-aaaa-new", 1)):
        path = store.root / name
        path.mkdir(parents=True)
        manifest = path / "kisys-overlay.json"
        manifest.write_text('{"interpreter": "cpython3.11-aaaa", "items": [["six", "1.16.0"]], "created": 0}')
        old = time.time() - age_days * 86400
        os.utime(manifest, (old, old))
    kisys = [sys.executable, "-m", "pytest_kisys", "tools"]
    listed = subprocess.run(
        [*kisys, "overlays", "--cache-dir", str(tmp_path)], capture_output=True, text=True
    )
    assert listed.returncode == 0
    assert listed.stdout.count("six==1.16.0") == 2
    pruned = subprocess.run(
        [*kisys, "prune", "--older-than", "30", "--cache-dir", str(tmp_path)], capture_output=True, text=True
    )
    assert "removed 1 overlay(s)" in pruned.stdout
    assert [o.path.name for o in store.overlays()] == ["cpython3.11-aaaa-new"]


def test_a_discarded_overlay_is_no_longer_listed(tmp_path: Path) -> None:
    """``Overlay.discard`` removes the manifest (what makes a directory an overlay) and the tree."""
    store = OverlayStore(tmp_path)
    path = store.root / "cpython3.11-bbbb-x"
    (path / "six").mkdir(parents=True)
    (path / "six" / "__init__.py").write_text("")
    (path / "kisys-overlay.json").write_text(
        '{"interpreter": "cpython3.11-bbbb", "items": [["six", "1.16.0"]], "created": 0, "stamp": "x"}'
    )
    (overlay,) = store.overlays()
    assert not overlay.intact()  # its stamp is not the tree's
    assert overlay.discard()
    assert store.overlays() == []
    assert not path.exists()


_FIRST_OVERLAY_RUN = """
import json, sys, sysconfig
from pathlib import Path
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.install.overlay import OverlayStore, reuse_existing
from pytest_kisys.settings import Settings

cache = Path(sys.argv[1])
purelib = sysconfig.get_paths()["purelib"]
listed = []
sys.addaudithook(lambda event, args: listed.append(str(args[0])) if event == "os.listdir" else None)
settings = Settings(rootdir=cache.parent, cache_dir=cache, isolate=True)
result = reuse_existing(
    [InstallRequest("kisys-not-installed-anywhere", "test")], settings, python=sys.executable
)
print(json.dumps({"result": result is None, "described": purelib in listed,
                  "overlays": len(OverlayStore(cache).overlays())}))
"""


def test_the_first_overlay_run_leaves_describing_the_environment_to_the_installer(tmp_path: Path) -> None:
    """With no overlay of this environment, the reuse check hands over before probing the
    environment: the installer probes it once (it was probed twice)."""
    proc = subprocess.run(
        [sys.executable, "-c", _FIRST_OVERLAY_RUN, str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout) == {"result": True, "described": False, "overlays": 0}

"""What ``pip install pytest-kisys`` adds to a fresh venv: the documented figure, and no plugins.

The dependencies come from wheels repacked from this environment (tests/support/wheelhouse.py)
and pytest-kisys from a wheel built from this checkout, installed with ``--no-index``: the
same distributions pip would take from the index, without the network.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
from pathlib import Path
import re
import subprocess

import pytest

from tests.support.wheelhouse import fresh_venv
from tests.support.wheelhouse import kisys_wheelhouse


ROOT = Path(__file__).resolve().parent.parent
_LIST = (
    "import importlib.metadata as m, json, sys; json.dump(sorted("
    "[[d.metadata['Name'], sorted(e.name for e in d.entry_points if e.group == 'pytest11')]"
    " for d in m.distributions()]), sys.stdout)"
)


def documented_footprint() -> int:
    """The figure in docs/installing.md (``<!-- footprint: N -->``)."""
    text = (ROOT / "docs" / "installing.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- footprint: (\d+) -->", text)
    assert match, "docs/installing.md has no <!-- footprint: N --> marker"
    return int(match.group(1))


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A venv without pip, then pytest-kisys installed into it from local wheels only."""
    base = tmp_path_factory.mktemp("footprint")
    wheels = kisys_wheelhouse(base / "wheels")
    return fresh_venv(base / "venv", wheels, ["pytest-kisys"], compile=False)


@pytest.fixture(scope="module")
def fresh_install(fresh_python: str) -> list[list[object]]:
    """Each distribution of :func:`fresh_python`'s venv with its pytest11 entry points."""
    python = fresh_python
    listed = subprocess.run([python, "-I", "-c", _LIST], capture_output=True, text=True, check=True)
    result: list[list[object]] = json.loads(listed.stdout)
    return result


def test_pip_install_adds_the_documented_number_of_distributions(
    fresh_install: list[list[object]],
) -> None:
    names = sorted(str(name) for name, _ in fresh_install)
    expected = documented_footprint()
    # Older opentelemetry-api (as pinned by other extras of this test environment) also needs
    # importlib-metadata and zipp; docs/installing.md says so next to the figure.
    otel_requires = importlib.metadata.requires("opentelemetry-api") or []
    if any(r.startswith("importlib-metadata") for r in otel_requires):
        expected += 2
    assert len(names) == expected, names
    assert len(names) <= 15
    assert "pytest" in names
    assert "pytest-kisys" in names
    for heavy in ("rich", "requests", "httpx", "anyio", "bandit", "detect-secrets", "pip-audit"):
        assert heavy not in names
    # The tool environment's build lock is install/lock.py's flock, not filelock.
    assert "filelock" not in names


def test_no_third_party_pytest_plugin_comes_with_it(fresh_install: list[list[object]]) -> None:
    plugins = {str(name): group for name, group in fresh_install if group}
    assert plugins == {"pytest-kisys": ["kisys"]}


_LOADERS = (
    "import sys, pytest\n"
    "code = pytest.main(['-q', '-p', 'no:cacheprovider', '--strict-markers'])\n"
    "print({n: type(m.__loader__).__name__ for n, m in sys.modules.items()\n"
    "       if n.startswith('pytest_kisys')})\n"
    "raise SystemExit(code)\n"
)


def test_an_off_run_compiles_only_the_small_entry_module_through_pytest(
    fresh_python: str, tmp_path: Path
) -> None:
    """pytest rewrites every module of an installed plugin it imports, anew on every run where
    it may not write bytecode: only the entry module and the package are imported that way, the
    options table, hookspecs and the switch from the installed files by the standard loader."""
    (tmp_path / "test_one.py").write_text(
        "import pytest\n\n@pytest.mark.requires('x')\ndef test_ok():\n    pass\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KISYS_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run(
        [fresh_python, "-c", _LOADERS], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the requires marker is registered
    loaders = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert loaders == {
        "pytest_kisys": "AssertionRewritingHook",
        "pytest_kisys.plugin": "AssertionRewritingHook",
        "pytest_kisys.options": "SourceFileLoader",
        "pytest_kisys.hookspecs": "SourceFileLoader",
        "pytest_kisys.switch": "SourceFileLoader",
    }
    assert not list(Path(fresh_python).parent.parent.rglob("*-pytest-*.pyc"))  # nothing written

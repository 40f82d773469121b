"""No scanner in the test process: every check runs its tool in a subprocess.

Both runs are real pytest subprocesses (``runpytest_subprocess``) with every check on; the
dependency check audits a loopback venv against the loopback OSV server, so nothing leaves
the machine.
"""

from __future__ import annotations

import json

import pytest

from tests.support.osv_server import AuditEnvs
from tests.support.osv_server import OSVServer


FAKE_AWS_KEY = "AKIAFAKEFAKEFAKE1234"
SCANNER_MODULES = ("bandit", "detect_secrets", "pip_audit", "requests", "rich", "stevedore")
# Written by a conftest after the session's checks have finished (pytest_unconfigure).
RECORDER = """
import json, os, sys

def pytest_unconfigure(config):
    with open(os.environ["KISYS_TEST_MODULES"], "w") as handle:
        json.dump(sorted({m.split(".")[0] for m in sys.modules}), handle)
"""


@pytest.fixture
def audited_offline(
    monkeypatch: pytest.MonkeyPatch, audit_envs: AuditEnvs, osv_server: OSVServer,
    isolated_pip: dict[str, str],
) -> None:
    """The deps check: a loopback venv against the loopback OSV server."""
    monkeypatch.setenv("PIPAPI_PYTHON_LOCATION", audit_envs.vulnerable)
    monkeypatch.setenv("KISYS_AUDIT_SERVICE", "osv")
    monkeypatch.setenv("KISYS_OSV_URL", osv_server.url)


def test_the_test_process_never_imports_a_scanner_with_every_check_on(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, audited_offline: None
) -> None:
    record = pytester.path / "modules.json"
    monkeypatch.setenv("KISYS_TEST_MODULES", str(record))
    monkeypatch.setenv("KISYS_CACHE_DIR", str(pytester.path / "cold-cache"))  # workers really run
    pytester.makeconftest(RECORDER)
    pytester.makepyfile(
        test_app="def test_ok():\n    pass\n",
        app="import subprocess\nsubprocess.call('ls', shell=True)\n",
        settings=f"AWS_KEY = '{FAKE_AWS_KEY}'\n",
    )
    result = pytester.runpytest_subprocess(
        "--kisys", "--kisys-scan", "all", "-p", "no:cacheprovider", "-p", "no:xdist"
    )
    # Every check ran and found what was planted.
    result.stdout.fnmatch_lines_random(
        [
            "bandit * (code): * finding(s)*",
            "pip-audit * (deps): 1 finding(s)*",
            "detect-secrets * (secrets): 1 finding(s)*",
        ]
    )
    assert result.ret == 16
    imported = set(json.loads(record.read_text()))
    assert "pytest_kisys" in imported  # the recorder ran in the test process
    assert imported.isdisjoint(SCANNER_MODULES), sorted(imported & set(SCANNER_MODULES))


def test_secrets_check_runs_under_filterwarnings_error_and_finds_a_planted_key(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nfilterwarnings = ["error"]\n\n[tool.kisys]\nscan = "secrets"\n'
    )
    pytester.makepyfile(
        test_warned="import warnings\n\ndef test_ok():\n    pass\n",
        conf=f"KEY = '{FAKE_AWS_KEY}'\n",
    )
    # Cold: a fresh cache, so the workers really run.
    monkeypatch.setenv("KISYS_CACHE_DIR", str(pytester.path / "cold-cache"))
    result = pytester.runpytest_subprocess("--kisys", "-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=1)
    assert result.ret == 16
    result.stdout.fnmatch_lines(
        ["detect-secrets * (secrets): 1 finding(s)*", "*AWSKeyDetector*conf.py:1*"]
    )
    result.stdout.no_fnmatch_line("*INCONCLUSIVE*")
    assert FAKE_AWS_KEY not in result.stdout.str() + result.stderr.str()

"""Installed but off, pytest-kisys has no behaviour and imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


HEAVY = ("bandit", "detect_secrets", "pip_audit", "opentelemetry", "httpx", "urllib3", "yaml")

_PROBE = textwrap.dedent(
    """
    import sys
    import pytest
    code = pytest.main(sys.argv[1:])
    heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
    print("HEAVY=" + ",".join(heavy))
    raise SystemExit(code)
    """
)


def _run_probe(cwd: object, *args: str) -> subprocess.CompletedProcess[str]:
    probe = _PROBE.format(heavy=HEAVY)
    return subprocess.run(
        [sys.executable, "-c", probe, "-q", "-p", "no:cacheprovider", *args],
        cwd=str(cwd),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_off_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")
    # A [tool.kisys] table that does not turn kisys on is read, but nothing heavy follows.
    pytester.makepyprojecttoml('[tool.kisys]\nlevel = "paranoid"\n')
    done = _run_probe(pytester.path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "HEAVY=\n" in done.stdout, done.stdout
    assert "kisys:" not in done.stdout


def test_plugin_is_loaded_when_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest("--trace-config")
    result.stdout.fnmatch_lines(["*kisys*pytest_kisys/plugin.py*"])


def test_disabled_with_p_no_kisys(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest("-p", "no:kisys", "--kisys")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --kisys*"])


def test_requires_marker_registered_when_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.requires("numpy>=1.26")
        def test_ok():
            pass
        """
    )
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=1)


def test_missing_import_error_unchanged_when_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import kisys_surely_missing_module\n\ndef test_ok():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ModuleNotFoundError: No module named 'kisys_surely_missing_module'*"])

"""Masking at pytest's own boundaries: reports, sections, parametrize ids, warnings, JUnit XML."""

from __future__ import annotations

import pytest


NAMED = "plain-value-under-a-secret-name"


def test_secret_named_environment_value_never_reaches_terminal_or_junit(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", NAMED)
    pytester.makepyfile(
        """
        import logging, os, warnings
        import pytest
        V = os.environ["MY_SERVICE_TOKEN"]

        def test_fails():
            local_copy = V
            print("printed", V)
            logging.getLogger("t").warning("logged %s", V)
            warnings.warn("warned " + V)
            assert local_copy == "other", "message " + V

        @pytest.mark.parametrize("v", [V])
        def test_param(v):
            raise ValueError("raised " + v)
        """
    )
    result = pytester.runpytest(
        "--kisys", "--kisys-scan", "none", "-rA", "--showlocals", "-v", "--junitxml=j.xml"
    )
    result.assert_outcomes(failed=2)
    out = result.stdout.str() + result.stderr.str()
    assert "printed ***" in out
    assert "test_param[***]" in out
    assert NAMED not in out
    assert NAMED not in (pytester.path / "j.xml").read_text()


def test_masking_off_shows_the_value(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", NAMED)
    monkeypatch.setenv("KISYS_MASK", "false")
    pytester.makepyfile("import os\ndef test_x():\n    assert 0, os.environ['MY_SERVICE_TOKEN']\n")
    result = pytester.runpytest("--kisys", "--kisys-scan", "none")
    result.assert_outcomes(failed=1)
    assert NAMED in result.stdout.str()

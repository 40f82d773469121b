"""Issue 15 item 24: malformed ``requires`` markers are collection errors naming the mistake."""

from __future__ import annotations

import pytest


pytest_plugins = ["pytester"]


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("requires(42)", "*requires(42): each argument must be a requirement string*"),
        ("requires(None)", "*requires(None): each argument must be a requirement string*"),
        ('requires(name="numpy")', "*requires(name=...): keyword arguments are not accepted*"),
    ],
)
def test_malformed_requires_marker_is_a_clear_collection_error(
    pytester: pytest.Pytester, marker: str, expected: str
) -> None:
    pytester.makepyfile(
        test_m=f"import pytest\n\n\n@pytest.mark.{marker}\ndef test_m():\n    pass\n"
    )
    result = pytester.runpytest_subprocess("--kisys", "--kisys-scan", "none", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error stops the run
    result.stdout.fnmatch_lines([expected])
    assert "--kisys-allow 42" not in result.stdout.str()
    assert "--kisys-allow None" not in result.stdout.str()

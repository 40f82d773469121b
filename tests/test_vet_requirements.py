"""Requirement parsing: a corpus of bad strings rejected before any I/O, and normalisation."""

from __future__ import annotations

import pytest

from pytest_kisys.errors import RequirementError
from pytest_kisys.vet.interface import VetRequest
from pytest_kisys.vet.requirements import parse_requirement


BAD = [
    # empty and blank
    "", " ", "\t", "\n",
    # pip options / option injection
    "-e .", "--index-url=http://evil.example/simple", "-r requirements.txt", "--pre numpy",
    "-i http://evil.example", "--extra-index-url http://x", "-c constraints.txt", " -e git+x",
    "--no-deps", "-U numpy",
    # URLs and direct references
    "https://evil.example/pkg.whl", "http://127.0.0.1/x.tar.gz", "file:///tmp/x.whl",
    "numpy @ https://evil.example/numpy.whl", "pkg@http://x", "ftp://host/pkg.zip",
    "pkg @ file:///tmp/pkg", "name@git+https://github.com/a/b",
    # VCS references
    "git+https://github.com/psf/requests", "git+ssh://git@github.com/a/b.git",
    "hg+https://hg.example/repo", "svn+svn://svn.example/repo", "bzr+lp:project",
    "git://github.com/a/b",
    # file paths and archives
    "./local", "../sibling", "/abs/path", "~/pkg", "dir/subdir", "pkg.whl",
    "numpy-1.0.tar.gz", "thing.zip", "C:\\pkgs\\x.whl", "src/pkg", ".",
    # shell metacharacters
    "numpy; rm -rf /", "numpy && curl evil", "numpy | sh", "numpy`id`", "$(whoami)",
    "numpy$IFS", "numpy > /tmp/x", "numpy>=1;python_version>'3';echo", "numpy{a,b}",
    "numpy#egg", "num?py", "numpy%20", "numpy^2", "'numpy'", '"numpy"',
    # control and whitespace inside the name
    "num\x00py", "numpy\x1b[31m", "num\rpy", "num py", "num\tpy>=1", "numpy\x7f",
    # non-ASCII and confusables
    "n\u0443mpy", "reqυests", "numpy\u200b", "ｎｕｍｐｙ", "pandas\u00a0", "café",
    # names too long, invalid names, invalid specifiers
    "a" * 101, "a" * 150 + ">=1", "_private", "pkg-", ".pkg", "pkg..", "numpy>=", "numpy==1.0.*.*",
    "numpy>>1", "numpy=1.0", "numpy[", "numpy[extra", "numpy (>=1", "numpy ; python_version <",
    "numpy ; bogus_marker == '1'", "[extra]", ">=1.0", "numpy,scipy",
]  # fmt: skip


def test_corpus_is_large_enough() -> None:
    assert len(set(BAD)) >= 60


@pytest.mark.parametrize("text", BAD)
def test_bad_requirements_are_rejected_with_a_clear_message(text: str) -> None:
    with pytest.raises(RequirementError) as info:
        parse_requirement(text)
    message = str(info.value)
    assert message.startswith("invalid requirement ")
    assert ascii(text if len(text) <= 120 else text[:117] + "...") in message
    assert "accepted: a PEP 508 requirement" in message


@pytest.mark.parametrize(
    ("text", "name", "extras", "specifier", "marker", "normal"),
    [
        ("numpy", "numpy", (), "", None, "numpy"),
        ("NumPy>=1.26", "numpy", (), ">=1.26", None, "numpy>=1.26"),
        ("Typing_Extensions", "typing-extensions", (), "", None, "typing-extensions"),
        ("requests[socks,Security]==2.32.3", "requests", ("security", "socks"), "==2.32.3", None,
         "requests[security,socks]==2.32.3"),
        ('pytest ; python_version >= "3.11"', "pytest", (), "", 'python_version >= "3.11"',
         'pytest ; python_version >= "3.11"'),
        ("zope.interface ~= 6.0", "zope-interface", (), "~=6.0", None, "zope-interface~=6.0"),
        ("pkg (>=1.0, !=1.5)", "pkg", (), "!=1.5,>=1.0", None, "pkg!=1.5,>=1.0"),
        ("a" * 100, "a" * 100, (), "", None, "a" * 100),
    ],
)  # fmt: skip
def test_good_requirements_are_normalised(text, name, extras, specifier, marker, normal) -> None:
    parsed = parse_requirement(text)
    assert (parsed.name, parsed.extras, parsed.marker) == (name, extras, marker)
    assert parsed.specifier == specifier
    assert str(parsed) == normal
    assert parse_requirement(str(parsed)) == parse_requirement(str(parsed))
    assert parsed.raw == text


def test_exact_version_and_marker_evaluation() -> None:
    assert parse_requirement("numpy==1.26.4").exact_version() == "1.26.4"
    assert parse_requirement("numpy>=1").exact_version() is None
    assert parse_requirement("numpy==1.*").exact_version() is None
    old = parse_requirement('numpy ; python_version < "3.0"')
    assert not old.applies()
    assert old.applies({"python_version": "2.7"})
    assert VetRequest.of("NumPy==2.0", "test_x.py").pinned_version == "2.0"

"""What ``kisys vet`` and the installer keep or fetch ahead, answering exactly as without it.

Typosquat verdicts remembered between runs (``vet/verdicts.py``), the PEP 503 rule without
``packaging.utils`` (``pep503.py``), the bare-name path of the requirement parser, and index
answers fetched ahead of :meth:`Vetter.vet` (``Vetter.prefetch``). Real loopback index, real
cache directories.
"""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as packaging_canonicalize
from packaging.utils import InvalidName as PackagingInvalidName
import pytest

from pytest_kisys.errors import CacheCorruptWarning
from pytest_kisys.pep503 import canonicalize_name
from pytest_kisys.pep503 import InvalidName
from pytest_kisys.settings import IndexSettings
from pytest_kisys.settings import Settings
from pytest_kisys.vet.interface import VetRequest
from pytest_kisys.vet.requirements import parse_requirement
from pytest_kisys.vet.typosquat import popular_checker
from pytest_kisys.vet.verdicts import VerdictCache
from pytest_kisys.vet.vetter import Vetter
from tests.support.pkgindex import PackageIndex


NAMES = ["reqeusts", "numpyy", "python-requests", "djangoo", "kisys-bench-00", "requests", "a", "x-y"]
SPELLINGS = ["Django", "oslo.concurrency", "Foo__Bar", "a", "A-B_C.d", "x..y", "x-", "-x", "é", "a b", ""]


@pytest.mark.parametrize("name", SPELLINGS)
def test_pep503_matches_packaging(name: str) -> None:
    assert canonicalize_name(name) == packaging_canonicalize(name)
    try:
        expected: str | None = packaging_canonicalize(name, validate=True)
    except PackagingInvalidName:
        expected = None
    if expected is None:
        with pytest.raises(InvalidName):
            canonicalize_name(name, validate=True)
    else:
        assert canonicalize_name(name, validate=True) == expected


@pytest.mark.parametrize(
    "text", ["foo", " Foo_Bar ", "x.y-z", "A1", "foo[bar]", "foo>=1", "foo ; os_name == 'posix'"]
)
def test_bare_names_parse_as_the_pep508_parser_would(text: str) -> None:
    parsed, reference = parse_requirement(text), Requirement(text)
    assert parsed.name == packaging_canonicalize(reference.name)
    assert parsed.extras == tuple(sorted(reference.extras))
    assert parsed.specifier == str(reference.specifier)
    assert parsed.marker == (str(reference.marker) if reference.marker else None)


def test_remembered_verdicts_are_the_checkers(tmp_path: Path) -> None:
    checker = popular_checker()
    first = VerdictCache(tmp_path)
    computed = {name: first.match(name, checker.match) for name in NAMES}
    assert computed == {name: checker.match(name) for name in NAMES}
    assert computed["reqeusts"] is not None
    assert computed["reqeusts"].target == "requests"
    first.save()

    def never(name: str) -> None:
        raise AssertionError(f"{name} was computed again")

    again = VerdictCache(tmp_path)
    assert {name: again.match(name, never) for name in NAMES} == computed


def test_verdicts_of_other_inputs_are_not_used(tmp_path: Path) -> None:
    path = tmp_path / "typosquat" / "verdicts.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"digest": "an older list", "verdicts": {"reqeusts": None}}))
    cache = VerdictCache(tmp_path)
    found = cache.match("reqeusts", popular_checker().match)
    assert found is not None
    assert found.target == "requests"


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe not json",
        b'{"digest": "x"}',
        b"[]",
        b'{"digest": "x", "verdicts": {"a": ["t", "nope", 1]}}',
    ],
)
def test_a_damaged_verdict_file_is_discarded_with_a_warning(tmp_path: Path, content: bytes) -> None:
    from pytest_kisys.vet.verdicts import inputs_digest

    path = tmp_path / "typosquat" / "verdicts.json"
    path.parent.mkdir()
    path.write_bytes(content.replace(b'"x"', json.dumps(inputs_digest()).encode()))
    cache = VerdictCache(tmp_path)
    with pytest.warns(CacheCorruptWarning, match="typosquat verdict file"):
        found = cache.match("numpyy", popular_checker().match)
    assert found is not None
    assert found.target == "numpy"
    assert not path.exists()
    cache.save()
    assert "numpyy" in json.loads(path.read_text())["verdicts"]


@pytest.fixture
def make_vetter(pkgindex: PackageIndex, tmp_path: Path) -> Callable[..., Vetter]:
    def make(**overrides: Any) -> Vetter:
        settings = Settings(
            index=IndexSettings(url=pkgindex.simple_url, timeout=2.0),
            cache_dir=tmp_path / "cache",
            **overrides,
        )
        return Vetter(settings)

    return make


def test_prefetched_answers_are_used_once_as_fetched(
    pkgindex: PackageIndex, make_vetter: Callable[..., Vetter]
) -> None:
    for name in ("kisys-pre-a", "kisys-pre-b"):
        pkgindex.add_project(name, versions=("1.0", "1.1", "1.2"))
    before = len(pkgindex.requests)
    with make_vetter(deny=("kisys-pre-denied",)) as vetter:
        vetter.prefetch(["kisys-pre-a", "Kisys_Pre.B", "kisys-pre-denied"])
        asked = list(pkgindex.requests)
        fetched = {path.split("/")[2] for _, path in asked[before:]}
        assert fetched == {"kisys-pre-a", "kisys-pre-b"}  # the denied name: vet never looks it up
        first = vetter.vet([VetRequest.of(n, "test") for n in ("kisys-pre-a", "kisys-pre-b")])
        assert pkgindex.requests == asked  # nothing asked twice
        assert [d.evidence["index"]["source"] for d in first] == ["network", "network"]
        second = vetter.vet([VetRequest.of("kisys-pre-a", "test")])
    assert second[0].evidence["index"]["source"] == "cache"  # as after any first lookup


def test_nothing_is_prefetched_offline(pkgindex: PackageIndex, make_vetter: Callable[..., Vetter]) -> None:
    before = list(pkgindex.requests)
    with make_vetter(offline=True) as vetter:
        vetter.prefetch(["kisys-pre-offline"])
    assert pkgindex.requests == before

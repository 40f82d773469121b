"""The vetter end to end against the real loopback index: signals, faults, levels, cache, offline."""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
import socket
import time
from typing import Any

import pytest

from pytest_kisys.record import RunRecord
from pytest_kisys.settings import IndexSettings
from pytest_kisys.settings import Settings
from pytest_kisys.vet.cache import CacheCorruptWarning
from pytest_kisys.vet.interface import Decision
from pytest_kisys.vet.interface import VetRequest
from pytest_kisys.vet.vetter import Vetter
from tests.support.pkgindex import PackageIndex


DAY = 86400.0
MakeVetter = Callable[..., Vetter]


@pytest.fixture
def make_vetter(pkgindex: PackageIndex, tmp_path: Path):
    """Build vetters pointed at the loopback index with a per-test cache; closes them all."""
    made: list[Vetter] = []

    def make(**overrides: Any) -> Vetter:
        index = overrides.pop("index", IndexSettings(url=pkgindex.simple_url, timeout=1.0))
        kwargs: dict[str, Any] = {"index": index, "cache_dir": tmp_path / "cache", "retries": 2}
        vetter_kwargs = {k: overrides.pop(k) for k in ("clock", "record", "echo") if k in overrides}
        kwargs.update(overrides)
        vetter = Vetter(Settings(**kwargs), **vetter_kwargs)
        made.append(vetter)
        return vetter

    yield make
    for vetter in made:
        vetter.close()


def vet_one(vetter: Vetter, text: str, **kwargs: Any) -> Decision:
    [decision] = vetter.vet([VetRequest.of(text, "test", **kwargs)])
    return decision


def mature(index: PackageIndex, name: str, **kwargs: Any) -> None:
    """An old, well-released project with wheels."""
    index.add_project(name, versions=("1.0", "1.1", "1.2", "2.0"), **kwargs)


def reasons(decision: Decision) -> str:
    return " | ".join(decision.reasons)


def test_nonexistent_project_is_blocked(make_vetter: MakeVetter) -> None:
    decision = vet_one(make_vetter(), "kisys-no-such-project")
    assert decision.action == "block"
    assert "does not exist on http://127.0.0.1:" in reasons(decision)
    assert decision.evidence["index"]["exists"] is False


def test_all_releases_yanked_is_blocked(pkgindex: PackageIndex, make_vetter: MakeVetter) -> None:
    pkgindex.add_project("kisys-yanked", versions=("1.0", "1.1", "1.2"), yanked="broken")
    decision = vet_one(make_vetter(level="autonomous"), "kisys-yanked")
    assert decision.action == "block"
    assert reasons(decision) == "every release of kisys-yanked is yanked"


def test_one_day_old_single_release_needs_confirmation_with_warning(
    pkgindex: PackageIndex, make_vetter: MakeVetter
) -> None:
    pkgindex.add_project("kisys-fresh", upload_time=time.time() - DAY)
    decision = vet_one(make_vetter(level="autonomous"), "kisys-fresh")
    assert decision.action == "confirm"
    assert "WARNING: very new: first upload 1.0 days ago" in decision.reasons
    assert "WARNING: few releases: 1" in decision.reasons


def test_sdist_only_needs_confirmation(pkgindex: PackageIndex, make_vetter: MakeVetter) -> None:
    pkgindex.add_project("kisys-sdist", versions=("1.0", "1.1", "1.2"), sdist_only=True)
    decision = vet_one(make_vetter(level="autonomous"), "kisys-sdist")
    assert decision.action == "confirm"
    assert "sdist only" in reasons(decision)
    assert decision.evidence["index"]["has_wheels"] is False


def test_typosquat_existing_is_confirm_and_missing_is_block(
    pkgindex: PackageIndex, make_vetter: MakeVetter
) -> None:
    mature(pkgindex, "numpyy")
    vetter = make_vetter(level="autonomous")
    existing, missing = vetter.vet([VetRequest.of("numpyy"), VetRequest.of("reqeusts")])
    assert existing.action == "confirm"
    assert existing.evidence["typosquat_of"] == "numpy"
    assert "did you mean numpy?" in reasons(existing)
    assert missing.action == "block"
    assert missing.evidence["typosquat_of"] == "requests"
    assert "(did you mean requests?)" in reasons(missing)


def test_malicious_list_hit_is_blocked_without_asking_the_index(
    pkgindex: PackageIndex, make_vetter: MakeVetter
) -> None:
    mature(pkgindex, "0x000testqwe")
    before = len(pkgindex.requests)
    decision = vet_one(make_vetter(allow=("0x000testqwe",)), "0x000testqwe")
    assert decision.action == "block"
    assert "known-malicious list" in reasons(decision)
    assert len(pkgindex.requests) == before


def test_deny_list_wins_over_whitelist(make_vetter: MakeVetter) -> None:
    decision = vet_one(make_vetter(deny=("NumPy",), sources={"deny": "pyproject.toml"}), "numpy")
    assert decision.action == "block"
    assert reasons(decision) == "numpy is on the deny list (pyproject.toml)"


@pytest.mark.parametrize(
    ("level", "whitelisted", "unknown", "transitive"),
    [
        ("paranoid", "confirm", "confirm", "confirm"),
        ("balanced", "allow", "confirm", "allow"),
        ("autonomous", "allow", "allow", "allow"),
    ],
)
def test_level_table(
    pkgindex: PackageIndex, make_vetter: MakeVetter, level, whitelisted, unknown, transitive
) -> None:
    for name in ("tqdm", "kisys-unknown-clean", "certifi"):
        mature(pkgindex, name)
    vetter = make_vetter(level=level)
    requirement = VetRequest.of("certifi")
    dependency = VetRequest(requirement.requirement, transitive_of="tqdm")
    decisions = vetter.vet([VetRequest.of("tqdm"), VetRequest.of("kisys-unknown-clean"), dependency])
    assert [d.action for d in decisions] == [whitelisted, unknown, transitive]
    assert all(d.level == level for d in decisions)


def test_runtime_and_settings_whitelist(pkgindex: PackageIndex, make_vetter: MakeVetter) -> None:
    mature(pkgindex, "kisys-trusted")
    mature(pkgindex, "kisys-later")
    vetter = make_vetter(allow=("Kisys_Trusted",))
    assert vet_one(vetter, "kisys-trusted").action == "allow"
    assert vet_one(vetter, "kisys-later").action == "confirm"
    vetter.whitelist.add("KISYS.later")
    assert vet_one(vetter, "kisys-later").action == "allow"
    assert "dataclasses" not in vetter.whitelist


def test_pinned_version_missing_or_yanked(pkgindex: PackageIndex, make_vetter: MakeVetter) -> None:
    pkgindex.add_project("kisys-pins", versions=("1.0", "1.1", "1.2"), yanked=["1.1"])
    vetter = make_vetter(level="autonomous")
    missing = vet_one(vetter, "kisys-pins==9.9")
    assert vet_one(vetter, "kisys-pins==1.0.0").action == "allow"  # PEP 440: 1.0.0 == 1.0
    yanked = vet_one(vetter, "kisys-pins", version="1.1")
    assert missing.action == "block"
    assert "no release 9.9" in reasons(missing)
    assert yanked.action == "confirm"
    assert "WARNING: release 1.1 is yanked" in yanked.reasons


# --- misbehaving index: the right decision, a clear reason, no wait beyond the timeout


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("http_500", "answered HTTP 500 after 3 attempts"),
        ("invalid_json", "sent invalid JSON"),
        ("redirect", "redirected to another host (http://127.0.0.2:"),
        ("endless", "s timeout"),
        ("delay", "no answer within the 0.5 s timeout"),
    ],
)
def test_misbehaving_index_blocks_within_the_timeout(
    pkgindex: PackageIndex, make_vetter: MakeVetter, fault: str, expected: str
) -> None:
    mature(pkgindex, "kisys-flaky")
    pkgindex.set_fault(fault, project="kisys-flaky", seconds=10.0)  # type: ignore[arg-type]
    vetter = make_vetter(index=IndexSettings(url=pkgindex.simple_url, timeout=0.5))
    start = time.monotonic()
    decision = vet_one(vetter, "kisys-flaky")
    elapsed = time.monotonic() - start
    assert decision.action == "block"
    assert f"kisys-flaky could not be vetted: {pkgindex.simple_url}/kisys-flaky/" in reasons(decision)
    assert expected in reasons(decision)
    assert decision.evidence["index"]["checked"] is False
    assert elapsed < 3.0  # the fault would hold the client for 10 s


def test_server_errors_are_retried_then_succeed(pkgindex: PackageIndex, make_vetter: MakeVetter) -> None:
    mature(pkgindex, "kisys-retry")
    pkgindex.set_fault("http_500", project="kisys-retry")
    vetter = make_vetter(retries=0)
    assert vet_one(vetter, "kisys-retry").action == "block"
    hits = [p for _, p in pkgindex.requests if p == "/simple/kisys-retry/"]
    assert len(hits) == 1
    pkgindex.clear_faults()
    assert vet_one(vetter, "kisys-retry").action == "confirm"


def test_whitelisted_name_survives_an_index_outage(pkgindex: PackageIndex, make_vetter: MakeVetter) -> None:
    pkgindex.set_fault("http_500", project="rich")
    decision = vet_one(make_vetter(retries=0), "rich")
    assert decision.action == "allow"
    assert "index not checked" in reasons(decision)


def test_lookups_run_concurrently(pkgindex: PackageIndex, make_vetter: MakeVetter) -> None:
    names = [f"kisys-par-{i}" for i in range(12)]
    for name in names:
        mature(pkgindex, name)
        pkgindex.set_fault("delay", path=f"/simple/{name}/", seconds=0.5)
    index = IndexSettings(url=pkgindex.simple_url, timeout=5.0)
    vetter = make_vetter(level="autonomous", index=index)
    start = time.monotonic()
    decisions = vetter.vet([VetRequest.of(n) for n in names])
    assert [d.action for d in decisions] == ["allow"] * 12
    assert time.monotonic() - start < 3.5  # 12 x 0.5 s one after the other would be 6 s


# --- cache


def test_cache_survives_vetters_and_expires(pkgindex: PackageIndex, make_vetter: MakeVetter) -> None:
    mature(pkgindex, "kisys-cached")
    now = [time.time()]
    first = vet_one(make_vetter(clock=lambda: now[0], cache_ttl=3600), "kisys-cached")
    count = len(pkgindex.requests)
    again = vet_one(make_vetter(clock=lambda: now[0], cache_ttl=3600), "kisys-cached")
    assert len(pkgindex.requests) == count
    assert again.action == first.action
    assert "index data from cache" in again.reasons
    now[0] += 3601
    vet_one(make_vetter(clock=lambda: now[0], cache_ttl=3600), "kisys-cached")
    assert len(pkgindex.requests) > count


def test_corrupt_cache_file_is_discarded_with_a_warning(
    pkgindex: PackageIndex, make_vetter: MakeVetter, tmp_path: Path
) -> None:
    mature(pkgindex, "kisys-corrupt")
    vet_one(make_vetter(), "kisys-corrupt")
    [cached] = (tmp_path / "cache" / "index").glob("*.json")
    cached.write_text("{not json")
    with pytest.warns(CacheCorruptWarning, match="discarding corrupt"):
        decision = vet_one(make_vetter(), "kisys-corrupt")
    assert decision.action == "confirm"
    assert json.loads(cached.read_text())["name"] == "kisys-corrupt"


# --- offline


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection or resolve a name fails the test loudly."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"offline mode opened a socket: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_offline_opens_no_socket_and_uses_cache_and_bundled_data(
    pkgindex: PackageIndex, make_vetter: MakeVetter, request: pytest.FixtureRequest
) -> None:
    mature(pkgindex, "kisys-warm")
    vet_one(make_vetter(), "kisys-warm")
    before = len(pkgindex.requests)
    request.getfixturevalue("no_network")
    vetter = make_vetter(offline=True, level="autonomous")
    warm, cold, trusted, bad = vetter.vet(
        [VetRequest.of(n) for n in ("kisys-warm", "kisys-cold", "numpy", "0x000testqwe")]
    )
    assert (warm.action, cold.action, trusted.action, bad.action) == ("allow", "block", "allow", "block")
    assert "index data from cache" in warm.reasons
    assert reasons(cold) == "kisys-cold cannot be vetted offline (no cached index data)"
    assert "index not checked (offline)" in trusted.reasons
    assert len(pkgindex.requests) == before


# --- audit log, run record, echo


def test_audit_log_record_and_echo(pkgindex: PackageIndex, make_vetter: MakeVetter, tmp_path: Path) -> None:
    mature(pkgindex, "attrs")
    log = tmp_path / "logs" / "audit.jsonl"
    record = RunRecord()
    lines: list[str] = []
    vetter = make_vetter(log_file=log, record=record, echo=lines.append)
    vetter.vet([VetRequest.of("attrs>=20", "test_mod.py::test_a"), VetRequest.of("kisys-nope")])
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["name"], e["action"]) for e in entries] == [("attrs", "allow"), ("kisys-nope", "block")]
    assert set(entries[0]) >= {"time", "name", "version", "requested_by", "level", "action", "reasons"}
    assert entries[0]["requested_by"] == ["test_mod.py::test_a"]
    assert entries[0]["requirement"] == "attrs>=20"
    assert [d.to_json()["name"] for d in record.decisions] == ["attrs", "kisys-nope"]
    assert lines[0] == "kisys: attrs -> allow (whitelisted) [requested by test_mod.py::test_a]"


def test_index_credentials_never_reach_decisions_or_the_audit_log(
    pkgindex: PackageIndex, make_vetter: MakeVetter, tmp_path: Path
) -> None:
    mature(pkgindex, "kisys-private")
    mature(pkgindex, "kisys-broken")
    pkgindex.set_fault("http_500", project="kisys-broken")
    url = pkgindex.simple_url.replace("http://", "http://ci-user:FAKE-token-123@")
    log = tmp_path / "audit.jsonl"
    vetter = make_vetter(index=IndexSettings(url=url, timeout=2), log_file=log, retries=0)
    decisions = vetter.vet([VetRequest.of(n) for n in ("kisys-private", "kisys-broken", "kisys-missing")])
    assert [d.action for d in decisions] == ["confirm", "block", "block"]
    text = json.dumps([d.to_json() for d in decisions]) + log.read_text()
    assert "FAKE-token-123" not in text
    assert "http://***@127.0.0.1" in text

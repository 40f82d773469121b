"""Release vetting by the vetter against real loopback indexes: PEP 792 status, dependency
confusion across two indexes (blocked, pinned, mirrored), first-party names never looked up,
typosquat fusion with index metadata; and the settings that drive them."""

from __future__ import annotations

from collections.abc import Iterator
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_kisys.errors import ConfigError
from pytest_kisys.settings import for_command
from pytest_kisys.settings import IndexSettings
from pytest_kisys.settings import Settings
from pytest_kisys.vet.interface import Decision
from pytest_kisys.vet.interface import VetRequest
from pytest_kisys.vet.release_age import parse_duration
from pytest_kisys.vet.vetter import Vetter
from tests.support.pkgindex import PackageIndex


VERSIONS = ("1.0", "1.1", "1.2", "2.0")


@pytest.fixture
def vetter_for(pkgindex: PackageIndex, tmp_path: Path) -> Iterator[Any]:
    made: list[Vetter] = []

    def make(**overrides: Any) -> Vetter:
        values: dict[str, Any] = {
            "index": IndexSettings(url=pkgindex.simple_url, timeout=2.0),
            "cache_dir": tmp_path / "cache",
            "level": "autonomous",
            "log_file": tmp_path / "audit.jsonl",
        }
        values.update(overrides)
        vetter = Vetter(Settings(**values))
        made.append(vetter)
        return vetter

    yield make
    for vetter in made:
        vetter.close()


def _one(vetter: Vetter, text: str) -> Decision:
    (decision,) = vetter.vet([VetRequest.of(text, "test")])
    return decision


@pytest.mark.usefixtures("isolated_pip")
@pytest.mark.parametrize("serve_json", [True, False])
def test_quarantined_blocks_and_archived_or_deprecated_ask(
    serve_json: bool, pkgindex: PackageIndex, vetter_for: Any, tmp_path: Path
) -> None:
    pkgindex.serve_json = serve_json  # PEP 691 JSON (api 1.4) and PEP 503 HTML meta tags
    for name, status in (
        ("kisys-quar", "quarantined"),
        ("kisys-arch", "archived"),
        ("kisys-depr", "deprecated"),
    ):
        pkgindex.add_project(name, VERSIONS)
        pkgindex.set_status(name, status, "see the advisory")
    pkgindex.add_project("kisys-active", VERSIONS)
    pkgindex.set_status("kisys-active", "active")
    vetter = vetter_for(allow=("kisys-quar",))
    quarantined = _one(vetter, "kisys-quar")
    assert quarantined.action == "block"  # whitelisted and autonomous: still blocked
    assert "quarantined" in quarantined.reasons[0]
    assert "see the advisory" in quarantined.reasons[0]
    for name, status in (("kisys-arch", "archived"), ("kisys-depr", "deprecated")):
        decision = _one(vetter, name)
        assert decision.action == "confirm"
        assert any(status in r and r.startswith("WARNING") for r in decision.reasons)
        assert decision.evidence["project_status"] == {"status": status, "reason": "see the advisory"}
    assert _one(vetter, "kisys-active").action == "allow"
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert {r["name"]: r["evidence"].get("project_status", {}).get("status") for r in audit}[
        "kisys-quar"
    ] == "quarantined"


@pytest.fixture
def two_indexes(
    pkgindex: PackageIndex, second_index: PackageIndex, monkeypatch: pytest.MonkeyPatch
) -> tuple[PackageIndex, PackageIndex]:
    """pip configured with the loopback index plus a second one as extra-index-url."""
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", second_index.simple_url)
    return pkgindex, second_index


@pytest.mark.usefixtures("isolated_pip")
def test_a_name_on_two_indexes_is_blocked_unless_pinned(
    two_indexes: tuple[PackageIndex, PackageIndex], vetter_for: Any
) -> None:
    public, private = two_indexes
    private.add_project("kisys-internal", ("1.0", "1.1", "1.2"), summary="ours")
    public.add_project("kisys-internal", ("99.0", "99.1", "99.2"), summary="the attacker's")
    private.add_project("kisys-only-private", VERSIONS)
    public.add_project("kisys-only-public", VERSIONS)
    vetter = vetter_for(allow=("kisys-internal",))
    blocked = _one(vetter, "kisys-internal")
    assert blocked.action == "block"
    assert "dependency confusion" in blocked.reasons[0]
    assert "index_for" in blocked.reasons[0]
    assert blocked.evidence["index_set"]["present_on"] == [public.simple_url, private.simple_url]
    # A name on one index only is fine, and vetted against the index that has it.
    only_private = _one(vetter, "kisys-only-private")
    assert only_private.action == "allow", only_private.reasons
    assert only_private.evidence["index"]["url"] == private.simple_url
    assert _one(vetter, "kisys-only-public").action == "allow"
    pinned = vetter_for(allow=("kisys-internal",), index_for={"kisys-internal": private.simple_url})
    decision = _one(pinned, "kisys-internal")
    assert decision.action == "allow", decision.reasons
    assert decision.evidence["index_set"]["pinned_to"] == private.simple_url
    assert decision.evidence["index"]["url"] == private.simple_url
    # The resolver merges indexes: a resolved file the pinned index does not serve is refused.
    public_file = next(f for f in public._snapshot("kisys-internal").files if f.version == "99.2")  # type: ignore[union-attr]
    requirement = VetRequest.of("kisys-internal", "test").requirement
    (refused,) = pinned.vet([VetRequest(requirement, "99.2", sha256=public_file.artifact.sha256)])
    assert refused.action == "block"
    assert "not one that" in refused.reasons[0]
    # A pin to an index pip is not configured with is an error, not a silent pass.
    wrong = vetter_for(
        allow=("kisys-internal",), index_for={"kisys-internal": "https://elsewhere.invalid/simple"}
    )
    assert _one(wrong, "kisys-internal").action == "block"


@pytest.mark.usefixtures("isolated_pip")
def test_a_mirror_serving_the_same_files_is_not_confusion(
    two_indexes: tuple[PackageIndex, PackageIndex], vetter_for: Any
) -> None:
    public, mirror = two_indexes
    public.add_project("kisys-mirrored", VERSIONS)
    mirror.add_project("kisys-mirrored", VERSIONS[:2])  # same bytes, fewer versions
    decision = _one(vetter_for(), "kisys-mirrored")
    assert decision.action == "allow", decision.reasons
    assert decision.evidence["index_set"]["mirrored"] is True


@pytest.mark.usefixtures("isolated_pip")
def test_typosquat_of_an_established_project_is_cleared_by_index_metadata(
    pkgindex: PackageIndex, vetter_for: Any
) -> None:
    now = pkgindex.now()
    # "requestz" looks like "requests"; established (5 years, 12 releases) -> not flagged.
    pkgindex.add_project("requestz", tuple(f"1.{i}" for i in range(12)), upload_time=now - 5 * 365 * 86400)
    pkgindex.add_project("reqeusts", ("1.0", "1.1", "1.2"), upload_time=now - 20 * 86400)
    established = _one(vetter_for(), "requestz")
    assert established.action == "allow", established.reasons
    assert established.evidence["typosquat_of"] == "requests"
    assert "typosquat_cleared" in established.evidence
    young = _one(vetter_for(), "reqeusts")
    assert young.action == "confirm"
    assert any("typo of the popular project requests" in r for r in young.reasons)


def test_durations_exemptions_and_pins_are_validated(tmp_path: Path) -> None:
    assert [parse_duration(t) for t in ("7d", "48h", "0", "30m", "2w", "90")] == [
        604800,
        172800,
        0,
        1800,
        1209600,
        90,
    ]
    assert for_command({"min_release_age": ["48h"]}, tmp_path).min_release_age == 172800
    (tmp_path / "pyproject.toml").write_text(
        "[tool.kisys]\nmin_release_age = '3d'\n"
        "release_age_exempt = [{name = 'Rich', reason = 'needs the fix', expires = 2030-01-31}]\n"
        "index_for = {Internal_Lib = 'https://pkgs.example/simple/'}\n",
        encoding="utf-8",
    )
    settings = for_command({}, tmp_path)
    assert settings.min_release_age == 3 * 86400
    (exempt,) = settings.release_age_exempt
    assert (exempt.name, exempt.expires) == ("rich", dt.date(2030, 1, 31))
    assert settings.index_for == {"internal-lib": "https://pkgs.example/simple"}
    for bad, words in (
        ("min_release_age = 'soon'", "7d, 48h"),
        ("release_age_exempt = [{name = 'rich'}]", "without a reason"),
        ("release_age_exempt = [{name = 'rich', reason = 'x', expires = 'tomorrow'}]", "YYYY-MM-DD"),
        ("release_age_exempt = [{name = 'rich', reason = 'x', until = 2030-01-01}]", "unknown field"),
        ("index_for = {rich = 'ftp://x'}", "index URL"),
    ):
        (tmp_path / "pyproject.toml").write_text(f"[tool.kisys]\n{bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=words):
            for_command({}, tmp_path)


@pytest.mark.usefixtures("isolated_pip")
def test_kisys_vet_names_the_held_back_release_and_the_status(pkgindex: PackageIndex, tmp_path: Path) -> None:
    import subprocess
    import sys

    now = pkgindex.now()
    pkgindex.add_project("kisys-vet-fresh", VERSIONS, upload_time=now - 400 * 86400)
    from tests.support.pkgindex import build_wheel

    pkgindex.add_artifact(
        "kisys-vet-fresh", "3.0", build_wheel("kisys-vet-fresh", "3.0"), upload_time=now - 7200
    )
    pkgindex.set_status("kisys-vet-fresh", "deprecated", "use kisys-vet-new")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_kisys",
            "vet",
            "kisys-vet-fresh",
            "--json",
            "--index-url",
            pkgindex.simple_url,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert "held back kisys-vet-fresh 3.0, uploaded 2 h ago; would install 2.0" in proc.stdout, (
        proc.stdout + proc.stderr
    )
    assert "deprecated" in proc.stdout

"""Pure logic: typosquat generation, the policy table, pip configuration discovery."""

from __future__ import annotations

import dataclasses
from pathlib import Path
import time

import pytest

from pytest_kisys.settings import IndexSettings
from pytest_kisys.settings import Settings
from pytest_kisys.vet.data import popular_ranks
from pytest_kisys.vet.interface import Evidence
from pytest_kisys.vet.interface import ProjectSignals
from pytest_kisys.vet.interface import VetRequest
from pytest_kisys.vet.pipconfig import config_files
from pytest_kisys.vet.pipconfig import index_location
from pytest_kisys.vet.policy import decide
from pytest_kisys.vet.typosquat import one_edit_apart
from pytest_kisys.vet.typosquat import popular_checker
from pytest_kisys.vet.typosquat import TyposquatChecker
from pytest_kisys.vet.vetter import Vetter
from pytest_kisys.vet.whitelist import DEFAULT_WHITELIST
from tests.support.pkgindex import PackageIndex


@pytest.mark.parametrize(
    ("candidate", "imitates"),
    [
        ("numpyy", "numpy"),  # doubled letter
        ("nmupy", "numpy"),  # adjacent swap
        ("numy", "numpy"),  # dropped letter
        ("nunpy", "numpy"),  # one substitution
        ("nurnpy", "numpy"),  # rn / m homoglyph
        ("djang0", "django"),  # 0 / o
        ("f1ask", "flask"),  # 1 / l
        ("python-requests", "requests"),  # python- prefix
        ("requests-py", "requests"),  # -py suffix
        ("pyboto3", "boto3"),  # py prefix
        ("typingextensions", "typing-extensions"),  # separator dropped
        ("colourama", "colorama"),  # insertion
    ],
)
def test_typosquat_variants(candidate: str, imitates: str) -> None:
    assert popular_checker().check(candidate) == imitates


def test_popular_names_are_never_flagged() -> None:
    checker = popular_checker()
    flagged = [name for name in popular_ranks() if checker.check(name) is not None]
    assert flagged == []


def test_unrelated_and_short_names_are_not_flagged() -> None:
    checker = popular_checker()
    assert checker.check("kisys-private-internal-tool") is None
    assert checker.check("zq") is None


def test_one_edit_apart() -> None:
    assert one_edit_apart("numpy", "numpyy")
    assert one_edit_apart("numpy", "nmupy")
    assert one_edit_apart("numpy", "numpi")
    assert not one_edit_apart("numpy", "numpy")
    assert not one_edit_apart("xabc", "abcy")
    assert not one_edit_apart("numpy", "nupmyy")


def test_typosquat_check_is_a_lookup_not_a_scan() -> None:
    checker = popular_checker()
    names = [f"kisys-candidate-{i}" for i in range(200)] + ["numpyy"] * 200
    start = time.perf_counter()
    for name in names:
        checker.check(name)
    per_name = (time.perf_counter() - start) / len(names)
    assert per_name < 0.005  # generous: a linear Levenshtein scan over 10k names takes ~50 ms


def test_near_answers_as_the_full_deletion_index_did() -> None:
    """The index built per length on first use answers ``near`` exactly as the index of every
    popular name under itself and all its deletions (the scoring's input) did."""
    import random

    popular = [name for name in popular_ranks() if len(name) >= 3]
    full: dict[str, set[str]] = {}
    for name in popular:
        for key in (name, *(name[:i] + name[i + 1 :] for i in range(len(name)))):
            full.setdefault(key, set()).add(name)
    checker = TyposquatChecker(popular_ranks())
    alphabet = sorted({char for name in popular for char in name})
    rng = random.Random(19)  # noqa: S311 - reproducible probes, not security
    keys = {"kisys-private-internal-tool", "abc", "zzzzz"}
    for name in rng.sample(popular, 300):
        i = rng.randrange(len(name))
        typo = name[:i] + rng.choice(alphabet) + name[i + 1 :]
        keys |= {name, typo, *(typo[:j] + typo[j + 1 :] for j in range(len(typo)))}
    hits = 0
    for key in sorted(keys):
        got = list(checker.near(key))
        assert len(got) == len(set(got)), key
        assert set(got) == full.get(key, set()), key
        hits += bool(got)
    assert hits > 300


def signals(**overrides: object) -> ProjectSignals:
    base: dict[str, object] = {
        "name": "pkg", "index_url": "https://idx", "checked": True, "exists": True,
        "versions": ("1.0", "1.1", "2.0"), "wheel_versions": ("1.0", "1.1", "2.0"),
        "has_wheels": True, "first_upload": 0.0, "fetched_at": 0.0,
    }  # fmt: skip
    base.update(overrides)
    return ProjectSignals(**base)  # type: ignore[arg-type]


NOW = 1000 * 86400.0


@pytest.mark.parametrize(
    ("evidence", "action", "reason"),
    [
        (Evidence(index=signals(), now=NOW), "confirm", "not whitelisted"),
        (Evidence(index=signals(), now=NOW, whitelisted=True, on_deny_list=True), "block", "deny"),
        (Evidence(index=signals(exists=False), now=NOW), "block", "does not exist"),
        (Evidence(index=signals(versions=()), now=NOW), "block", "no release files"),
        (Evidence(index=signals(first_upload=NOW - 3600), now=NOW), "confirm", "very new"),
        (Evidence(index=signals(versions=("1.0",)), now=NOW), "confirm", "few releases: 1"),
        (Evidence(index=signals(checked=False, error="boom"), now=NOW), "block", "boom"),
        (Evidence(index=None, now=NOW, offline=True), "block", "cannot be vetted offline"),
        (Evidence(index=None, now=NOW, offline=True, whitelisted=True), "allow", "offline"),
    ],
)
def test_policy_is_a_pure_function(evidence: Evidence, action: str, reason: str) -> None:
    decision = decide(VetRequest.of("pkg"), evidence, Settings())
    assert decision.action == action
    assert reason in " ".join(decision.reasons)
    assert decide(VetRequest.of("pkg"), evidence, Settings()) == decision


def test_stdlib_backports_are_suspicious() -> None:
    decision = decide(
        VetRequest.of("dataclasses"),
        Evidence(index=signals(), now=NOW),
        Settings(level="autonomous", allow=("dataclasses",)),
    )
    assert decision.action == "confirm"
    assert "standard-library module dataclasses" in decision.reasons[0]


def test_default_whitelist_is_exactly_the_documented_one() -> None:
    assert set(DEFAULT_WHITELIST) == {
        "numpy", "scipy", "pandas", "matplotlib", "seaborn", "soundfile", "librosa", "pydub",
        "resampy", "audioread", "scikit-learn", "torch", "tensorflow", "keras", "h5py", "netcdf4",
        "xlrd", "openpyxl", "pyarrow", "tqdm", "click", "rich", "colorama", "tabulate", "pytest",
        "pytest-asyncio", "pytest-cov", "typing-extensions", "attrs",
    }  # fmt: skip


def test_pip_config_precedence(tmp_path: Path) -> None:
    system = tmp_path / "pip.conf"
    system.write_text("[global]\nindex-url = https://system.example/simple\ncert = /sys.pem\n")
    user = tmp_path / "user.conf"
    user.write_text(
        "[global]\nindex_url = https://user.example/simple\n"
        "[install]\nindex-url = https://install.example/simple\n"
    )
    location = index_location(Settings(), environ={}, files=[system, user])
    assert (location.url, location.cert) == ("https://install.example/simple", "/sys.pem")
    assert location.url_source.startswith(f"pip config {user} [install]")
    env = {"PIP_INDEX_URL": "https://env.example/simple/", "PIP_CERT": "/env.pem"}
    location = index_location(Settings(), environ=env, files=[system, user])
    assert (location.url, location.cert) == ("https://env.example/simple", "/env.pem")
    mine = Settings(index=IndexSettings(url="http://127.0.0.1:1/simple"), sources={"index": "kisys.yaml:3"})
    location = index_location(mine, environ=env, files=[system])
    assert (location.url, location.url_source) == ("http://127.0.0.1:1/simple", "kisys.yaml:3")
    assert index_location(Settings(), environ={}, files=[]).url == "https://pypi.org/simple"


def test_pip_config_file_devnull_disables_files(tmp_path: Path) -> None:
    assert config_files({"PIP_CONFIG_FILE": "/dev/null"}, home=tmp_path) == []
    custom = tmp_path / "custom.conf"
    custom.write_text("[global]\nindex-url = https://custom.example/simple\n")
    files = config_files({"PIP_CONFIG_FILE": str(custom)}, home=tmp_path)
    assert files[-1] == custom
    assert tmp_path / ".pip" / "pip.conf" not in files  # pip skips user files then


def test_html_only_index_is_understood(pkgindex: PackageIndex, tmp_path: Path) -> None:
    pkgindex.serve_json = False
    pkgindex.add_project("kisys-html", versions=("1.0", "1.1", "1.2"), yanked=["1.2"], sdist=True)
    settings = Settings(index=IndexSettings(url=pkgindex.simple_url), cache_dir=tmp_path)
    with Vetter(settings) as vetter:
        [decision] = vetter.vet([VetRequest.of("kisys-html", version="1.2")])
    assert decision.action == "confirm"
    assert "WARNING: release 1.2 is yanked" in decision.reasons
    assert decision.evidence["index"]["releases"] == 3


@pytest.mark.parametrize("filename", ["popular.txt", "malicious.txt"])
def test_bundled_lists_are_generated_with_a_header(filename: str) -> None:
    from importlib import resources

    from packaging.utils import canonicalize_name

    lines = resources.files("pytest_kisys.data").joinpath(filename).read_text().splitlines()
    header = [line for line in lines if line.startswith("#")]
    names = [line for line in lines if not line.startswith("#")]
    assert header[0] == "# GENERATED by scripts/gen_data.py; do not edit by hand."
    assert any(line.startswith("# source: ") and "sha256" in line for line in header)
    assert any(line.startswith("# generated: ") for line in header)
    assert f"# count: {len(names)}" in header
    assert names == [canonicalize_name(n) for n in names]
    assert len(set(names)) == len(names) >= 10000


@pytest.mark.parametrize(
    ("level", "evidence", "action", "reason"),
    [
        ("balanced", Evidence(index=signals(), now=NOW), "allow", "declared by the project"),
        ("paranoid", Evidence(index=signals(), now=NOW), "confirm", "paranoid level confirms"),
        ("autonomous", Evidence(index=signals(), now=NOW), "allow", "declared by the project"),
        ("balanced", Evidence(index=signals(), now=NOW, on_deny_list=True), "block", "deny list"),
        ("balanced", Evidence(index=signals(), now=NOW, on_malicious_list=True), "block", "malicious"),
        ("balanced", Evidence(index=signals(), now=NOW, typosquat_of="numpy"), "confirm", "typo of"),
        ("balanced", Evidence(index=signals(first_upload=NOW - 3600), now=NOW), "confirm", "very new"),
        ("balanced", Evidence(index=signals(checked=False, error="boom"), now=NOW), "block", "boom"),
    ],
)
def test_declared_requirements_are_allowed_if_clean_at_balanced(
    level: str, evidence: Evidence, action: str, reason: str
) -> None:
    request = VetRequest.of("pkg", "dependency-group tests (pyproject.toml:9)")
    request = dataclasses.replace(request, declared=True)
    decision = decide(request, evidence, Settings(level=level))  # type: ignore[arg-type]
    assert decision.action == action
    assert reason in " ".join(decision.reasons)
    assert decision.requested_by == ("dependency-group tests (pyproject.toml:9)",)

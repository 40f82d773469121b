"""Unit tests of batch planning: scans in, one batch of needs out (fakes for the environment)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_kisys.resolve.firstparty import FirstParty
from pytest_kisys.resolve.importreader import read_imports
from pytest_kisys.resolve.outcome import Denial
from pytest_kisys.resolve.outcome import ResolveOutcome
from pytest_kisys.resolve.plan import build_plan
from pytest_kisys.resolve.probe import module_importable
from pytest_kisys.vet.requirements import parse_requirement


@dataclass(frozen=True)
class FakeResolution:
    import_name: str
    distribution: str | None
    kind: str


MAP = {"yaml": "PyYAML", "numpy": "numpy", "sklearn": "scikit-learn"}


def fake_resolve(name: str) -> FakeResolution:
    top = name.split(".", 1)[0]
    if top in MAP:
        return FakeResolution(name, MAP[top], "mapped")
    return FakeResolution(name, None, "unknown")


ROOT = Path("/proj")


def plan_for(sources: dict[str, str], *, present=(), versions=None, first_party=None):  # type: ignore[no-untyped-def]
    scans = [read_imports(text.encode(), ROOT / name) for name, text in sources.items()]
    versions = versions or {}
    return build_plan(
        scans,
        rootdir=ROOT,
        first_party=first_party or FirstParty({"mypkg": "src/mypkg (src layout)"}),
        importable=lambda name: name.split(".")[0] in present,
        installed_version=versions.get,
        resolve_import=fake_resolve,
        parse_requirement=parse_requirement,
    )


def test_missing_imports_become_one_deduplicated_batch() -> None:
    plan = plan_for(
        {
            "conftest.py": "import yaml\n",
            "tests/test_a.py": "import yaml\nimport numpy\nimport os\nimport mypkg\n",
            "tests/test_b.py": "import attrs\nimport sklearn.linear_model\n",
        },
        present={"attrs"},
    )
    assert [n.requirement for n in plan.needs] == ["PyYAML", "numpy", "scikit-learn"]
    yaml_need = plan.needs[0]
    assert yaml_need.import_name == "yaml"
    assert yaml_need.reasons == ("import yaml in conftest.py:1", "import yaml in tests/test_a.py:1")
    assert ("sklearn.linear_model", "scikit-learn", "mapped") in plan.mapped
    assert plan.satisfied == 1  # attrs


def test_first_party_names_are_never_resolved() -> None:
    asked: list[str] = []

    def spy(name: str) -> FakeResolution:
        asked.append(name)
        return fake_resolve(name)

    scans = [read_imports(b"import mypkg.core\nimport helpers\nimport yaml\n", ROOT / "t.py")]
    build_plan(
        scans,
        rootdir=ROOT,
        first_party=FirstParty({"mypkg": "src", "helpers": "tests"}),
        importable=lambda name: False,
        installed_version=lambda name: None,
        resolve_import=spy,
        parse_requirement=parse_requirement,
    )
    assert asked == ["yaml"]


def test_guarded_lazy_and_unknown_imports_are_not_installed() -> None:
    plan = plan_for(
        {
            "tests/test_a.py": (
                "try:\n    import numpy\nexcept ImportError:\n    numpy = None\n"
                "def test_x():\n    import yaml\n"
                "import kisys_nobody_knows\n"
            )
        }
    )
    assert plan.needs == ()
    assert plan.lazy_missing == (("yaml", "tests/test_a.py:6"),)
    assert [u.import_name for u in plan.unmapped] == ["kisys_nobody_knows"]
    assert "import_map" in plan.unmapped[0].hint


def test_markers_are_checked_against_installed_versions() -> None:
    source = (
        "import pytest\n"
        "@pytest.mark.requires('scipy>=1.12', 'attrs', 'tomli-w ; python_version < \"3\"')\n"
        "def test_a(): pass\n"
        "@pytest.mark.requires('attrs>=99')\n"
        "class TestB: pass\n"
        "@pytest.mark.requires('not a requirement!')\n"
        "def test_c(): pass\n"
    )
    plan = plan_for({"tests/test_m.py": source}, versions={"attrs": "23.1", "scipy": "1.11"})
    assert [(n.requirement, n.distribution, n.via) for n in plan.needs] == [
        ("scipy>=1.12", "scipy", "marker"),
        ("attrs>=99", "attrs", "marker"),
    ]
    assert plan.needs[0].reasons == ("@pytest.mark.requires('scipy>=1.12') in tests/test_m.py:2",)
    assert [(m.text, m.where) for m in plan.malformed] == [("not a requirement!", "tests/test_m.py:6")]


def test_denial_message_has_the_allow_hint() -> None:
    denial = Denial("scipy>=1.12", "needs confirmation", "--kisys-allow scipy")
    assert denial.message() == ("kisys: scipy>=1.12 needs confirmation; run with --kisys-allow scipy")
    assert Denial("evil", "is on the blocklist").message() == "kisys: evil is on the blocklist"


def test_outcome_travels_to_workers() -> None:
    outcome = ResolveOutcome(
        files=3,
        installed=("six==1.17.0",),
        denied={"scipy": Denial("scipy>=1.12", "needs confirmation", "--kisys-allow scipy")},
        denied_imports={"scipy": Denial("scipy>=1.12", "needs confirmation")},
    )
    again = ResolveOutcome.from_worker_input(outcome.to_json())
    assert again.worker is True
    assert again.denied == outcome.denied
    assert again.denial_for_import("scipy.linalg") == outcome.denied_imports["scipy"]
    assert again.installed == ("six==1.17.0",)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("pytest", True), ("os.path", True), ("kisys_surely_missing_mod", False)],
)
def test_module_importable_without_importing(name: str, expected: bool) -> None:
    assert module_importable(name) is expected


def test_module_importable_looks_into_namespace_portions(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "kisysns" / "present").mkdir(parents=True)
    (tmp_path / "kisysns" / "present" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert module_importable("kisysns.present") is True
    assert module_importable("kisysns.absent") is False

"""The batch's dependency graph from the inspected wheels' metadata (uv's lock has none).

Real wheels built in memory for the units; real uv and pip installs from the loopback index
for the batches, where an extra makes the metadata uncertain and the resolver's own graph
(a second ``uv pip compile``) is used instead.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path

from packaging.markers import default_environment
import pytest

from pytest_kisys.install.consent import FixedConsent
from pytest_kisys.install.installer import Installer
from pytest_kisys.install.interface import InstallRequest
from pytest_kisys.install.interface import PlannedItem
from pytest_kisys.install.interface import Resolution
from pytest_kisys.install.wheelgraph import batch_graph
from pytest_kisys.install.wheelgraph import wheel_graph
from pytest_kisys.install.wheelgraph import wheel_requires
from pytest_kisys.settings import Settings
from tests.support.installindex import ALLOWED
from tests.support.installindex import GAMMA
from tests.support.installindex import VERSIONS
from tests.support.pkgindex import build_wheel
from tests.support.pkgindex import PackageIndex
from tests.support.venvs import Venv


MARKERS: Mapping[str, str] = {k: str(v) for k, v in default_environment().items()}
WITH_EXTRA = "kisys-fixture-withextra"
NEEDS_EXTRA = "kisys-fixture-needsextra"


def _item(name: str) -> PlannedItem:
    return PlannedItem(name, "1.0", f"http://127.0.0.1/{name}-1.0-py3-none-any.whl", "0" * 64, True)


def _wheels(tmp_path: Path, requires: Mapping[str, list[str]]) -> dict[str, Path]:
    return {name: build_wheel(name, "1.0", requires=reqs).write(tmp_path) for name, reqs in requires.items()}


def test_requires_dist_is_read_from_the_wheel(tmp_path: Path) -> None:
    (path,) = _wheels(tmp_path, {"proj-a": ["proj-b>=1", "proj-c; python_version < '3'"]}).values()
    assert wheel_requires(path) == ("proj-b>=1", "proj-c; python_version < '3'")
    broken = tmp_path / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"not a zip")
    assert wheel_requires(broken) is None


def test_edges_between_planned_items_with_markers_evaluated(tmp_path: Path) -> None:
    wheels = _wheels(
        tmp_path,
        {
            "proj-a": ["Proj_B>=1", "proj-c; sys_platform == 'no-such-platform'", "not-planned"],
            "proj-b": ["proj-c; python_version >= '3'"],
            "proj-c": [],
        },
    )
    items = [_item("proj-a"), _item("proj-b"), _item("proj-c")]
    assert wheel_graph(items, wheels, MARKERS) == {
        "proj-a": {"proj-b"},
        "proj-b": {"proj-c"},
        "proj-c": set(),
    }


@pytest.mark.parametrize(
    "requires",
    [
        ["proj-b; extra == 'fast'"],  # which extras a parent asked for is the resolver's knowledge
        ["proj-a[fast]"],  # a self-reference names extras
        ["proj-b; platform_machine >= 'x' and python_version ~= 'nonsense'"],  # cannot be evaluated
    ],
)
def test_uncertain_metadata_gives_no_graph(tmp_path: Path, requires: list[str]) -> None:
    wheels = _wheels(tmp_path, {"proj-a": requires, "proj-b": []})
    assert wheel_graph([_item("proj-a"), _item("proj-b")], wheels, MARKERS) is None


def test_an_extra_on_a_dependency_that_is_not_planned_is_certain(tmp_path: Path) -> None:
    wheels = _wheels(tmp_path, {"proj-a": ["proj-b", "elsewhere; extra == 'fast'"], "proj-b": []})
    assert wheel_graph([_item("proj-a"), _item("proj-b")], wheels, MARKERS) == {
        "proj-a": {"proj-b"},
        "proj-b": set(),
    }


def test_a_missing_wheel_or_unknown_markers_give_no_graph(tmp_path: Path) -> None:
    wheels = _wheels(tmp_path, {"proj-a": []})
    assert wheel_graph([_item("proj-a"), _item("proj-b")], wheels, MARKERS) is None
    assert wheel_graph([_item("proj-a")], wheels, None) is None


def test_batch_graph_falls_back_to_the_resolver_only_when_uncertain(tmp_path: Path) -> None:
    asked: list[str] = []

    def fallback() -> dict[str, set[str]]:
        asked.append("resolver")
        return {"proj-a": {"proj-b"}, "proj-b": set()}

    items = (_item("proj-a"), _item("proj-b"))
    certain = _wheels(tmp_path / "certain", {"proj-a": ["proj-b"], "proj-b": []})
    uncertain = _wheels(tmp_path / "uncertain", {"proj-a": ["proj-b; extra == 'x'"], "proj-b": []})
    resolution = Resolution(items, {}, graph_fallback=fallback)
    assert batch_graph(resolution, certain, MARKERS) == {"proj-a": {"proj-b"}, "proj-b": set()}
    assert asked == []
    assert batch_graph(resolution, uncertain, MARKERS) == {"proj-a": {"proj-b"}, "proj-b": set()}
    assert asked == ["resolver"]
    given = Resolution(items, {}, graph={"proj-a": set(), "proj-b": set()}, graph_fallback=fallback)
    assert batch_graph(given, uncertain, MARKERS) == {"proj-a": set(), "proj-b": set()}
    assert asked == ["resolver"]


@pytest.fixture(scope="module")
def extras_index(install_index: PackageIndex) -> PackageIndex:
    """A project whose extra pulls in GAMMA, and one that asks for that extra."""
    install_index.add_project(WITH_EXTRA, VERSIONS, requires=[f"{GAMMA}; extra == 'fast'"])
    install_index.add_project(NEEDS_EXTRA, VERSIONS, requires=[f"{WITH_EXTRA}[fast]"])
    return install_index


@pytest.mark.parametrize("backend", ["pip", "uv"])
@pytest.mark.parametrize(
    ("request_text", "chain"),
    [
        (f"{WITH_EXTRA}[fast]", [WITH_EXTRA, GAMMA]),  # extras asked for: uv compiles the graph too
        (NEEDS_EXTRA, [NEEDS_EXTRA, WITH_EXTRA, GAMMA]),  # an extra in the metadata: the fallback
    ],
)
@pytest.mark.usefixtures("isolated_pip", "extras_index")
def test_dependencies_through_extras_are_attributed_alike_by_both_backends(
    backend: str,
    request_text: str,
    chain: list[str],
    throwaway_venv: Venv,
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(backend=backend, allow=(*ALLOWED, GAMMA, WITH_EXTRA, NEEDS_EXTRA))
    result = Installer(settings, python=throwaway_venv.python, consent=FixedConsent(False)).install(
        [InstallRequest(request_text, "test_x.py")]
    )
    assert result.error is None, result.error
    assert result.denied == (), result.denied
    assert result.backend == backend
    root = chain[0]
    reasons = {item.name: item.reasons for item in result.installed}
    assert reasons == {
        name: ("test_x.py",) if name == root else (f"dependency of {root} (test_x.py)",) for name in chain
    }


def test_metadata_headers_are_read_as_the_email_parser_reads_them() -> None:
    from email.parser import HeaderParser

    from pytest_kisys.install.wheelgraph import header_values

    text = (
        "Metadata-Version: 2.1\nName: proj-a\nRequires-Dist: proj-b>=1\nrequires-dist:  proj-c ;\n"
        " python_version < '3'\nSummary: x\nRequires-Dist: proj-d\n\nRequires-Dist: not-a-header\n"
    )
    expected = [" ".join(v.split()) for v in HeaderParser().parsestr(text).get_all("Requires-Dist") or []]
    assert (
        list(header_values(text, "requires-dist"))
        == expected
        == [
            "proj-b>=1",
            "proj-c ; python_version < '3'",
            "proj-d",
        ]
    )

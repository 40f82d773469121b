"""A few checks against the live index (deselected by default; run with ``-m network``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_kisys.settings import IndexSettings
from pytest_kisys.settings import Settings
from pytest_kisys.vet.interface import VetRequest
from pytest_kisys.vet.vetter import Vetter


pytestmark = pytest.mark.network


@pytest.fixture(autouse=True)
def _only_when_asked(request: pytest.FixtureRequest) -> None:
    """Until the suite deselects ``network`` by default, skip unless ``-m network`` was given."""
    if "network" not in str(request.config.getoption("markexpr") or ""):
        pytest.skip("touches the live index: run with -m network")


def test_live_index_signals(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path, index=IndexSettings(timeout=30))
    with Vetter(settings) as vetter:
        numpy, squat, dummy = vetter.vet(
            [VetRequest.of(n) for n in ("numpy", "kisys-no-such-project-7f3a", "sklearn")]
        )
    assert numpy.action == "allow"
    assert numpy.evidence["index"]["releases"] > 50
    assert squat.action == "block"
    assert dummy.action == "confirm"  # the deprecated dummy ships no wheel
    assert "sdist only" in " ".join(dummy.reasons)

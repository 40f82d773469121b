"""The scanner's code identity is remembered under the files' stat, never for racy files."""

from __future__ import annotations

import os
from pathlib import Path
import time

import pytest

from pytest_kisys.scan.cache import code_identity


def _fake_scanner(site: Path, body: str) -> Path:
    info = site / "fakeident-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeident\nVersion: 1.0\n")
    (info / "RECORD").write_text("fakeident.py,,\nfakeident-1.0.dist-info/METADATA,,\n")
    module = site / "fakeident.py"
    module.write_text(body)
    return module


def test_identity_is_memoised_by_stat_and_follows_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, memo = tmp_path / "site", tmp_path / "memo"
    module = _fake_scanner(site, "RULES = 1\n")
    monkeypatch.syspath_prepend(str(site))
    code_identity.cache_clear()
    fresh = code_identity("fakeident", memo)
    assert not list(memo.rglob("*.txt"))  # just written: racy, so not remembered
    old = time.time() - 60
    os.utime(module, (old, old))
    code_identity.cache_clear()
    assert code_identity("fakeident", memo) == fresh == code_identity("fakeident")
    (remembered,) = memo.rglob("*.txt")
    assert remembered.read_text() == fresh
    module.write_text("RULES = 2\n")  # same size, new content
    code_identity.cache_clear()
    assert code_identity("fakeident", memo) != fresh

"""The scanner's code identity is remembered under the files' stat, never for racy files."""

from __future__ import annotations

import os
from pathlib import Path
import time

import pytest

from pytest_kisys.scan.cache import code_identity
from pytest_kisys.scan.cache import IDENTITY_MEMOS_KEPT


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


def test_identity_memos_are_bounded_oldest_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site, memo = tmp_path / "site", tmp_path / "memo"
    module = _fake_scanner(site, "RULES = 1\n")
    old = time.time() - 3600
    os.utime(module, (old, old))
    monkeypatch.syspath_prepend(str(site))
    # Memos of scanner installs that no longer exist, the first ones the oldest.
    stale = memo / "identity"
    stale.mkdir(parents=True)
    for number in range(IDENTITY_MEMOS_KEPT + 5):
        entry = stale / f"{number:032x}.txt"
        entry.write_text("0" * 20)
        os.utime(entry, (old + number, old + number))
    code_identity.cache_clear()
    identity = code_identity("fakeident", memo)
    kept = sorted(p.name for p in stale.iterdir())
    assert len(kept) == IDENTITY_MEMOS_KEPT
    assert identity in {p.read_text() for p in stale.iterdir()}  # the one just written stays
    assert f"{0:032x}.txt" not in kept  # the oldest went first
    assert f"{IDENTITY_MEMOS_KEPT + 4:032x}.txt" in kept

"""Dependency confusion: a name offered by more than one configured index.

pip merges every index it is configured with (``index-url`` plus each ``extra-index-url``) and
takes the highest version wherever it is: an attacker who uploads ``internal-lib 99.0`` to
the public index wins over the private ``internal-lib 1.0``. :func:`confusion` is the rule:

* a name found on one index only is fine;
* a name pinned with ``index_for = {NAME = URL}`` is fine (the pinned index must be one of
  the configured ones; the installer then checks the resolved file is one that index serves);
* a name on several indexes whose files are mirrors (every file of the others is on one
  index with the same sha256, as with a local mirror of PyPI) is fine;
* anything else is blocked, and so is a name whose presence on some index could not be
  checked (a check that could not run is never clean).

:func:`configured_indexes` reads the index set the same way the installer hands it to pip
and uv; :class:`LocalIndex` answers for ``file://`` simple indexes (local mirrors).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
import time
import urllib.parse

from pytest_kisys.vet.indexfields import fragment_sha256
from pytest_kisys.vet.indexfields import version_of
from pytest_kisys.vet.interface import ProjectSignals
from pytest_kisys.vet.pipconfig import redact


def configured_indexes(primary: str) -> tuple[str, ...]:
    """``primary`` (kisys' or pip's index URL) then pip's ``extra-index-url`` entries."""
    from pytest_kisys.vet.pipconfig import index_config
    from pytest_kisys.vet.pipconfig import read_pip_config

    config = index_config(read_pip_config())
    if config.no_index:
        return ()
    urls = [primary.rstrip("/")]
    for url in config.extra_index_urls:
        if url.rstrip("/") not in urls:
            urls.append(url.rstrip("/"))
    return tuple(urls)


def _hrefs(text: str) -> list[str]:
    """The ``href`` of every anchor of a PEP 503 page (html.parser only for file: indexes)."""
    from html.parser import HTMLParser

    hrefs: list[str] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            href = dict(attrs).get("href") if tag == "a" else None
            if href:
                hrefs.append(href)

    Links().feed(text)
    return hrefs


class LocalIndex:
    """A ``file://`` PEP 503 index (``<root>/<name>/index.html``); never raises per project."""

    def __init__(self, url: str) -> None:
        self.index_url = url.rstrip("/")
        import urllib.request  # only for file: indexes (it imports http.client and ssl)

        self.root = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))

    def lookup_many(self, names: Sequence[str]) -> dict[str, ProjectSignals]:
        """Signals (existence, versions, file hashes) for each canonical name."""
        return {name: self._lookup(name) for name in names}

    def _lookup(self, name: str) -> ProjectSignals:
        now = time.time()
        directory = self.root / name
        page = directory / "index.html"
        if not directory.is_dir():
            return ProjectSignals(name, self.index_url, checked=True, exists=False, fetched_at=now)
        try:
            text = page.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return ProjectSignals(
                name, self.index_url, checked=False, error=f"{page}: {exc}", fetched_at=now, source="none"
            )
        hashes: dict[str, str] = {}
        versions: set[str] = set()
        for href in _hrefs(text):
            filename = urllib.parse.unquote(href.split("#", 1)[0].rsplit("/", 1)[-1])
            parsed = version_of(filename)
            if parsed is None:
                continue
            versions.add(parsed[0])
            digest = fragment_sha256(href)
            if digest:
                hashes[filename] = digest
        return ProjectSignals(
            name,
            self.index_url,
            checked=True,
            exists=True,
            versions=tuple(sorted(versions)),
            has_wheels=any(f.endswith(".whl") for f in hashes),
            file_hashes=hashes,
            fetched_at=now,
        )

    def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True)
class IndexSetVerdict:
    """What the index set says about one name: ``blocked`` with ``reason``, or fine."""

    present_on: tuple[str, ...]
    blocked: bool = False
    reason: str = ""
    pinned_to: str | None = None
    mirrored: bool = False

    def to_json(self) -> dict[str, object]:
        """Keys: present_on, blocked, reason, pinned_to, mirrored."""
        return {
            "present_on": list(self.present_on),
            "blocked": self.blocked,
            "reason": self.reason,
            "pinned_to": self.pinned_to,
            "mirrored": self.mirrored,
        }


def _is_mirror_set(found: Mapping[str, ProjectSignals]) -> bool:
    sets = [set(s.file_hashes.items()) for s in found.values()]
    if any(not files for files in sets):
        return False  # without hashes nothing proves two indexes serve the same files
    fullest = max(sets, key=len)
    return all(files <= fullest for files in sets)


def pin_exclusions(pinned_to: str, found: Mapping[str, ProjectSignals]) -> frozenset[str]:
    """Versions the resolver must not pick for a name pinned to ``pinned_to`` with ``index_for``.

    pip and uv merge every configured index, so a pin alone would still resolve the highest
    version wherever it is. Excluded: every version another index offers unless each of its
    files there is one the pinned index serves too (same file name and sha256, a mirror).
    What is left can only come from the pinned index.
    """
    pinned = found.get(pinned_to)
    served = set(pinned.file_hashes.items()) if pinned is not None else set()
    excluded: set[str] = set()
    for url, signals in found.items():
        if url == pinned_to or not signals.checked or not signals.exists:
            continue
        files: dict[str, set[tuple[str, str]]] = {}
        for filename, digest in signals.file_hashes.items():
            parsed = version_of(filename)
            if parsed is not None:
                files.setdefault(parsed[0], set()).add((filename, digest))
        for version in signals.versions:
            there = files.get(version)
            if not there or not there <= served:
                excluded.add(version)
    return frozenset(excluded)


def confusion(name: str, signals: Mapping[str, ProjectSignals], pins: Mapping[str, str]) -> IndexSetVerdict:
    """The dependency-confusion verdict for ``name`` from its signals on every index."""
    unknown = [url for url, s in signals.items() if not s.checked]
    present = {url: s for url, s in signals.items() if s.checked and s.exists and s.versions}
    urls = tuple(redact(u) for u in present)
    pin = pins.get(name)
    if pin is not None:
        if pin.rstrip("/") not in signals:
            return IndexSetVerdict(
                urls,
                blocked=True,
                reason=f"index_for pins {name} to {redact(pin)}, which is not a configured index "
                f"({', '.join(redact(u) for u in signals)})",
                pinned_to=redact(pin),
            )
        return IndexSetVerdict(urls, pinned_to=redact(pin))
    if unknown and (present or len(unknown) > 1) and len(signals) > 1:
        why = "; ".join(f"{redact(u)}: {signals[u].error}" for u in unknown)
        return IndexSetVerdict(
            urls,
            blocked=True,
            reason=f"could not check whether {name} is also on another configured index ({why})",
        )
    if len(present) <= 1:
        return IndexSetVerdict(urls)
    if _is_mirror_set(present):
        return IndexSetVerdict(urls, mirrored=True)
    return IndexSetVerdict(
        urls,
        blocked=True,
        reason=(
            f"dependency confusion: {name} is on {len(present)} configured indexes with different "
            f"files ({', '.join(urls)}); pip would take the highest version from any of them. "
            f'Pin it: index_for = {{"{name}" = "<one of those URLs>"}} under [tool.kisys]'
        ),
    )

"""The resolvers' release knobs: the cooldown, ``index_for`` exclusions, the fresh lookup.

Split from :mod:`pytest_kisys.install.release_gate` so that the installer builds its
resolver's options without importing the wheel inspection (``inspect``, ``artifacts`` and
``ssl``): that import happens on the vetting warm-up thread while the resolver runs.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import datetime as dt
import time
from typing import TYPE_CHECKING

from pytest_kisys.install.interface import ResolverOptions
from pytest_kisys.settings import Settings
from pytest_kisys.vet.release_age import cutoff
from pytest_kisys.vet.release_age import exempt_names
from pytest_kisys.vet.release_age import too_new


if TYPE_CHECKING:
    from pytest_kisys.vet.interface import ProjectSignals
    from pytest_kisys.vet.vetter import Vetter


@dataclass(frozen=True)
class Cooldown:
    """What the resolvers need: the latest accepted upload time and the exempt names."""

    uploaded_before: float | None
    exempt: frozenset[str] = frozenset()


def cooldown(settings: Settings, now: float) -> Cooldown:
    """The batch's cooldown (``uploaded_before`` None: off)."""
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    return Cooldown(cutoff(now, settings.min_release_age), exempt_names(settings.release_age_exempt, today))


def resolver_options(settings: Settings, vetter: Callable[[], Vetter]) -> ResolverOptions:
    """The resolver's options for a batch: index settings, the cooldown, ``index_for`` pins.

    ``vetter`` is called only when the cooldown fallback or a pin needs index data.
    """
    gate = cooldown(settings, time.time())
    return ResolverOptions(
        index_url=settings.index.url,
        cert=settings.index.cert,
        retries=settings.retries,
        offline=settings.offline,
        uploaded_before=gate.uploaded_before,
        exempt=gate.exempt,
        fresh=fresh_lookup(vetter, settings),
        excluded=pin_exclusions(vetter, settings),
    )


def fresh_versions(signals: Mapping[str, ProjectSignals], gate: Cooldown) -> dict[str, list[str]]:
    """Name -> versions too fresh to use (the pip fallback turns them into ``!=`` constraints)."""
    if gate.uploaded_before is None:
        return {}
    return {
        name: too_new(s.uploads, gate.uploaded_before)
        for name, s in signals.items()
        if name not in gate.exempt and s.checked
    }


def pin_exclusions(vetter: Callable[[], Vetter], settings: Settings) -> dict[str, frozenset[str]]:
    """Versions the resolver must not pick for the ``index_for`` names (those other indexes
    offer), so a pinned name resolves from its pinned index; empty without pins or offline."""
    if not settings.index_for or settings.offline:
        return {}
    lookup = getattr(vetter(), "pinned_exclusions", None)
    return dict(lookup()) if lookup is not None else {}


def fresh_lookup(
    vetter: Callable[[], Vetter], settings: Settings
) -> Callable[[Sequence[str]], dict[str, list[str]]]:
    """Too-fresh versions per name, from the index's upload times (pip's fallback cooldown).

    ``vetter`` is called only when the resolver asks, so the engine is made once, lazily.
    """

    def lookup(names: Sequence[str]) -> dict[str, list[str]]:
        signals = getattr(vetter(), "signals", None)
        if signals is None:
            return {}
        return fresh_versions(signals(list(names)), cooldown(settings, time.time()))

    return lookup

"""The :class:`Vetter`: gathers evidence for a batch of requests and applies the policy.

Cheap checks first (deny list, known-malicious list, whitelist, popularity, typosquat), then one
concurrent round of index lookups for everything not already blocked, then :func:`decide` per
request. Every decision goes to the audit log (``log_file``), to the run record when one is
given, and to ``echo`` (the ``-v`` terminal line) when set.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

from pytest_kisys.pep503 import canonicalize_name
from pytest_kisys.settings import Settings
from pytest_kisys.vet.audit import AuditLog
from pytest_kisys.vet.audit import format_decision
from pytest_kisys.vet.cache import SignalCache
from pytest_kisys.vet.data import known_malicious
from pytest_kisys.vet.data import popular_ranks
from pytest_kisys.vet.indexset import configured_indexes
from pytest_kisys.vet.indexset import confusion
from pytest_kisys.vet.indexset import IndexSetVerdict
from pytest_kisys.vet.indexset import LocalIndex
from pytest_kisys.vet.indexset import pin_exclusions
from pytest_kisys.vet.interface import Decision
from pytest_kisys.vet.interface import Evidence
from pytest_kisys.vet.interface import IndexClient
from pytest_kisys.vet.interface import ProjectSignals
from pytest_kisys.vet.interface import VetRequest
from pytest_kisys.vet.pipconfig import index_location
from pytest_kisys.vet.pipconfig import IndexLocation
from pytest_kisys.vet.pipconfig import redact
from pytest_kisys.vet.policy import decide
from pytest_kisys.vet.typosquat import popular_checker
from pytest_kisys.vet.typosquat import TyposquatChecker
from pytest_kisys.vet.typosquat_signals import TyposquatMatch
from pytest_kisys.vet.verdicts import VerdictCache
from pytest_kisys.vet.whitelist import DEFAULT_WHITELIST
from pytest_kisys.vet.whitelist import Whitelist


if TYPE_CHECKING:
    import urllib3

    from pytest_kisys.record import RunRecord


class Vetter:
    """Vets requests against ``settings``; one shared index client for its whole life.

    :param transport: urllib3 ``PoolManager`` for the index client (tests, custom networking).
    :param clock: time source (POSIX seconds), injectable for cache-expiry tests.
    :param record: run record to append decisions to (``record.add("decisions", d)``).
    :param echo: called with one readable line per decision (wire to the terminal with ``-v``).
    :param on_decision: called with every decision (e.g. the ``pytest_kisys_decision`` hook).
    :param index_client: a ready client to use instead of the built-in HTTP one.
    :param location: index URL/cert to use instead of resolving settings and pip config.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: urllib3.PoolManager | None = None,
        clock: Callable[[], float] = time.time,
        record: RunRecord | None = None,
        echo: Callable[[str], None] | None = None,
        on_decision: Callable[[Decision], None] | None = None,
        index_client: IndexClient | None = None,
        location: IndexLocation | None = None,
    ) -> None:
        self.settings = settings
        self.whitelist = Whitelist(DEFAULT_WHITELIST, settings.allow)
        self.location = location or index_location(settings)
        self._transport = transport
        self._clock = clock
        self._record = record
        self._echo = echo
        self._on_decision = on_decision
        self._deny = frozenset(canonicalize_name(n) for n in settings.deny)
        cache_dir = settings.resolved_cache_dir()
        self._malicious = known_malicious(cache_dir)
        self._popular = popular_ranks()
        self._cache = SignalCache(cache_dir, settings.cache_ttl, clock)
        self._verdicts = VerdictCache(cache_dir)
        self._client = index_client
        self._audit = AuditLog(settings.log_file) if settings.log_file else None
        # prefetch(): answers fetched ahead of vet(), each used once; the lock keeps one
        # lookup of a name in flight (a prefetch thread and vet() never ask twice).
        self._prefetched: dict[str, ProjectSignals] = {}
        self._lookups = threading.Lock()

    # -- evidence

    def typosquat_match(self, name: str) -> TyposquatMatch | None:
        """The popular (or whitelisted) project ``name`` imitates, and how, or None."""
        if name in self.whitelist:
            return None
        # Against the bundled list: remembered between runs (verdicts.py), else computed.
        match = self._verdicts.match(name, lambda n: popular_checker().match(n))
        if match is None:
            # Whitelisted names that are not popular are few: compare them directly.
            extra = [w for w in self.whitelist if w not in self._popular]
            match = TyposquatChecker(dict.fromkeys(extra, 1)).match(name) if extra else None
        return match

    def typosquat_of(self, name: str) -> str | None:
        """The popular (or whitelisted) name ``name`` imitates, or None."""
        match = self.typosquat_match(name)
        return match.target if match else None

    def _static_evidence(self, name: str, now: float) -> Evidence:
        whitelisted = name in self.whitelist
        popular = name in self._popular
        match = None if whitelisted or popular else self.typosquat_match(name)
        return Evidence(
            on_deny_list=name in self._deny,
            on_malicious_list=name in self._malicious,
            whitelisted=whitelisted,
            popular=popular,
            typosquat_of=match.target if match else None,
            typosquat_signal=match.signal.value if match else None,
            offline=self.settings.offline,
            now=now,
        )

    def _index_signals(self, names: Sequence[str]) -> dict[str, ProjectSignals]:
        if not names:
            return {}
        url = redact(self.location.url)
        if self.settings.offline:
            found: dict[str, ProjectSignals] = {}
            for name in names:
                cached = self._cache.get(url, name, any_age=True)
                found[name] = cached or ProjectSignals(
                    name=name,
                    index_url=url,
                    checked=False,
                    source="none",
                    error="offline mode and no cached index data",
                )
            return found
        # Prefetched answers, then fresh cache entries: a fully warm batch never builds the
        # HTTP client.
        found = {}
        with self._lookups:
            for name in names:
                cached = self._prefetched.pop(name, None) or self._cache.get(url, name)
                if cached is not None:
                    found[name] = cached
            missing = [name for name in names if name not in found]
            if missing:
                found.update(self._index_client().lookup_many(missing))
        return found

    def prefetch(self, names: Sequence[str]) -> None:
        """Look ``names`` up on the index now, for a later :meth:`vet` (or :meth:`signals`).

        Meant for a background thread while the resolver runs or the wheels download. The
        next lookup of each name takes its answer exactly as fetched (``source`` included),
        as if it had made the request itself; later ones read the cache as before. Nothing
        is asked offline, for a name fresh in the cache, or for a name on the deny or the
        known-malicious list (:meth:`vet` never looks those up).
        """
        if self.settings.offline:
            return
        url = redact(self.location.url)
        wanted = [
            name
            for name in dict.fromkeys(canonicalize_name(n) for n in names)
            if name not in self._deny and name not in self._malicious
        ]
        with self._lookups:
            missing = [n for n in wanted if n not in self._prefetched and self._cache.get(url, n) is None]
            if missing:
                self._prefetched.update(self._index_client().lookup_many(missing))

    def _index_set(
        self, names: Sequence[str], primary: dict[str, ProjectSignals]
    ) -> dict[str, IndexSetVerdict]:
        """Dependency-confusion verdicts, when more than one index is configured; the signals
        of a name found on one other index only (or pinned there) replace the primary's."""
        per_index = self._per_index(names, primary)
        if not per_index:
            return {}
        url = redact(self.location.url)
        pins = self._pins()
        verdicts: dict[str, IndexSetVerdict] = {}
        for name in names:
            found = {index: answers[name] for index, answers in per_index.items() if name in answers}
            verdict = confusion(name, found, pins)
            verdicts[name] = verdict
            source = verdict.pinned_to or (verdict.present_on[0] if len(verdict.present_on) == 1 else None)
            if source is not None and source != url and source in found:
                primary[name] = found[source]
        return verdicts

    def _pins(self) -> dict[str, str]:
        return {name: redact(pin) for name, pin in self.settings.index_for.items()}

    def _per_index(
        self, names: Sequence[str], primary: dict[str, ProjectSignals]
    ) -> dict[str, dict[str, ProjectSignals]]:
        """Each configured index's signals for ``names`` (empty when only one is configured)."""
        if self.settings.offline or not names:
            return {}
        indexes = configured_indexes(self.location.url)
        if len(indexes) < 2:
            return {}
        per_index: dict[str, dict[str, ProjectSignals]] = {redact(self.location.url): primary}
        for extra in indexes[1:]:
            client = self._extra_client(extra)
            try:
                per_index[redact(extra)] = client.lookup_many(list(names))
            finally:
                client.close()
        return per_index

    def pinned_exclusions(self) -> dict[str, frozenset[str]]:
        """For each ``index_for`` name: the versions other indexes offer that its pinned index
        does not serve identically, which the resolver must not pick (see
        :func:`~pytest_kisys.vet.indexset.pin_exclusions`). Empty with one index."""
        pins = self._pins()
        names = sorted(pins)
        per_index = self._per_index(names, self._index_signals(names)) if names else {}
        out: dict[str, frozenset[str]] = {}
        for name in names:
            found = {
                index.rstrip("/"): answers[name] for index, answers in per_index.items() if name in answers
            }
            excluded = pin_exclusions(pins[name].rstrip("/"), found)
            if excluded:
                out[name] = excluded
        return out

    def _extra_client(self, url: str) -> IndexClient:
        if url.startswith("file:"):
            return LocalIndex(url)
        return self._http_client(url)

    def _http_client(self, url: str) -> IndexClient:
        from pytest_kisys.vet.indexclient import HttpIndexClient

        return HttpIndexClient(
            url,
            cert=self.location.cert,
            timeout=self.settings.index.timeout,
            retries=self.settings.retries,
            transport=self._transport,
            cache=self._cache,
            clock=self._clock,
        )

    def signals(self, names: Sequence[str]) -> dict[str, ProjectSignals]:
        """Index signals for ``names`` (cache first), e.g. upload times for the cooldown."""
        return self._index_signals(list(dict.fromkeys(names)))

    def _index_client(self) -> IndexClient:
        if self._client is None:
            self._client = self._http_client(self.location.url)
        return self._client

    # -- public

    def warm_up(self) -> None:
        """Pay the first-use costs now (the typosquat tables).

        Meant for a background thread while something else waits on a subprocess; no request
        is sent and no client is created, so a batch answered from the cache stays offline.
        The HTTP stack (urllib3, ~40 ms of imports) is left to the first lookup that needs it
        (:meth:`prefetch`, on the same thread right after): a batch the cache answers never
        imports it, and does not take that CPU from the resolver it runs alongside.
        """
        popular_checker().match("kisys-warm-up")

    def vet(self, requests: Sequence[VetRequest]) -> list[Decision]:
        """Decisions for ``requests``, in order; logged, recorded and echoed."""
        now = self._clock()
        static = {r.name: self._static_evidence(r.name, now) for r in requests}
        lookup = [n for n, e in static.items() if not (e.on_deny_list or e.on_malicious_list)]
        signals = self._index_signals(lookup)
        index_set = self._index_set(lookup, signals)
        decisions = []
        for request in requests:
            base = static[request.name]
            evidence = Evidence(
                on_deny_list=base.on_deny_list,
                on_malicious_list=base.on_malicious_list,
                whitelisted=base.whitelisted,
                popular=base.popular,
                typosquat_of=base.typosquat_of,
                typosquat_signal=base.typosquat_signal,
                index=signals.get(request.name),
                offline=base.offline,
                now=now,
                index_set=index_set.get(request.name),
            )
            decisions.append(decide(request, evidence, self.settings))
        self._verdicts.save()
        self._publish(decisions)
        return decisions

    def publish(self, decisions: Sequence[Decision]) -> None:
        """Log, record and echo decisions made elsewhere (e.g. invalid input in a batch)."""
        self._publish(decisions)

    def _publish(self, decisions: Sequence[Decision]) -> None:
        if self._audit is not None:
            self._audit.write(decisions, self._clock())
        for decision in decisions:
            if self._record is not None:
                self._record.add("decisions", decision)
            if self._echo is not None:
                self._echo(format_decision(decision))
            if self._on_decision is not None:
                self._on_decision(decision)

    def close(self) -> None:
        """Close the index client's connections (idempotent)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Vetter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

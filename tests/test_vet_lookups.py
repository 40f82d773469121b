"""Index lookups of a batch: one capped connection pool, sequential after a slow name lookup.

Real client, real loopback index; the server counts the requests it answers at once and the
client connections it saw.
"""

from __future__ import annotations

import time

import pytest

from pytest_kisys.vet.indexclient import HttpIndexClient
from pytest_kisys.vet.indexclient import MAX_CONNECTIONS
from tests.support.pkgindex import PackageIndex


NAMES = [f"kisys-lookup-{i:02d}" for i in range(24)]


@pytest.fixture
def busy_index(pkgindex: PackageIndex) -> PackageIndex:
    """24 projects whose every answer takes 30 ms, so concurrent lookups overlap."""
    for name in NAMES:
        pkgindex.add_project(name, versions=("1.0",))
        pkgindex.set_fault("delay", project=name, seconds=0.03)
    pkgindex.reset_connection_stats()
    return pkgindex


def test_lookups_share_one_pool_of_at_most_max_connections(busy_index: PackageIndex) -> None:
    client = HttpIndexClient(busy_index.simple_url)
    try:
        found = client.lookup_many(NAMES)
    finally:
        client.close()
    assert all(found[name].checked and found[name].exists for name in NAMES)
    assert 1 < busy_index.max_in_flight <= MAX_CONNECTIONS
    # Keep-alive: 48 requests (simple page and JSON API per project) over the pool's connections.
    assert len(busy_index.client_connections) <= MAX_CONNECTIONS
    assert not client.sequential


def test_slow_name_resolution_makes_the_lookups_sequential(busy_index: PackageIndex) -> None:
    asked: list[tuple[str, int]] = []

    def slow_resolver(host: str, port: int) -> object:
        asked.append((host, port))
        time.sleep(0.2)
        return []

    url = busy_index.simple_url.replace("127.0.0.1", "localhost")
    client = HttpIndexClient(url, stall_seconds=0.1, resolve_host=slow_resolver)
    try:
        found = client.lookup_many(NAMES[:8])
    finally:
        client.close()
    assert asked == [("localhost", busy_index.port)]
    assert all(found[name].checked for name in NAMES[:8])
    assert busy_index.max_in_flight == 1
    assert len(busy_index.client_connections) == 1  # one connection, one name lookup
    assert client.sequential


def test_a_stalled_lookup_makes_the_rest_sequential(pkgindex: PackageIndex) -> None:
    names = [f"kisys-stall-{i:02d}" for i in range(12)]
    for name in names:
        pkgindex.add_project(name, versions=("1.0",))
        pkgindex.set_fault("delay", project=name, seconds=0.05)
    pkgindex.set_fault("delay", project=names[0], seconds=0.6)  # stalls; the others are quick
    # (no cache: every lookup_many asks the index)
    client = HttpIndexClient(pkgindex.simple_url, max_connections=2, stall_seconds=0.5)
    try:
        found = client.lookup_many(names)
        assert client.sequential  # the stall was measured: what was left went one at a time
        found_again = client.lookup_many(names[1:])  # a new batch starts concurrent again
        assert not client.sequential
    finally:
        client.close()
    assert all(found[name].checked for name in names)
    assert all(found_again[name].checked for name in names[1:])


def test_an_ip_literal_index_needs_no_name_lookup(busy_index: PackageIndex) -> None:
    def must_not_resolve(host: str, port: int) -> object:
        raise AssertionError(f"resolved {host}")

    client = HttpIndexClient(busy_index.simple_url, resolve_host=must_not_resolve)
    try:
        found = client.lookup_many(NAMES[:4])
    finally:
        client.close()
    assert all(found[name].checked for name in NAMES[:4])

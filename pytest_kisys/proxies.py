"""Which proxy a request goes through: ``http_proxy``/``https_proxy``/``no_proxy``.

One rule for every outgoing connection (index lookups, advisory downloads, OTLP export), and
it is the standard library's (:func:`urllib.request.getproxies_environment` and
:func:`urllib.request.proxy_bypass_environment`), so kisys agrees with urllib, pip and requests
on what ``no_proxy`` means. Loopback hosts are always reached directly.
"""

from __future__ import annotations

from collections.abc import Mapping
import os
from urllib.parse import SplitResult
from urllib.parse import urlsplit
import urllib.request
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # untyped in typeshed


__all__ = ["env_proxies", "proxy_for"]

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def env_proxies(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The proxies of ``environ`` (default: this process) as ``{scheme: url, "no": hosts}``.

    The shape of :func:`urllib.request.getproxies_environment`, which reads the process
    environment; for another mapping the same rule is applied to it (lower-case names win).
    """
    if environ is None or environ is os.environ:
        return urllib.request.getproxies_environment()
    found: dict[str, str] = {}
    for lower_case_wins in (False, True):
        for name, value in environ.items():
            if value and name.lower().endswith("_proxy") and (name == name.lower()) == lower_case_wins:
                found[name.lower()[: -len("_proxy")]] = value
    return found


def proxy_for(endpoint: SplitResult, proxies: Mapping[str, str]) -> SplitResult | None:
    """The proxy URL for ``endpoint`` from :func:`env_proxies`' mapping, or None (go direct)."""
    host = endpoint.hostname or ""
    if host in _LOOPBACK:
        return None
    if "no" in proxies and proxy_bypass_environment(host, dict(proxies)):
        return None
    url = proxies.get(endpoint.scheme, "").strip()
    if not url:
        return None
    return urlsplit(url if "://" in url else f"http://{url}")

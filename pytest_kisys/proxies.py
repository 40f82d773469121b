"""Which proxy a request goes through: ``http_proxy``/``https_proxy``/``no_proxy``, as requests does.

One rule for every outgoing connection (index lookups, advisory downloads, OTLP export);
loopback hosts are always reached directly. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
import os
from urllib.parse import SplitResult
from urllib.parse import urlsplit


_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_NAMES = ("http_proxy", "https_proxy", "no_proxy")


def env_proxies(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``*_proxy`` variables of ``environ`` (default: this process), names lower-cased."""
    source = os.environ if environ is None else environ
    return {name.lower(): value for name, value in source.items() if name.lower() in _NAMES}


def proxy_for(endpoint: SplitResult, proxies: Mapping[str, str]) -> SplitResult | None:
    """The proxy URL for ``endpoint`` from lower-cased ``*_proxy`` variables, or None."""
    host = endpoint.hostname or ""
    if host in _LOOPBACK:
        return None
    for entry in proxies.get("no_proxy", "").split(","):
        suffix = entry.strip().lstrip(".").lower()
        if suffix == "*" or (suffix and (host == suffix or host.endswith("." + suffix))):
            return None
    url = proxies.get(f"{endpoint.scheme}_proxy", "").strip()
    if not url:
        return None
    return urlsplit(url if "://" in url else f"http://{url}")

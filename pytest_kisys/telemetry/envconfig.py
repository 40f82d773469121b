"""The ``OTEL_*`` environment, read once into a frozen :class:`TraceEnv` (never written back).

Pure logic: takes any mapping (``os.environ`` in production, a dict in tests) and imports only
the standard library. Bad values raise :class:`~pytest_kisys.errors.ConfigError` naming the
variable and what it accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import unquote

from pytest_kisys.errors import ConfigError
from pytest_kisys.proxies import env_proxies


SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
PROTOCOLS = ("http/protobuf", "grpc")
DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"
DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"


@dataclass(frozen=True)
class TraceEnv:
    """The tracing-related part of an environment, parsed and validated."""

    sdk_disabled: bool = False
    service_name: str = "pytest"
    resource_attributes: Mapping[str, str] = field(default_factory=dict)
    protocol: str = "http/protobuf"
    endpoint: str = DEFAULT_HTTP_ENDPOINT + "/v1/traces"
    headers: Mapping[str, str] = field(default_factory=dict)
    sampler: str = "parentbased_always_on"
    sampler_ratio: float = 1.0
    tracestate: str | None = None
    compression: str = "none"
    certificate: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None
    proxies: Mapping[str, str] = field(default_factory=dict)


def parse_key_values(text: str, variable: str) -> dict[str, str]:
    """``k1=v1,k2=v2`` with percent-encoded keys and values (W3C baggage style)."""
    result: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"{variable}: {item.strip()!r} is not key=value; expected a comma list of key=value"
            )
        result[unquote(key.strip())] = unquote(value.strip())
    return result


def _endpoint(environ: Mapping[str, str], protocol: str) -> str:
    signal = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if signal:
        return signal
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if protocol == "grpc":
        return base or DEFAULT_GRPC_ENDPOINT
    # The generic endpoint is a base URL; the per-signal path is appended (OTLP exporter spec).
    return (base or DEFAULT_HTTP_ENDPOINT).rstrip("/") + "/v1/traces"


def _sampler(environ: Mapping[str, str]) -> tuple[str, float]:
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower() or "parentbased_always_on"
    if name not in SAMPLERS:
        raise ConfigError(f"OTEL_TRACES_SAMPLER={name!r} is not supported; allowed: {', '.join(SAMPLERS)}")
    raw = environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    ratio = 1.0
    if raw and name.endswith("traceidratio"):
        try:
            ratio = float(raw)
        except ValueError:
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            raise ConfigError(
                f"OTEL_TRACES_SAMPLER_ARG={raw!r} is not a ratio; expected a number from 0 to 1"
            )
    return name, ratio


def _signal_or_generic(environ: Mapping[str, str], suffix: str) -> str | None:
    """``OTEL_EXPORTER_OTLP_TRACES_<suffix>``, else ``OTEL_EXPORTER_OTLP_<suffix>``."""
    for name in (f"OTEL_EXPORTER_OTLP_TRACES_{suffix}", f"OTEL_EXPORTER_OTLP_{suffix}"):
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def read_trace_env(environ: Mapping[str, str]) -> TraceEnv:
    """Parse the ``OTEL_*`` variables of ``environ`` that kisys honours."""
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "").strip()
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip()
        or "http/protobuf"
    )
    if protocol not in PROTOCOLS:
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported; allowed: {', '.join(PROTOCOLS)}"
        )
    headers_var = (
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
        if environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "").strip()
        else "OTEL_EXPORTER_OTLP_HEADERS"
    )
    resource = parse_key_values(environ.get("OTEL_RESOURCE_ATTRIBUTES", ""), "OTEL_RESOURCE_ATTRIBUTES")
    service = environ.get("OTEL_SERVICE_NAME", "").strip() or resource.get("service.name") or "pytest"
    sampler, ratio = _sampler(environ)
    return TraceEnv(
        sdk_disabled=environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true",
        service_name=service,
        resource_attributes=resource,
        protocol=protocol,
        endpoint=_endpoint(environ, protocol),
        headers=parse_key_values(environ.get(headers_var, ""), headers_var),
        sampler=sampler,
        sampler_ratio=ratio,
        tracestate=environ.get("TRACESTATE", "").strip() or None,
        compression=(_signal_or_generic(environ, "COMPRESSION") or "none").lower(),
        certificate=_signal_or_generic(environ, "CERTIFICATE"),
        client_certificate=_signal_or_generic(environ, "CLIENT_CERTIFICATE"),
        client_key=_signal_or_generic(environ, "CLIENT_KEY"),
        proxies=env_proxies(environ),
    )

"""The value types of :class:`~pytest_kisys.settings.Settings` and one converter per option.

Each converter takes the raw value of one option as given (command line, environment, ini,
``[tool.kisys]``, ``kisys.yaml``), checks it, and returns its typed value, or raises a
:class:`~pytest_kisys.errors.ConfigError` naming the option, where it was given and what would
be accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
import re

from pytest_kisys.convert.scalars import choice
from pytest_kisys.convert.scalars import CODE_TOOLS
from pytest_kisys.convert.scalars import Converter
from pytest_kisys.convert.scalars import duration
from pytest_kisys.convert.scalars import globs
from pytest_kisys.convert.scalars import mask_env
from pytest_kisys.convert.scalars import names_or_paths
from pytest_kisys.convert.scalars import number
from pytest_kisys.convert.scalars import opt_str
from pytest_kisys.convert.scalars import otel_exporter
from pytest_kisys.convert.scalars import positive_int
from pytest_kisys.convert.scalars import scan_set
from pytest_kisys.convert.scalars import SCANS
from pytest_kisys.convert.scalars import semgrep_rules
from pytest_kisys.convert.scalars import str_table
from pytest_kisys.convert.scalars import to_bool
from pytest_kisys.convert.scalars import to_path
from pytest_kisys.convert.scalars import to_project_names
from pytest_kisys.convert.scalars import TRACE_KEEP
from pytest_kisys.convert.scalars import trace_sink
from pytest_kisys.convert.tables import baselines
from pytest_kisys.convert.tables import ignore_rules
from pytest_kisys.convert.tables import IgnoreRule
from pytest_kisys.convert.tables import import_map
from pytest_kisys.convert.tables import index_for
from pytest_kisys.convert.tables import index_table
from pytest_kisys.convert.tables import IndexSettings
from pytest_kisys.convert.tables import release_age_exempt
from pytest_kisys.convert.tables import secret_refs
from pytest_kisys.convert.tables import stage_tables
from pytest_kisys.options import AUDIT_SERVICES
from pytest_kisys.options import BACKENDS
from pytest_kisys.options import FAIL_ON
from pytest_kisys.options import LEVELS
from pytest_kisys.options import ON_DENIED
from pytest_kisys.options import SEVERITIES


__all__ = [
    "CODE_TOOLS",
    "CONVERTERS",
    "SCANS",
    "IgnoreRule",
    "IndexSettings",
    "otel_exporter",
    "to_bool",
    "to_project_names",
]

_URL = re.compile(r"https?://\S+")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")

CONVERTERS: Mapping[str, Converter] = {
    "enabled": to_bool,
    "level": choice(LEVELS),
    "offline": to_bool,
    "allow": to_project_names,
    "deny": to_project_names,
    "scan": scan_set,
    "semgrep_rules": semgrep_rules,
    "code_rule_pairs": str_table(None, "a table of semgrep rule id = bandit test id"),
    "secrets_severity": str_table(SEVERITIES, "a table of detect-secrets plugin = " + ", ".join(SEVERITIES)),
    "secrets_test_paths": globs,
    "sarif_split": to_path,
    "fail_on": choice(FAIL_ON),
    "report": to_path,
    "sarif": to_path,
    "sbom": to_path,
    "trace": trace_sink,
    "learn": to_bool,
    "scan_first": to_bool,
    "traceparent": opt_str(_TRACEPARENT, "a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)"),
    "backend": choice(BACKENDS),
    "log_file": to_path,
    "cache_dir": to_path,
    "cache_ttl": number(float),
    "retries": number(int),
    "max_workers": number(int),
    "allow_system_install": to_bool,
    "isolate": to_bool,
    "on_denied": choice(ON_DENIED),
    "allow_inconclusive": to_bool,
    "audit_service": choice(AUDIT_SERVICES),
    "osv_url": opt_str(_URL, "an http:// or https:// URL"),
    "osv_batch": to_bool,
    "scan_timeout": number(float),
    "trace_timeout": number(float),
    "trace_queue_max": positive_int,
    "trace_keep": opt_str(TRACE_KEEP, "all, failed or slow:SECONDS"),
    "trace_phases": to_bool,
    "cost_per_cpu_hour": number(float),
    "history": to_bool,
    "history_url": opt_str(re.compile(r"\S+"), "a SQLAlchemy URL or a file path"),
    "history_keep": number(int),
    "html": to_path,
    "import_map": import_map,
    "ignore": ignore_rules,
    "baseline": baselines,
    "index": index_table,
    "stages": stage_tables,
    "secrets": secret_refs,
    "mask_env": mask_env,
    "mask": to_bool,
    "min_release_age": duration,
    "release_age_exempt": release_age_exempt,
    "index_for": index_for,
    "use_declared": to_bool,
    "declared": lambda raw, key, where: names_or_paths(raw, key, where),
    "project_extras": lambda raw, key, where: names_or_paths(raw, key, where, paths=False),
}

"""The declaration of every pytest-kisys setting: its flag, ini twin and environment variable.

Imported on every pytest run (the plugin adds the options from it), so it holds plain data and
nothing else: converters and validation live in :mod:`pytest_kisys.settings`, which is imported
only when kisys could be on.
"""

from __future__ import annotations

from collections.abc import Mapping


LEVELS = ("paranoid", "balanced", "autonomous")
FAIL_ON = ("low", "medium", "high", "critical", "never")
SEVERITIES = ("info", "low", "medium", "high", "critical")
"""The one severity order, lowest first (findings, stage findings, ``fail_on``)."""
SEVERITY_RANK: Mapping[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}
"""Severity name -> its place in :data:`SEVERITIES`."""
BACKENDS = ("pip", "uv", "auto")
ON_DENIED = ("skip", "error")
AUDIT_SERVICES = ("pypi", "osv")
# Name parts of environment variables whose values are masked in every output (mask_env).
DEFAULT_MASK_ENV = (
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "API_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
    "AUTH",
)


class Option:
    """One setting: where it may be given, its help text and what it accepts.

    ``flag`` is the command-line option (None: config files and env only), ``env`` the
    environment variable, ``ini`` whether a pytest ini twin exists, ``multi`` whether the flag
    may be repeated to build a list.
    """

    __slots__ = ("allowed", "env", "flag", "help", "ini", "metavar", "multi", "name")

    def __init__(
        self,
        name: str,
        help: str,
        allowed: str,
        *,
        flag: str | None = None,
        env: str | None = None,
        ini: bool = True,
        multi: bool = False,
        metavar: str | None = None,
    ) -> None:
        self.name = name
        self.help = help
        self.allowed = allowed
        self.flag = flag
        self.env = env
        self.ini = ini
        self.multi = multi
        self.metavar = metavar

    def __repr__(self) -> str:
        return f"Option({self.name!r})"


def ini_name(option: Option) -> str:
    """The pytest ini twin of ``option``: ``kisys`` for ``enabled``, else ``kisys_<name>``."""
    return "kisys" if option.name == "enabled" else f"kisys_{option.name}"


def dest_name(option: Option) -> str:
    """The argparse destination of ``option``'s command-line flag."""
    return "kisys" if option.name == "enabled" else f"kisys_{option.name}"


OPTIONS: tuple[Option, ...] = (
    Option("enabled", "turn pytest-kisys on", "true or false", flag="--kisys"),
    Option(
        "level",
        "security level",
        ", ".join(LEVELS),
        flag="--kisys-level",
        env="KISYS_LEVEL",
        metavar="{" + ",".join(LEVELS) + "}",
    ),
    Option(
        "offline",
        "no network: bundled data, cache and local wheels only",
        "true or false",
        flag="--kisys-offline",
        env="KISYS_OFFLINE",
    ),
    Option(
        "allow",
        "allow this project for this run (repeatable)",
        "project names",
        flag="--kisys-allow",
        env="KISYS_ALLOW",
        multi=True,
        metavar="NAME",
    ),
    Option(
        "deny",
        "never install this project (repeatable)",
        "project names",
        flag="--kisys-deny",
        env="KISYS_DENY",
        multi=True,
        metavar="NAME",
    ),
    Option(
        "scan",
        "session checks to run: all, none, or a comma list of code, deps, secrets "
        "(code:bandit or code:semgrep for one code scanner)",
        "all, none, code, code:bandit, code:semgrep, deps, secrets",
        flag="--kisys-scan",
        env="KISYS_SCAN",
        metavar="LIST",
    ),
    Option(
        "fail_on",
        "fail the session on findings at or above this severity",
        ", ".join(FAIL_ON),
        flag="--kisys-fail-on",
        env="KISYS_FAIL_ON",
        metavar="{" + ",".join(FAIL_ON) + "}",
    ),
    Option(
        "report",
        "write the JSON report (schema kisys-report/1) to PATH",
        "a file path",
        flag="--kisys-report",
        env="KISYS_REPORT",
        metavar="PATH",
    ),
    Option(
        "sarif",
        "write SARIF 2.1.0 to PATH",
        "a file path",
        flag="--kisys-sarif",
        env="KISYS_SARIF",
        metavar="PATH",
    ),
    Option(
        "sarif_split",
        "also write one SARIF file per tool into DIR (for separate uploads)",
        "a directory path",
        flag="--kisys-sarif-split",
        env="KISYS_SARIF_SPLIT",
        metavar="DIR",
    ),
    Option(
        "semgrep_rules",
        "local semgrep rule files or directories (semgrep runs only when set; never the registry)",
        "a list of paths",
        flag="--kisys-semgrep-rules",
        env="KISYS_SEMGREP_RULES",
        multi=True,
        metavar="PATH",
    ),
    Option(
        "code_rule_pairs",
        "semgrep rule id -> bandit test id pairs that report the same problem (merged)",
        "a table of semgrep rule id = bandit test id",
        ini=False,
    ),
    Option(
        "secrets_severity",
        "severity per detect-secrets plugin, over the built-in table",
        "a table of plugin name = info, low, medium, high or critical",
        ini=False,
    ),
    Option(
        "secrets_test_paths",
        "path globs where a secret counts one severity lower (test data)",
        "a list of path globs",
        env="KISYS_SECRETS_TEST_PATHS",
    ),
    Option(
        "sbom",
        "write a CycloneDX SBOM of the test environment to PATH",
        "a file path",
        flag="--kisys-sbom",
        env="KISYS_SBOM",
        metavar="PATH",
    ),
    Option(
        "trace",
        "span export: none, console, otlp or file:PATH",
        "none, console, otlp or file:PATH",
        flag="--kisys-trace",
        env="KISYS_TRACE",
        metavar="{none,console,otlp,file:PATH}",
    ),
    Option(
        "learn",
        "add packages you confirm to the allow list of the config file",
        "true or false",
        flag="--kisys-learn",
        env="KISYS_LEARN",
    ),
    Option(
        "scan_first",
        "run the checks before the tests and stop early when they fail",
        "true or false",
        flag="--kisys-scan-first",
        env="KISYS_SCAN_FIRST",
    ),
    Option(
        "traceparent",
        "parent span context (default: TRACEPARENT)",
        "a W3C traceparent",
        flag="--kisys-traceparent",
        env="TRACEPARENT",
        metavar="TRACEPARENT",
    ),
    Option(
        "backend",
        "installer backend",
        ", ".join(BACKENDS),
        flag="--kisys-backend",
        env="KISYS_BACKEND",
        metavar="{" + ",".join(BACKENDS) + "}",
    ),
    Option(
        "log_file",
        "append every decision and install as a JSON line to PATH",
        "a file path",
        flag="--kisys-log-file",
        env="KISYS_LOG_FILE",
        metavar="PATH",
    ),
    Option(
        "cache_dir",
        "cache directory (default $XDG_CACHE_HOME/pytest-kisys)",
        "a directory path",
        env="KISYS_CACHE_DIR",
    ),
    Option("cache_ttl", "seconds an index lookup stays cached", "a number >= 0", env="KISYS_CACHE_TTL"),
    Option("retries", "retries for network failures", "a whole number >= 0", env="KISYS_RETRIES"),
    Option(
        "max_workers",
        "parallel workers for checks and stages (0: CPU count)",
        "a whole number >= 0",
        env="KISYS_MAX_WORKERS",
    ),
    Option(
        "allow_system_install",
        "allow installing into an externally managed (PEP 668) interpreter",
        "true or false",
    ),
    Option(
        "isolate",
        "install missing test dependencies into an overlay under the cache, never into the environment",
        "true or false",
        flag="--kisys-isolate",
        env="KISYS_ISOLATE",
    ),
    Option(
        "on_denied",
        "what a test whose requirement was denied does",
        ", ".join(ON_DENIED),
        env="KISYS_ON_DENIED",
    ),
    Option(
        "allow_inconclusive",
        "do not fail the session when a check could not run",
        "true or false",
        env="KISYS_ALLOW_INCONCLUSIVE",
    ),
    Option(
        "audit_service",
        "vulnerability service for the deps check",
        ", ".join(AUDIT_SERVICES),
        env="KISYS_AUDIT_SERVICE",
    ),
    Option("osv_url", "OSV API base URL", "an http:// or https:// URL", env="KISYS_OSV_URL"),
    Option(
        "osv_batch",
        "with the osv service, audit in one /v1/querybatch request (false: pip-audit, one query per package)",
        "true or false",
        env="KISYS_OSV_BATCH",
    ),
    Option("scan_timeout", "seconds each check may take", "a number >= 0", env="KISYS_SCAN_TIMEOUT"),
    Option("trace_timeout", "total seconds span export may take", "a number >= 0", env="KISYS_TRACE_TIMEOUT"),
    Option(
        "trace_queue_max",
        "most spans waiting for export; more are dropped and counted in the warning line",
        "a whole number >= 1",
        env="KISYS_TRACE_QUEUE_MAX",
    ),
    Option("trace_keep", "which test spans to keep", "all, failed or slow:SECONDS", env="KISYS_TRACE_KEEP"),
    Option(
        "trace_phases", "child spans per test phase and fixture", "true or false", env="KISYS_TRACE_PHASES"
    ),
    Option(
        "cost_per_cpu_hour",
        "money per CPU hour for the cost estimate",
        "a number >= 0",
        env="KISYS_COST_PER_CPU_HOUR",
    ),
    Option(
        "history",
        "record this run in the history store that kisys dashboard reads",
        "true or false",
        env="KISYS_HISTORY",
    ),
    Option(
        "history_url",
        "history store (default: SQLite at <rootdir>/.kisys/history.db)",
        "a SQLAlchemy URL (sqlite:///PATH, postgresql+psycopg://...) or a file path",
        env="KISYS_HISTORY_URL",
    ),
    Option(
        "history_keep",
        "runs the history store keeps (0: all)",
        "a whole number >= 0",
        env="KISYS_HISTORY_KEEP",
    ),
    Option(
        "html",
        "write a self-contained HTML report of this run to PATH",
        "a file path",
        flag="--kisys-html",
        env="KISYS_HTML",
        metavar="PATH",
    ),
    Option(
        "import_map",
        "import name -> project name overrides",
        "a table of import name = project name",
        ini=False,
    ),
    Option("ignore", "suppressed findings", "a list of {id, reason, expires}", ini=False),
    Option("baseline", "baseline files", "a table with code/secrets paths", ini=False),
    Option("index", "package index settings", "a table with url, cert, timeout", ini=False),
    Option("stages", "extra workflow stages", "a list of stage tables", ini=False),
    Option(
        "secrets",
        "named secrets for the kisys_secrets fixture",
        "a table of name = source URI (env:, aws-sm:, vault:, vault-kv1:, azure-kv:)",
        ini=False,
    ),
    Option(
        "mask_env",
        "environment variables whose values are masked in every output, by name part",
        "a list of name parts such as TOKEN, SECRET, PASSWORD",
        env="KISYS_MASK_ENV",
        multi=True,
    ),
    Option(
        "mask",
        "mask secrets in every output (turn off only to debug masking itself)",
        "true or false",
        env="KISYS_MASK",
    ),
    Option(
        "min_release_age",
        "use only files uploaded at least this long ago (0: off)",
        "a duration such as 7d, 48h, 30m or 2w, or 0",
        flag="--kisys-min-release-age",
        env="KISYS_MIN_RELEASE_AGE",
        metavar="DURATION",
    ),
    Option(
        "release_age_exempt",
        "projects whose fresh releases may be used",
        "a list of {name, reason, expires}",
        ini=False,
    ),
    Option(
        "index_for",
        "pin a project to one index (dependency confusion)",
        "a table of project name = index URL",
        ini=False,
    ),
    Option(
        "use_declared",
        "install the project's declared test dependencies (groups, extras, requirements files)",
        "true or false",
        env="KISYS_USE_DECLARED",
    ),
    Option(
        "declared",
        "more dependency groups, extras or requirements files to read as test dependencies",
        "a list of group names or paths relative to rootdir",
        multi=True,
    ),
    Option(
        "project_extras",
        "which of the project's own extras to install (default: all but docs/lint/release ones)",
        "a list of extra names ([] for none)",
        multi=True,
    ),
)
OPTIONS_BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}

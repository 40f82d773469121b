"""Generate ``pytest_kisys/data/pytest_plugins.json``: what the most-used pytest plugins provide.

For each of the most-downloaded ``pytest-*`` projects in the bundled popularity list (plus a few
well-known plugins without the prefix, :data:`EXTRA`), this installs the project's real wheel
with uv into a scratch virtualenv beside pytest, starts pytest there once with a probe plugin,
and records what the project registered: fixtures, markers, ini keys, command-line options and
its ``pytest11`` entry-point names. Everything is compared with a baseline venv holding pytest
alone, so only what the plugin added is kept; fixtures are attributed by the module that defines
them. Items that a plugin only has because it depends on another plugin of the table are kept on
that other plugin alone. Projects that fail to install or to start are listed with the reason.

The probe reads pytest internals (``_inidict``, ``_arg2fixturedefs``): this script is a data
generator run by hand, not product code. Never edit the generated file; re-run::

    python scripts/gen_plugin_table.py [--limit 170] [--jobs 2] [--workdir /tmp/kisys-plugins]
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
import datetime as dt
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from packaging.utils import canonicalize_name


ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "pytest_kisys" / "data" / "pytest_plugins.json"
POPULAR = ROOT / "pytest_kisys" / "data" / "popular.txt"
EXTRA = ("anyio", "hypothesis", "syrupy", "time-machine", "respx", "faker", "inline-snapshot", "typeguard")
"""Popular projects whose pytest11 plugin does not carry the ``pytest-`` prefix."""
SKIP = {"pytest-kisys"}

PROBE = r"""
import importlib.metadata as md
import json
import re
import sys
import tempfile

import pytest

target = sys.argv[1]
out = {}


class Probe:
    def pytest_collection_finish(self, session):
        config = session.config
        parser = config._parser
        options = set()
        for group in [parser._anonymous, *parser._groups]:
            for option in group.options:
                options.update(option.names())
        out["options"] = sorted(options)
        out["ini"] = sorted(parser._inidict)
        markers = set()
        for line in config.getini("markers"):
            match = re.match(r"\s*([A-Za-z_][\w]*)", line)
            if match:
                markers.add(match.group(1))
        out["markers"] = sorted(markers)
        top_to_dist = md.packages_distributions()
        fixtures = {}
        manager = session._fixturemanager
        # pytest 9 keys definitions by node, earlier releases by node id.
        table = getattr(manager, "_arg2node2fixturedefs", None) or getattr(manager, "_arg2fixturedefs")
        for name, defs in table.items():
            if isinstance(defs, dict):
                defs = [d for group in defs.values() for d in group]
            for fixturedef in defs:
                module = getattr(fixturedef.func, "__module__", "") or ""
                dists = top_to_dist.get(module.split(".", 1)[0], [])
                fixtures.setdefault(name, sorted({str(canonicalize(d)) for d in dists}))
        out["fixtures"] = fixtures
        plugins = {}
        for plugin, dist in config.pluginmanager.list_plugin_distinfo():
            project = canonicalize(dist.metadata["Name"])
            plugins.setdefault(project, []).append(config.pluginmanager.get_name(plugin))
        out["pytest11"] = {k: sorted(set(v)) for k, v in plugins.items()}
        requires = md.requires(target) if target != "pytest" else []
        out["requires"] = requires or []
        out["version"] = md.version(target)


def canonicalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


with tempfile.TemporaryDirectory() as tmp:
    open(tmp + "/pytest.ini", "w").write("[pytest]\n")
    code = pytest.main(
        ["--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", tmp, "-c", tmp + "/pytest.ini", tmp],
        plugins=[Probe()],
    )
if "options" not in out:
    print(json.dumps({"error": f"pytest did not start (exit {int(code)})"}))
else:
    print(json.dumps(out))
"""


def _env() -> dict[str, str]:
    # uv and pip of the machine may carry extra indexes: the table comes from the public index.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    env.pop("PYTEST_ADDOPTS", None)
    return env


def ranked(limit: int) -> list[str]:
    """The ``limit`` most-downloaded ``pytest-*`` names of the bundled list, then :data:`EXTRA`."""
    names = []
    for line in POPULAR.read_text(encoding="utf-8").splitlines():
        if line.startswith("pytest-") and line not in SKIP:
            names.append(line)
    return names[:limit] + [canonicalize_name(n) for n in EXTRA]


def probe(
    name: str, workdir: Path, uv: str, pytest_req: str, timeout: float, binary: bool = True
) -> dict[str, Any]:
    """Install ``name`` (and pytest) in a scratch venv and report what pytest sees.

    :param binary: the plugin from its wheel only (the second pass allows its sdist).
    """
    venv = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
    python = venv / "bin" / "python"
    try:
        steps = [
            [uv, "venv", "-q", "--python", sys.executable, str(venv)],
            [
                uv,
                "pip",
                "install",
                "-q",
                "--python",
                str(python),
                *(["--only-binary", name] if binary else []),
            ]
            + [pytest_req]
            + ([name] if name != "pytest" else []),
        ]
        for command in steps:
            done = subprocess.run(
                command, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
            )
            if done.returncode != 0:
                return {"error": "install failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:300]}
        done = subprocess.run(
            [str(python), "-c", PROBE, name],
            env=_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=venv,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if not lines:
            tail = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["?"])[-1]
            return {"error": f"pytest did not start: {tail[:300]}"}
        result: dict[str, Any] = json.loads(lines[-1])
        print(f"probed {name}", file=sys.stderr, flush=True)
        return result
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    finally:
        shutil.rmtree(venv, ignore_errors=True)


def build(results: dict[str, dict[str, Any]], baseline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What each plugin adds over the baseline, with items of dependency plugins removed."""
    base_options = set(baseline["options"])
    base_ini = set(baseline["ini"])
    base_markers = set(baseline["markers"])
    base_fixtures = set(baseline["fixtures"])
    table: dict[str, dict[str, Any]] = {}
    for name, found in results.items():
        if "error" in found:
            continue
        own_fixtures = sorted(
            f
            for f, dists in found["fixtures"].items()
            if f not in base_fixtures and (name in dists or not dists)
        )
        table[name] = {
            "version": found["version"],
            "pytest11": found["pytest11"].get(name, []),
            "fixtures": own_fixtures,
            "markers": sorted(set(found["markers"]) - base_markers),
            "ini": sorted(set(found["ini"]) - base_ini),
            "options": sorted(set(found["options"]) - base_options),
            "others": sorted(set(found["pytest11"]) - {name, "pytest"}),
        }
    # A plugin that pulls in another plugin of the table shows that one's items too.
    for entry in table.values():
        for other in entry.pop("others"):
            if other in table:
                for kind in ("markers", "ini", "options"):
                    entry[kind] = [x for x in entry[kind] if x not in set(table[other][kind])]
    return {k: v for k, v in sorted(table.items()) if v["pytest11"]}


def main(argv: list[str] | None = None) -> int:
    """Probe every plugin and write the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=170, help="how many pytest-* names (default 170)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kisys-plugins")
    parser.add_argument("--uv", default=shutil.which("uv") or "uv")
    parser.add_argument("--pytest", default="pytest", help="pytest requirement (default: newest)")
    parser.add_argument("--date", default=dt.date.today().isoformat())
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", nargs="*", help="probe only these names")
    parser.add_argument(
        "--retry-failed", action="store_true", help="probe again only what --out lists as failed, and merge"
    )
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    previous: dict[str, Any] | None = None
    if args.retry_failed:
        previous = json.loads(args.out.read_text(encoding="utf-8"))
        names = sorted(previous["failed"])
    else:
        names = args.only or ranked(args.limit)
    baseline = probe("pytest", args.workdir, args.uv, args.pytest, args.timeout)
    if "error" in baseline:
        print(f"baseline failed: {baseline['error']}", file=sys.stderr)
        return 1
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = dict(
            zip(
                names,
                pool.map(lambda n: probe(n, args.workdir, args.uv, args.pytest, args.timeout), names),
                strict=True,
            )
        )
    # Second pass for what failed: its sdist (old pure-Python plugins ship no wheel), and the
    # newest pytest of the previous major (plugins that do not start on the newest one).
    retry = [n for n, r in results.items() if "error" in r]
    if retry:
        older = probe("pytest", args.workdir, args.uv, "pytest<9", args.timeout)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            second = dict(
                zip(
                    retry,
                    pool.map(
                        lambda n: probe(n, args.workdir, args.uv, "pytest<9", args.timeout, binary=False),
                        retry,
                    ),
                    strict=True,
                )
            )
        if "error" not in older:
            for name, found in build({k: v for k, v in second.items() if "error" not in v}, older).items():
                found["probed_with"] = f"pytest {older['version']}, from its sdist if it has no wheel"
                results[name] = {"done": found}
    table = build({k: v for k, v in results.items() if "done" not in v}, baseline)
    table.update({k: v["done"] for k, v in results.items() if "done" in v})
    table = dict(sorted(table.items()))
    failed = {n: r["error"] for n, r in results.items() if "error" in r}
    no_plugin = sorted(n for n, r in results.items() if "error" not in r and n not in table)
    document = {
        "_generated": "GENERATED by scripts/gen_plugin_table.py; do not edit by hand.",
        "source": (
            f"real wheels from the public package index of the {args.limit} most-downloaded "
            "pytest-* projects in pytest_kisys/data/popular.txt plus "
            + ", ".join(EXTRA)
            + ", each installed with uv into a scratch venv beside pytest; what pytest "
            "registered compared with pytest alone"
        ),
        "generated": args.date,
        "pytest": baseline["version"],
        "python": ".".join(map(str, sys.version_info[:2])),
        "probed": len(names),
        "failed": failed,
        "no_pytest11": no_plugin,
        "plugins": table,
    }
    if previous is not None:
        # Merge the second attempt into the earlier full run; its header stays, with this date.
        merged_failed = {n: e for n, e in previous["failed"].items() if n not in table}
        merged_failed.update({n: e for n, e in failed.items() if n not in table})
        document = {
            **previous,
            "generated": args.date,
            "failed": merged_failed,
            "no_pytest11": sorted(set(previous["no_pytest11"]) | set(no_plugin)),
            "plugins": dict(sorted({**previous["plugins"], **table}.items())),
        }
    args.out.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(
        f"{len(table)} plugins written to {args.out}; {len(failed)} failed, {len(no_plugin)} without pytest11"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

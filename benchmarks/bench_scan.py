"""Session checks: kisys against the scanners' own CLIs run one after another, same tree.

On a copy of an installed package's source (default: pip, about 150,000 lines of Python), or a
``--lines N`` slice of it, each repetition runs, interleaved:

1. **all checks** (issue 19): the three CLIs one after another (``bandit -r . -f json -q``,
   ``detect-secrets scan --all-files -n``, ``pip-audit -f json -s osv --osv-url ...``), then
   ``run_checks`` cold (empty cache) and warm (unchanged tree). Goal cold <= 0.25x on pip's
   source, <= 0.5x at 10k lines.
2. **code, both scanners** (issue 18): ``bandit -r .`` then ``semgrep scan --json --config
   RULES`` (plain semgrep, as a user runs it), then the kisys ``code`` check with bandit and
   semgrep cold and warm. Goals cold <= 0.6x, warm <= 0.05x.

Findings are compared too: bandit's CLI results against kisys's bandit findings (kisys leaves
``assert`` out of test files), detect-secrets' against kisys's secrets findings (file, line,
type), pip-audit's against kisys's deps findings (package, version, id, aliases, fix versions),
semgrep's against kisys's semgrep findings.

The dependency audits (pip-audit's, and kisys's one ``/v1/querybatch``) ask a loopback OSV
server (``tests/support/osv_server.py``) run as a separate process, so its work is not
counted for either side; besides the test records it holds advisories for a few
distributions installed here (:func:`_installed_records`), so both audits have findings to
agree on. kisys runs in this process (what a pytest session pays for its checks: the
interpreter and pytest are already there); the CLIs are whole processes. Wall and CPU time
(this process plus its children) per run, medians with [min-max] over the repetitions
(``benchmarks/timing.py``), the load average before each repetition and at the end.

The tree is a copy of pip's installed source (``pip`` in this interpreter; ``--tree DIR``
for another). For pip 26.3 as in docs/performance.md, from PyPI:
``pip download --no-deps --no-binary :all: pip==26.3`` and ``--tree pip-26.3/src/pip``.

    python benchmarks/bench_scan.py [--tree DIR] [--lines N] [--repeat N] [--rules FILE]
"""

from __future__ import annotations

import argparse
from collections import Counter
import importlib.metadata
import json
import os
from pathlib import Path
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_kisys.scan.bandit import is_test_file  # noqa: E402
from pytest_kisys.scan.interface import CheckResult  # noqa: E402
from pytest_kisys.scan.runner import run_check  # noqa: E402
from pytest_kisys.scan.runner import run_checks  # noqa: E402
from pytest_kisys.scan.semgrep import semgrep_env  # noqa: E402
from pytest_kisys.settings import Settings  # noqa: E402
from tests.support.osv_server import advisory  # noqa: E402
from tests.support.osv_server import DEFAULT_RECORDS  # noqa: E402


sys.path.insert(0, str(ROOT / "benchmarks"))
from timing import load_average  # noqa: E402
from timing import Sample  # noqa: E402
from timing import summary_row  # noqa: E402


BIN = Path(sys.executable).parent
RULES = Path(__file__).resolve().parent / "data" / "semgrep-rules.yml"


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Timer:
    """Wall and CPU (self + children) of one block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = _cpu() - self.cpu

    @property
    def sample(self) -> Sample:
        """This run as a :class:`timing.Sample`."""
        return Sample(self.wall, self.cpu)


_SERVER = (
    "import json, sys; sys.path.insert(0, sys.argv[1]);"
    "from tests.support.osv_server import serve;"
    "server, _ = serve(json.load(open(sys.argv[2]))); print(server.url, flush=True);"
    "sys.stdin.read()"
)


def _installed_records() -> list[dict[str, Any]]:
    """Advisories for up to five distributions installed here (at their installed version):
    plain, with a fix version, and a GHSA duplicate of a PYSEC one, which pip-audit folds in."""
    have = {d.metadata["Name"].lower(): d.version for d in importlib.metadata.distributions()}
    names = [n for n in ("pip", "requests", "urllib3", "jinja2", "packaging") if n in have]
    records: list[dict[str, Any]] = []
    for number, name in enumerate(names, start=1):
        pysec = f"PYSEC-2098-{number}"
        records.append(advisory(pysec, name, fixed="9999.0", aliases=(f"CVE-2098-{number}",)))
        records.append(advisory(f"GHSA-b{number:03d}-benc-hmrk", name, aliases=(pysec,)))
    return records


def _start_osv(tmp: Path) -> tuple[subprocess.Popen[str], str]:
    """The loopback OSV server in its own process (its CPU is nobody's)."""
    records = tmp / "records.json"
    records.write_text(json.dumps([*DEFAULT_RECORDS, *_installed_records()]))
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(ROOT), str(records)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[Timer, str]:
    with Timer() as t:
        proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    return t, proc.stdout


def _tree(source: Path, dest: Path, lines: int | None) -> None:
    if lines is None:
        shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__"))
        return
    total = 0
    for path in sorted(source.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        count = len(path.read_bytes().splitlines())
        if total + count > lines and total:
            continue
        target = dest / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        total += count
        if total >= lines * 0.98:
            break


def _count(tree: Path) -> str:
    files = [p for p in tree.rglob("*") if p.is_file()]
    py = [p for p in files if p.suffix == ".py"]
    lines = sum(len(p.read_bytes().splitlines()) for p in py)
    return f"{len(files)} files, {len(py)} .py, {lines} lines of Python"


def _bandit_keys(stdout: str) -> set[tuple[str, int, str]]:
    return {(r["filename"][2:], r["line_number"], r["test_id"]) for r in json.loads(stdout)["results"]}


def _secrets_keys(stdout: str) -> Counter[tuple[str, int, str]]:
    results = json.loads(stdout)["results"]
    return Counter((name, r["line_number"], r["type"]) for name, items in results.items()
                   for r in items)


def _audit_keys(stdout: str) -> Counter[tuple[str, str, str, str, str]]:
    return Counter((d["name"], d["version"], v["id"], ",".join(sorted(v["aliases"])),
                    ",".join(v["fix_versions"]))
                   for d in json.loads(stdout)["dependencies"] for v in d.get("vulns", ()))


def _rule(check_id: str) -> str:
    # Python semgrep prefixes rule ids with the rule file's directory as a dotted path, for a
    # file outside the tree the absolute one (tmp.kisys-bench-scan-abc.eval-or-exec); kisys's
    # run (semgrep's OCaml command line) does not. Inside the tree both give the same id.
    return check_id.rsplit(".", 1)[-1]


def _semgrep_keys(stdout: str) -> Counter[tuple[str, int, str]]:
    return Counter((r["path"], r["start"]["line"], _rule(r["check_id"]))
                   for r in json.loads(stdout)["results"])


def _of_tool(result: CheckResult, tool: str) -> list[Any]:
    return [f for top in result.findings for f in (top, *top.merged) if f.tool == tool]


def _compare(label: str, cli: Counter[Any], ours: Counter[Any], leave_out: str | None = None) -> None:
    if leave_out:
        cli = Counter({k: v for k, v in cli.items() if not (k[2] == leave_out and is_test_file(k[0]))})
    same = cli == ours
    print(f"  findings {label}: CLI {sum(cli.values())}, kisys {sum(ours.values())}: "
          f"{'identical' if same else 'DIFFERENT'}")
    if not same:
        print(f"    only CLI: {sorted((cli - ours).elements())[:10]}")
        print(f"    only kisys: {sorted((ours - cli).elements())[:10]}")


def _ratio(label: str, ours: list[Timer], peer: list[Timer], goal: float | None) -> None:
    """Medians [min-max] of both sides and the ratio of medians (per-round min-max)."""
    print(f"{label} (goal <= {goal}):" if goal is not None else f"{label} (no goal):")
    print(summary_row("peer", [p.sample for p in peer], [p.sample for p in peer], "peer"))
    print(summary_row("kisys", [o.sample for o in ours], [p.sample for p in peer], "peer"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=None, help="source tree to copy")
    parser.add_argument("--lines", type=int, default=None, help="copy about N lines of it")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rules", type=Path, default=RULES, help="local semgrep rules")
    parser.add_argument("--only", choices=("all", "code"), default=None)
    args = parser.parse_args()
    source = args.tree or Path(__import__("pip").__file__).parent
    # Bytecode is cached as on a normal machine: with PYTHONDONTWRITEBYTECODE (set in some
    # sandboxes) the peers would compile their imports from source on every run, while the
    # kisys workers (-I ignores PYTHON* variables) would not.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONWARNINGS"] = "ignore"
    cold_goal = 0.25 if args.lines is None else 0.5
    runs: dict[str, list[Timer]] = {}
    with tempfile.TemporaryDirectory(prefix="kisys-bench-scan-") as tmp_name:
        tmp = Path(tmp_name)
        server, server_url = _start_osv(tmp)
        try:
            tree = tmp / "tree"
            _tree(source, tree, args.lines)
            shutil.copy2(args.rules, tmp / "rules.yml")
            print(f"tree: {source} ({_count(tree)}); {os.cpu_count()} CPUs")
            sg_env = {**semgrep_env(tmp), **env}
            osv = f"{server_url}/v1/query"
            for rep in range(args.repeat):
                print(f"repetition {rep + 1}: load average {load_average()}")
                base = Settings(rootdir=tree, cache_dir=tmp / f"cache{rep}", audit_service="osv",
                                osv_url=server_url, scan_timeout=3600)
                if args.only in (None, "all"):
                    _all_checks(tree, base, osv, env, runs, rep)
                if args.only in (None, "code"):
                    both = Settings(rootdir=tree, cache_dir=tmp / f"code{rep}", scan_timeout=3600,
                                    semgrep_rules=(tmp / "rules.yml",))
                    _code_checks(tree, both, tmp / "rules.yml", sg_env, runs, rep)
            print(f"load average at the end: {load_average()}")
            if "clis" in runs:
                _ratio("all checks cold", runs["all-cold"], runs["clis"], cold_goal)
                _ratio("all checks warm", runs["all-warm"], runs["clis"], 0.05)
            if "bandit+semgrep" in runs:
                _ratio("code (bandit+semgrep) cold", runs["code-cold"], runs["bandit+semgrep"], 0.6)
                _ratio("code (bandit+semgrep) warm", runs["code-warm"], runs["bandit+semgrep"], 0.05)
                _ratio("bandit alone cold", runs["bandit-cold"], runs["bandit"], None)
        finally:
            server.kill()
            server.wait()
    return 0


def _all_checks(tree: Path, settings: Settings, osv: str, env: dict[str, str],
                runs: dict[str, list[Timer]], rep: int) -> None:
    bandit, bandit_out = _run([str(BIN / "bandit"), "-r", ".", "-f", "json", "-q"], tree, env)
    secrets, secrets_out = _run([str(BIN / "detect-secrets"), "scan", "--all-files", "-n"], tree, env)
    audit, audit_out = _run([sys.executable, "-m", "pip_audit", "-f", "json", "--progress-spinner",
                             "off", "-s", "osv", "--osv-url", osv, "--skip-editable", "--desc", "on",
                             "--aliases", "on"], tree, env)
    peer = Timer()
    peer.wall = bandit.wall + secrets.wall + audit.wall
    peer.cpu = bandit.cpu + secrets.cpu + audit.cpu
    runs.setdefault("clis", []).append(peer)
    print(f"  CLIs: bandit {bandit.wall:.2f} s, detect-secrets {secrets.wall:.2f} s, "
          f"pip-audit {audit.wall:.2f} s = {peer.wall:.2f} s wall, {peer.cpu:.2f} s CPU")
    for label in ("all-cold", "all-warm"):
        with Timer() as t:
            results = run_checks(settings)
        runs.setdefault(label, []).append(t)
        print(f"  kisys {label}: {t.wall:.2f} s wall, {t.cpu:.2f} s CPU (" + ", ".join(
            f"{r.tool} {r.status} {len(r.findings)}f {r.duration_s:.1f}s" for r in results) + ")")
        if label == "all-cold":
            by_kind = {r.kind: r for r in results}
            ours = Counter((f.path, f.line, f.rule_id) for f in _of_tool(by_kind["code"], "bandit"))
            _compare("bandit", Counter(_bandit_keys(bandit_out)), ours, leave_out="B101")
            _compare("detect-secrets", _secrets_keys(secrets_out),
                     Counter((f.path, f.line, f.rule_name) for f in by_kind["secrets"].findings))
            _compare("pip-audit", _audit_keys(audit_out),
                     Counter((f.package, f.version, f.rule_id, ",".join(sorted(f.aliases)),
                              ",".join(f.fix_versions)) for f in by_kind["deps"].findings))


def _code_checks(tree: Path, settings: Settings, rules: Path, sg_env: dict[str, str],
                 runs: dict[str, list[Timer]], rep: int) -> None:
    bandit, bandit_out = _run([str(BIN / "bandit"), "-r", ".", "-f", "json", "-q"], tree, sg_env)
    semgrep, semgrep_out = _run([str(BIN / "semgrep"), "scan", "--json", "--config", str(rules),
                                 "--metrics=off", "--disable-version-check"], tree, sg_env)
    peer = Timer()
    peer.wall, peer.cpu = bandit.wall + semgrep.wall, bandit.cpu + semgrep.cpu
    runs.setdefault("bandit+semgrep", []).append(peer)
    runs.setdefault("bandit", []).append(bandit)
    print(f"  bandit -r {bandit.wall:.2f} s ({bandit.cpu:.2f} CPU) + semgrep --config "
          f"{semgrep.wall:.2f} s ({semgrep.cpu:.2f} CPU) = {peer.wall:.2f} s")
    for label in ("code-cold", "code-warm"):
        with Timer() as t:
            result = run_check("code", settings)
        runs.setdefault(label, []).append(t)
        print(f"  kisys {label}: {t.wall:.2f} s wall, {t.cpu:.2f} s CPU ({result.tool} "
              f"{result.status}, {len(result.findings)} findings, {result.cache_hits} cache hits)")
        if rep == 0 and label == "code-cold":
            _compare("semgrep", _semgrep_keys(semgrep_out),
                     Counter((f.path, f.line, _rule(f.rule_id)) for f in _of_tool(result, "semgrep")))
            _compare("bandit", Counter(_bandit_keys(bandit_out)),
                     Counter((f.path, f.line, f.rule_id) for f in _of_tool(result, "bandit")),
                     leave_out="B101")
    only_bandit = Settings(rootdir=tree, cache_dir=settings.resolved_cache_dir() / "b",
                           scan=frozenset({"code", "code:bandit"}), scan_timeout=3600)
    with Timer() as t:
        run_check("code", only_bandit)
    runs.setdefault("bandit-cold", []).append(t)
    print(f"  kisys bandit alone cold: {t.wall:.2f} s wall, {t.cpu:.2f} s CPU")


if __name__ == "__main__":
    raise SystemExit(main())

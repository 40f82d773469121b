"""The semgrep code scanner with real semgrep and local rule files, merged with bandit."""

from __future__ import annotations

from collections import Counter
import dataclasses
import json
from pathlib import Path
import subprocess
import textwrap

import pytest

from pytest_kisys.errors import ConfigError
from pytest_kisys.scan import semgrep as semgrep_mod
from pytest_kisys.scan.code import code_tools
from pytest_kisys.scan.code import CodeScanner
from pytest_kisys.scan.interface import CheckResult
from pytest_kisys.scan.interface import Finding
from pytest_kisys.scan.runner import run_check
from pytest_kisys.settings import Settings
from tests.support.scantree import write


_FOUND = semgrep_mod.semgrep_executable(Settings(cache_dir=Path("/nonexistent-kisys-cache")))
SEMGREP = _FOUND[0] if _FOUND else None
pytestmark = pytest.mark.skipif(SEMGREP is None, reason="semgrep is part of the test extra")

RULES = textwrap.dedent(
    """\
    rules:
      - id: shell-true
        pattern: subprocess.call(..., shell=True)
        message: a shell runs this command
        languages: [python]
        severity: WARNING
        metadata:
          cwe: ["CWE-78: OS Command Injection"]
      - id: no-eval
        pattern: eval(...)
        message: eval runs arbitrary code
        languages: [python]
        severity: ERROR
      - id: planted-call
        pattern: leak_the_token(...)
        message: the token leaves the process
        languages: [python]
        severity: INFO
    """
)
APP = textwrap.dedent(
    """\
    import subprocess


    def run(cmd):
        subprocess.call(cmd, shell=True)
        return eval(cmd)


    def send(token):
        leak_the_token(token)
        leak_the_token(token)
    """
)
PAIRS = {"rules.no-eval": "B307"}


def _tree(root: Path) -> None:
    write(root, {
        "rules/python.yml": RULES,
        "pkg/app.py": APP,
        "pkg/other.py": "def f(t):\n    leak_the_token(t)\n",
        # semgrep leaves tests/ out by default; so must kisys, to match the CLI.
        "tests/test_app.py": "def test_x():\n    eval('1')\n",
    })


def _settings(root: Path, **kw: object) -> Settings:
    base: dict[str, object] = {
        "rootdir": root,
        "cache_dir": root.parent / "cache",
        "semgrep_rules": (Path("rules"),),
        "code_rule_pairs": PAIRS,
    }
    return Settings(**{**base, **kw})  # type: ignore[arg-type]


def _semgrep_findings(result: CheckResult) -> list[Finding]:
    out = []
    for finding in result.findings:
        out += [f for f in (finding, *finding.merged) if f.tool == "semgrep"]
    return out


def _cli(root: Path, config: str) -> tuple[int, dict[str, object]]:
    env = semgrep_mod.semgrep_env(root.parent)
    assert SEMGREP is not None
    proc = subprocess.run(
        [str(SEMGREP), "scan", "--json", "--config", config, "--metrics=off",
         "--disable-version-check"],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CheckResult]:
    root = tmp_path_factory.mktemp("semgrep") / "proj"
    _tree(root)
    return root, run_check("code", _settings(root))


def test_local_rules_find_the_planted_pattern(scanned: tuple[Path, CheckResult]) -> None:
    root, result = scanned
    assert result.status == "findings", result.inconclusive
    assert result.tool == "bandit+semgrep"
    assert set(result.tool_versions) == {"bandit", "semgrep"}
    planted = [f for f in _semgrep_findings(result) if f.rule_id == "rules.planted-call"]
    assert sorted((f.path, f.line) for f in planted) == [
        ("pkg/app.py", 10), ("pkg/app.py", 11), ("pkg/other.py", 2)]
    assert {f.severity for f in planted} == {"low"}
    assert len({f.fingerprint for f in planted}) == 3
    assert not any(f.path.startswith("tests/") for f in _semgrep_findings(result))


def test_bandit_and_semgrep_report_the_same_line_once(scanned: tuple[Path, CheckResult]) -> None:
    _, result = scanned
    line5 = [f for f in result.findings if (f.path, f.line) == ("pkg/app.py", 5)]
    assert len(line5) == 1  # bandit B602 and semgrep shell-true: same line, CWE-78
    shell = line5[0]
    assert shell.tools == ("bandit", "semgrep")
    assert (shell.tool, shell.rule_id, shell.severity) == ("bandit", "B602", "high")
    assert shell.to_json()["rule_ids"] == {"bandit": "B602", "semgrep": "rules.shell-true"}
    # A mapped pair with no common CWE: semgrep's ERROR (high) beats bandit's medium B307.
    line6 = [f for f in result.findings if (f.path, f.line) == ("pkg/app.py", 6)]
    assert len(line6) == 1
    assert (line6[0].tool, line6[0].severity) == ("semgrep", "high")
    assert [m.rule_id for m in line6[0].merged] == ["B307"]
    # An ignore naming either tool's rule covers the merged finding.
    assert line6[0].matches("B307")
    assert line6[0].matches("rules.no-eval")


def test_parity_with_semgrep_cli(scanned: tuple[Path, CheckResult]) -> None:
    root, result = scanned
    code, cli = _cli(root, "rules")
    assert code == 0
    expected = Counter((r["path"], r["start"]["line"], r["check_id"]) for r in cli["results"])  # type: ignore[attr-defined]
    ours = Counter((f.path, f.line, f.rule_id) for f in _semgrep_findings(result))
    assert ours == expected
    assert sum(expected.values()) == 5


def test_warm_run_starts_no_semgrep_and_a_changed_file_is_rescanned(
    scanned: tuple[Path, CheckResult], tmp_path: Path
) -> None:
    root, cold = scanned
    copy = tmp_path / "proj"
    copy.mkdir()
    for path in root.rglob("*"):
        if path.is_file():
            write(copy, {path.relative_to(root).as_posix(): path.read_text()})
    settings = _settings(copy, cache_dir=root.parent / "cache", scan={"code:semgrep"})
    # The tree moved, so the paths are the same and the cache applies: no semgrep process.
    only = CodeScanner(("semgrep",))
    warm = run_check("code", settings, scanner=only)
    assert warm.cache_hits == warm.items_checked == 2
    assert Counter(f.fingerprint for f in warm.findings) == Counter(
        f.fingerprint for f in _semgrep_findings(cold))
    write(copy, {"pkg/other.py": "def f(t):\n    pass\n"})
    changed = run_check("code", settings, scanner=only)
    assert changed.cache_hits == 1
    assert not [f for f in changed.findings if f.path == "pkg/other.py"]
    assert len(changed.findings) == len(warm.findings) - 1


def test_a_rule_file_with_a_syntax_error_is_inconclusive(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, {"rules.yml": RULES.replace("pattern: eval(...)", "pattern: eval("),
                 "app.py": APP})
    result = run_check("code", _settings(root, semgrep_rules=(Path("rules.yml"),),
                                         scan=frozenset({"code", "code:semgrep"})))
    assert result.status == "inconclusive"
    assert "semgrep could not run the rules" in result.inconclusive[0].reason
    assert result.fails("never", allow_inconclusive=False)


def test_missing_semgrep_with_rules_configured_is_inconclusive_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "proj"
    write(root, {"rules.yml": RULES, "app.py": APP})
    monkeypatch.setattr(semgrep_mod, "semgrep_executable", lambda settings: None)
    result = run_check("code", _settings(root, semgrep_rules=(Path("rules.yml"),)))
    semgrep_items = [i for i in result.inconclusive if i.tool == "semgrep"]
    assert semgrep_items
    assert "pytest-kisys[semgrep]" in semgrep_items[0].reason
    assert result.status == "inconclusive"
    assert [f.tool for f in result.findings if f.tool != "bandit"] == []  # bandit still ran
    assert any(f.rule_id == "B602" for f in result.findings)


def test_missing_rule_file_and_timeout_are_inconclusive(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, {"rules.yml": RULES, "app.py": APP})
    only = CodeScanner(("semgrep",))
    missing = run_check("code", _settings(root, semgrep_rules=(Path("nope.yml"),)), scanner=only)
    assert missing.status == "inconclusive"
    assert "nope.yml does not exist" in missing.inconclusive[0].reason
    # 1 ms: semgrep's OCaml engine scans this one file in a few tenths of a second, so a
    # time-out it could meet on a fast, quiet machine would not test the time-out path.
    late = run_check("code", _settings(root, semgrep_rules=(Path("rules.yml"),),
                                       scan_timeout=0.001), scanner=only)
    assert late.status == "inconclusive"
    assert "did not finish within 0.001 s" in late.inconclusive[0].reason


def test_scan_selection_and_registry_configs_are_refused(tmp_path: Path) -> None:
    from pytest_kisys.settings import resolve

    def settings(**cli: list[str]) -> Settings:
        return resolve(cli=cli, environ={}, ini={}, rootdir=tmp_path)

    def scan(value: str, rules: tuple[Path, ...] = (Path("r.yml"),)) -> tuple[str, ...]:
        return code_tools(dataclasses.replace(settings(scan=[value]), semgrep_rules=rules))

    assert scan("code") == ("bandit", "semgrep")
    assert scan("code", ()) == ("bandit",)
    assert scan("code:semgrep") == ("semgrep",)
    assert scan("code:bandit,deps") == ("bandit",)
    for bad in ("auto", "p/python", "https://semgrep.dev/c/r"):
        with pytest.raises(ConfigError, match="never uses the semgrep registry"):
            settings(semgrep_rules=[bad])


def test_pytest_kisys_with_semgrep_rules_reports_everywhere(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import pytest_kisys.record  # noqa: F401 - shared with the in-process run
    import pytest_kisys.scan.plugin  # noqa: F401

    monkeypatch.setenv("KISYS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    # Under xdist this test runs in a worker, where kisys leaves the checks to the controller.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\n\n[tool.kisys]\nsemgrep_rules = ["rules.yml"]\n'
        'code_rule_pairs = { "no-eval" = "B307" }\n')
    pytester.makefile(".yml", rules=RULES)
    pytester.makepyfile(test_app="def test_ok():\n    assert True\n", app=APP)
    result = pytester.runpytest("--kisys", "-p", "no:cacheprovider", "--kisys-scan", "code",
                                "--kisys-report", "report.json", "--kisys-sarif", "out.sarif",
                                "--kisys-sarif-split", "sarif")
    result.assert_outcomes(passed=1)
    assert result.ret == 16
    result.stdout.fnmatch_lines([
        "bandit+semgrep * (code): *",
        "  high     bandit B602 app.py:5  * ?also semgrep shell-true?  ?id *?",
        "*semgrep planted-call app.py:10*",
        "::notice file=app.py,line=10,title=semgrep planted-call (low)::*",
    ])
    report = json.loads((pytester.path / "report.json").read_text())
    (code,) = report["checks"]
    assert set(code["tool_versions"]) == {"bandit", "semgrep"}
    eval_line = [f for f in code["findings"] if f["line"] == 6]
    assert [f["rule_ids"] for f in eval_line] == [{"semgrep": "no-eval", "bandit": "B307"}]
    sarif = json.loads((pytester.path / "out.sarif").read_text())
    assert [r["automationDetails"]["id"] for r in sarif["runs"]] == ["kisys/code/", "kisys/code-semgrep/"]
    assert sorted(p.name for p in (pytester.path / "sarif").iterdir()) == [
        "kisys-code-semgrep.sarif", "kisys-code.sarif"]


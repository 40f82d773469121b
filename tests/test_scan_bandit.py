"""The code check with real bandit on small trees with planted findings."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
import textwrap

import pytest

from pytest_kisys.scan import parallel
from pytest_kisys.scan.bandit import BanditScanner
from pytest_kisys.scan.runner import run_check
from pytest_kisys.settings import Settings
from tests.support.scantree import settings
from tests.support.scantree import write


BANDIT = str(Path(sys.executable).with_name("bandit"))

RISKY = textwrap.dedent(
    """\
    import hashlib
    import pickle
    import subprocess


    def run(cmd):
        subprocess.call(cmd, shell=True)
        return pickle.loads(cmd)


    def digest(data):
        return hashlib.md5(data).hexdigest()  # nosec B324


    def weak():
        return hashlib.md5(b"x").hexdigest()
    """
)


def keys(result: object) -> set[tuple[str, int, str]]:
    return {(f.path, f.line, f.rule_id) for f in result.findings}  # type: ignore[attr-defined]


def test_planted_findings_nosec_and_severity(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, {"pkg/app.py": RISKY})
    result = run_check("code", settings(root))
    found = keys(result)
    assert ("pkg/app.py", 7, "B602") in found
    assert ("pkg/app.py", 8, "B301") in found
    assert ("pkg/app.py", 16, "B324") in found
    assert ("pkg/app.py", 12, "B324") not in found  # nosec B324
    shell = next(f for f in result.findings if f.rule_id == "B602")
    assert (shell.severity, shell.confidence, shell.cwe) == ("high", "high", 78)
    assert shell.help_url
    assert "b602" in shell.help_url
    assert result.status == "findings"
    assert result.fails("high", allow_inconclusive=False)


def test_fingerprint_survives_line_shift(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, {"app.py": RISKY})
    before = {f.rule_id: f.fingerprint for f in run_check("code", settings(root)).findings}
    write(root, {"app.py": "# a new comment\n\n" + RISKY})
    after = run_check("code", settings(root)).findings
    assert {f.rule_id: f.fingerprint for f in after} == before
    assert next(f for f in after if f.rule_id == "B602").line == 9


def test_asserts_in_tests_not_reported_but_elsewhere_they_are(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    check = "def check(x):\n    assert x\n"
    write(root, {"tests/test_a.py": check, "test_b.py": check, "pkg/conftest.py": check,
                 "pkg/mod.py": check})
    found = keys(run_check("code", settings(root)))
    assert found == {("pkg/mod.py", 2, "B101")}
    everything = BanditScanner(report_asserts_in_tests=True).scan(settings(root))
    assert len(everything.findings) == 4


def test_tool_bandit_skips_and_exclude_dirs_are_honoured(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(
        root,
        {
            "pyproject.toml": '[tool.bandit]\nskips = ["B301"]\nexclude_dirs = ["vendored"]\n',
            "app.py": RISKY,
            "vendored/lib.py": RISKY,
        },
    )
    found = keys(run_check("code", settings(root)))
    assert {rule for _, _, rule in found} == {"B404", "B403", "B602", "B324"}
    assert all(path == "app.py" for path, _, _ in found)


def test_unparsable_file_makes_the_check_inconclusive(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, {"ok.py": "x = 1\n", "broken.py": "def broken(:\n    pass\n"})
    result = run_check("code", settings(root))
    assert result.status == "inconclusive"
    assert [(i.item, "syntax error" in i.reason) for i in result.inconclusive] == [
        ("broken.py", True)
    ]
    # never cached: the next run reports it again
    assert run_check("code", settings(root)).status == "inconclusive"


def test_baseline_suppresses_known_issues_only(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, {"app.py": RISKY})
    proc = subprocess.run(
        [BANDIT, "-r", ".", "-f", "json", "-q"], cwd=root, capture_output=True, text=True, check=False
    )
    (root / "bandit-baseline.json").write_text(proc.stdout)
    write(root, {"app.py": RISKY + "\n\ndef more(c):\n    eval(c)\n"})
    result = run_check("code", settings(root, baseline={"code": Path("bandit-baseline.json")}))
    assert keys(result) == {("app.py", 20, "B307")}
    assert len(result.suppressed) == 5
    assert {s.by for s in result.suppressed} == {"baseline"}


def test_missing_baseline_is_inconclusive_not_clean(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, {"app.py": "x = 1\n"})
    result = run_check("code", settings(root, baseline={"code": Path("nope.json")}))
    assert result.status == "inconclusive"
    assert "nope.json" in result.inconclusive[0].reason


def test_unchanged_tree_is_not_rescanned(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, {"a.py": RISKY, "b.py": "x = 1\n"})
    first = run_check("code", settings(root))
    second = run_check("code", settings(root))
    assert (first.cache_hits, second.cache_hits) == (0, 2)
    assert keys(first) == keys(second)
    write(root, {"b.py": "import pickle\n"})
    third = run_check("code", settings(root))
    assert third.cache_hits == 1
    assert ("b.py", 1, "B403") in keys(third)


def _parity_tree(root: Path) -> None:
    variants = [
        RISKY,
        "import random\n\ndef token():\n    return random.random()\n",
        "import yaml\n\ndef load(s):\n    return yaml.load(s)\n",
        "password = 'hunter2'\n",
        "import os\n\ndef go(x):\n    os.system(x)  # nosec\n    os.popen(x)\n",
        "import tempfile\n\ndef f():\n    return open('/tmp/x', 'w')\n",
    ]
    write(root, {f"pkg/m{i:02d}.py": variants[i % len(variants)] for i in range(30)})
    write(root, {"pkg/data.py": _big_literals(with_nosec=False),
                 "pkg/data_nosec.py": _big_literals(with_nosec=True)})


def _big_literals(*, with_nosec: bool) -> str:
    """Large multi-line literals (the shape of pip's vendored data files) with strings that
    trigger the string rules, and, with ``with_nosec``, ``# nosec`` comments inside them: a
    comment anywhere in a literal's lines covers every string of that literal."""
    rows = []
    for i in range(400):
        value = "/tmp/cache" if i % 50 == 0 else ("0.0.0.0" if i % 70 == 0 else f"v{i}")  # noqa: S104 - planted for bandit
        note = ""
        if with_nosec and i == 120:
            note = "  # nosec"
        elif with_nosec and i == 260:
            note = "  # nosec B108"
        elif i % 90 == 0:
            note = "  # a plain comment"
        rows.append(f"    {i!r}: {value!r},{note}")
    table = "TABLE = {\n" + "\n".join(rows) + "\n}\n"
    second = "PATHS = [\n" + "\n".join(f"    '/tmp/p{i}'," for i in range(0, 300, 60)) + "\n]\n"
    third = "SMALL = {'password': 'x'}  # nosec\nOTHER = {'password': 'y'}\n"
    return table + second + third


def _cli_keys(root: Path) -> set[tuple[str, int, str]]:
    proc = subprocess.run(
        [BANDIT, "-r", ".", "-f", "json", "-q"], cwd=root, capture_output=True, text=True, check=False
    )
    return {(r["filename"][2:], r["line_number"], r["test_id"]) for r in json.loads(proc.stdout)["results"]}


@pytest.fixture(scope="module")
def parity_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[tuple[str, int, str]]]:
    root = tmp_path_factory.mktemp("parity") / "proj"
    _parity_tree(root)
    return root, _cli_keys(root)


@pytest.mark.parametrize(
    ("workers", "linear"),
    [(1, True), (2, True), (1, False)],
    ids=["one-worker", "two-workers", "bandits-own-nosec-path"],
)
def test_parity_with_bandit_cli(
    parity_tree: tuple[Path, set[tuple[str, int, str]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
    linear: bool,
) -> None:
    root, cli = parity_tree
    # A tiny tree gets one worker; make every byte count so that two really run.
    monkeypatch.setitem(parallel.BYTES_PER_WORKER, "bandit", 1)
    scanner = BanditScanner(linear_nosec=linear)
    cache = tmp_path / "cache"
    result = run_check("code", Settings(rootdir=root, cache_dir=cache, max_workers=workers),
                       scanner=scanner)
    assert result.status == "findings"
    assert keys(result) == cli
    assert len(cli) > 30
    # The literal files: findings outside the nosec'd literals, none inside them.
    data = {k for k in cli if k[0] == "pkg/data.py"}
    data_nosec = {k for k in cli if k[0] == "pkg/data_nosec.py"}
    assert {r for _, _, r in data} >= {"B108", "B104", "B105"}
    assert 0 < len(data_nosec) < len(data)


def test_small_trees_get_one_worker_large_ones_more() -> None:
    assert parallel.pool_size("bandit", 300_000, 8) == 1
    assert parallel.pool_size("bandit", 5_000_000, 2) == 2
    assert parallel.pool_size("secrets", 1_000_000, 2) == 1
    assert parallel.pool_size("bandit", 0, 4) == 1


def test_fast_paths_match_the_installed_bandit() -> None:
    """Every fast path of pytest_kisys.scan.bandit_fast is installed for the bandit the tests
    use (a bandit whose methods changed runs unpatched: then this names the ones left out)."""
    proc = subprocess.run(
        [sys.executable, "-I", "-c",
         "import sys; sys.path.insert(0, sys.argv[1]);"
         "from pytest_kisys.scan.bandit_fast import install; print(','.join(install()))",
         str(Path(__file__).resolve().parent.parent)],
        capture_output=True, text=True, check=True,
    )
    assert proc.stdout.strip().split(",") == [
        "run_tests", "update_scores", "pre_visit", "post_visit", "generic_visit", "visit"
    ]

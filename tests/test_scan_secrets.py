"""The secrets check with real detect-secrets: planted fake secrets, baseline, pragmas, parity.

Every secret here is an obviously fake test value.
"""

from __future__ import annotations

import json
from pathlib import Path
import shutil
import subprocess
import sys
import textwrap

import pytest

from pytest_kisys.scan.prefilter import build_filter
from pytest_kisys.scan.runner import run_check
from pytest_kisys.scan.secrets import SecretsScanner
from pytest_kisys.scan.secrets import settings_config
from tests.support.scantree import settings
from tests.support.scantree import write


DETECT_SECRETS = str(Path(sys.executable).with_name("detect-secrets"))
FAKE_GITHUB_TOKEN = "ghp_FAKEfakeFAKEfake0123456789abcdefABCD"
FAKE_AWS_KEY = "AKIAFAKEFAKEFAKE1234"

PLANTED = {
    "app/config.py": textwrap.dedent(
        f"""\
        GITHUB = "{FAKE_GITHUB_TOKEN}"
        AWS_ACCESS_KEY_ID = "{FAKE_AWS_KEY}"
        password = "not-a-real-password-42"
        harmless = "hello world"
        allowed = "{FAKE_GITHUB_TOKEN[:-1]}X"  # pragma: allowlist secret
        """
    ),
    "deploy/settings.ini": "[db]\npassword = fake-ini-password-123\nurl = postgres://u:fakepw99@db/x\n",
    "deploy/values.yaml": "api:\n  api_key: fakeyamlkey1234567890abcd\n  name: service\n",
    "docs/notes.md": "Use `AKIAFAKEFAKEFAKE9876` in the sandbox.\n",
    "data/blob.json": (
        '{"hex": "0123456789abcdef0123456789abcdef",'
        ' "b64": "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA=="}\n'
    ),
    "app/next.py": (
        "# pragma: allowlist nextline secret\n"
        "token = 'Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA'\n"
    ),
}


def cli_scan(root: Path, *extra: str) -> dict[str, object]:
    proc = subprocess.run(
        [DETECT_SECRETS, "scan", "--all-files", "-n", *extra],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def cli_keys(report: dict[str, object]) -> set[tuple[str, int, str]]:
    results = report["results"]
    assert isinstance(results, dict)
    return {(path, e["line_number"], e["type"]) for path, entries in results.items() for e in entries}


def keys(result: object) -> set[tuple[str, int, str]]:
    return {(f.path, f.line, f.rule_name) for f in result.findings}  # type: ignore[attr-defined]


def test_planted_secrets_found_allowlisted_ones_not(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, PLANTED)
    result = run_check("secrets", settings(root))
    found = keys(result)
    assert ("app/config.py", 1, "GitHub Token") in found
    assert ("app/config.py", 2, "AWS Access Key") in found
    assert ("app/config.py", 3, "Secret Keyword") in found
    assert not any(path == "app/config.py" and line == 5 for path, line, _ in found)
    assert not any(path == "app/next.py" for path, _, _ in found)
    assert ("deploy/settings.ini", 3, "Basic Auth Credentials") in found
    assert result.fails("high", allow_inconclusive=False)
    token = next(f for f in result.findings if f.rule_name == "GitHub Token")
    assert token.rule_id == "GitHubTokenDetector"
    assert token.severity == "high"
    assert token.cwe == 798


def test_secret_values_are_never_in_findings(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, PLANTED)
    dumped = json.dumps(run_check("secrets", settings(root)).to_json())
    for value in (FAKE_GITHUB_TOKEN, FAKE_AWS_KEY, "not-a-real-password-42", "fakepw99"):
        assert value not in dumped


def test_baseline_only_new_secrets_count(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, PLANTED)
    (root / ".secrets.baseline").write_text(json.dumps(cli_scan(root)))
    clean = run_check("secrets", settings(root))
    assert clean.status == "clean"
    assert len(clean.suppressed) == len(cli_keys(cli_scan(root)))
    write(root, {"app/new.py": f"TOKEN = '{FAKE_GITHUB_TOKEN[:-4]}WXYZ'\n"})
    result = run_check("secrets", settings(root))
    assert {path for path, _, _ in keys(result)} == {"app/new.py"}
    assert ("app/new.py", 1, "GitHub Token") in keys(result)


def test_configured_baseline_that_does_not_exist_is_inconclusive(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, {"a.txt": "nothing\n"})
    result = run_check("secrets", settings(root, baseline={"secrets": Path("missing.baseline")}))
    assert result.status == "inconclusive"
    assert "missing.baseline" in result.inconclusive[0].reason


def test_git_tracked_and_untracked_unignored_files_only(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "proj"
    write(root, {"tracked.py": f"T = '{FAKE_GITHUB_TOKEN}'\n", ".gitignore": "ignored.py\n",
                 "ignored.py": f"T = '{FAKE_GITHUB_TOKEN}'\n", "new.py": f"K = '{FAKE_AWS_KEY}'\n"})
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "tracked.py", ".gitignore"], check=True)
    paths = {f.path for f in run_check("secrets", settings(root)).findings}
    assert paths == {"tracked.py", "new.py"}


def test_prefilter_understands_every_default_plugin() -> None:
    from detect_secrets.settings import get_plugins
    from detect_secrets.settings import transient_settings

    with transient_settings(settings_config(None)):
        prefilter = build_filter(get_plugins())
    assert prefilter is not None
    lines = [
        "def add(a, b):  return a + b",
        f"x = '{FAKE_GITHUB_TOKEN}'",
        "DB_PASSWORD = os.environ['X']",
        "# nothing here",
        f"AKIA = '{FAKE_AWS_KEY}'",
    ]
    assert prefilter.candidates(lines) == {1, 2, 4}


def test_prefilter_restarts_at_the_next_line_after_a_match() -> None:
    import re

    from pytest_kisys.scan.prefilter import CandidateFilter
    from pytest_kisys.scan.prefilter import LinePattern

    # \s can run across the line end: the first match must not hide the second line's.
    spanning = LinePattern(re.compile(r"a\s+b", re.MULTILINE), whole_text=True)
    assert CandidateFilter((spanning,)).candidates(["x a", "b a b", "c"]) == {0, 1}
    anchored = LinePattern(re.compile(r"^end$", re.MULTILINE), whole_text=True)
    assert CandidateFilter((anchored,)).candidates(["the end", "end", "end of"]) == {1}


def test_required_literals_from_the_parse_tree() -> None:
    import re

    from pytest_kisys.scan.prefilter import required_literals

    assert required_literals(re.compile(r"(?:cloudant|cl)_?(?:key|pwd|password)=")) == (
        (("key", "password", "pwd"), ("cl",)),
        False,
    )
    literals, folded = required_literals(re.compile(r"AKIA[0-9A-Z]{16}", re.IGNORECASE))
    assert (literals, folded) == ((("akia",),), True)
    assert required_literals(re.compile(r"[0-9]+\.[0-9]+"))[0] is None


def _parity_tree(root: Path) -> None:
    files = dict(PLANTED)
    filler = "def f{i}(x):\n    return x * {i}  # plain code, 'short' strings\n"
    for i in range(40):
        files[f"pkg/mod{i:02d}.py"] = "".join(filler.format(i=j) for j in range(30))
        if i % 7 == 0:
            files[f"pkg/mod{i:02d}.py"] += f"SECRET_{i} = 'c2VjcmV0LXZhbHVlLW51bWJlci17aX0tZmFrZQ{i:02d}'\n"
    files["cfg/app.cfg"] = "[auth]\nsecret = fakecfgsecret123\n"
    # One obviously fake value per kind of detector, some at a line's very end, some with
    # trailing blanks, one keyword spelled with a long s (regex IGNORECASE matches it).
    zoo = [
        'server = "8.8.8.8"',
        'jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmYWtlIn0.ZmFrZXNpZ25hdHVyZQ"',
        "-----BEGIN RSA PRIVATE KEY-----   ",
        'slack = "xoxb-1234567890-FAKEFAKEFAKE"',
        'stripe = "sk_live_FAKEFAKEFAKEFAKEFAKEFAKE"',
        'cloudant_api_key = "fakefakefakefakefakefakefake"',
        "//registry.npmjs.org/:_authToken=fake-token-00000000-0000",
        'mailchimp = "0123456789abcdef0123456789abcdef-us12"',
        "conn = 'DefaultEndpointsProtocol=https;AccountKey=ZmFrZWZha2VmYWtlZmFrZWZha2VmYWtlZmFrZQ=='",
        'twilio = "SK0123456789abcdef0123456789abcdef"',
        '\u017fecret = "fake-long-s-value-99"',
        "token: ghp_FAKEfakeFAKEfake0123456789abcdefABCD",
        "plain text without anything",
    ]
    files["zoo/zoo.py"] = "\n".join(zoo) + "\n"
    files["zoo/zoo.txt"] = "\n".join(zoo) + "\n"
    files["zoo/zoo.yaml"] = "".join(f"k{i}: '{line}'\n" for i, line in enumerate(zoo) if "'" not in line)
    files["web/index.html"] = '<a href="https://fake:fakepass@example.com">x</a>\n'
    write(root, files)


@pytest.mark.parametrize("prefilter", [True, False], ids=["prefilter", "every-line"])
def test_parity_with_detect_secrets_cli(tmp_path: Path, prefilter: bool) -> None:
    root = tmp_path / "proj"
    _parity_tree(root)
    expected = cli_keys(cli_scan(root))
    result = SecretsScanner(prefilter=prefilter).scan(settings(root, max_workers=2))
    assert result.inconclusive == ()
    assert {(f.path, f.line, f.rule_name) for f in result.findings} == expected
    assert len(expected) > 12

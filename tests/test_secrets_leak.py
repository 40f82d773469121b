"""The leak test: secret values planted everywhere a test can put them never leave the run.

A fetched secret (AWS Secrets Manager on moto), an ``env:`` secret, a secret-named environment
variable and issue 15's planted set (an AWS key id, a GitHub token, a private key, a
high-entropy string, a password in a URL, a value only a failing stage prints, a hard-coded
password bandit quotes) go into assertion messages, prints, log records, ``--showlocals``
locals, exception texts, parametrize ids, warnings and a failing stage's output. The run writes
JUnit XML, the JSON report, SARIF, a span file and its caches; the terminal and every file the
run wrote are grepped for every value. Serially, then under ``-n 2``.
"""

from __future__ import annotations

import os
from pathlib import Path
import sys

import pytest

from tests.support.moto_server import AWS_ENV


# Assembled at run time so this file itself holds no secret-shaped literal.
PLANTED = {
    "PLANT_AWS_KEY_ID": "AKIA" + "QX7Z3K9W2M4P8R6T",
    "PLANT_GITHUB": "ghp_" + "Zq8Vn3Lp6Rt9Wx2Ky5Mb1Hc4Jd7Fg0Sa3Ue6",
    "PLANT_PEM": "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEpQIBAAKCAQEAq7Z3x9Lm4Vb2Nc8Kd5Hs1Jf\n"
    "Tw0Ye6Rq3Up9Oi7Al2Sk4Dj8Fh5Gg1Zz\n-----END RSA PRIVATE KEY-----",
    "PLANT_ENTROPY": "Xb7Kq2Mz9Lw4Rt8Vn3Pc6Hs1Jd5Fg0Ya7Ue",
    "PLANT_URL": "https://deploy:" + "Url-pw-Value-77@pkgs.example.invalid/simple",
    "STAGE_ONLY": "Sg9QmZ4pL7vR2xN8cK1wT6yH3bF5jD0aE",
}
NAMED = {"MY_LEAK_TOKEN": "named-env-leak-value"}  # masked by its name
ENV_SECRET = {"LEAK_SOURCE": "env-secret-leak-value"}  # masked as an env: secret
FETCHED = "moto-db-value-K9"  # masked once kisys_secrets fetched it
BANDIT_PLANT = "Bandit-plant-Value-5"
MUST_NOT_APPEAR = {
    **{name: value.split("\n")[1] if name == "PLANT_PEM" else value for name, value in PLANTED.items()},
    "url password": "Url-pw-Value-77",
    **NAMED,
    **ENV_SECRET,
    "fetched": FETCHED,
    "bandit": BANDIT_PLANT,
    "stage password": "stage-pw-Value-3",
}

STAGE_SCRIPT = (
    "import os; print('stage says', os.environ['STAGE_ONLY'], os.environ['LEAK_SOURCE']); "
    "print('password=stage-pw-Value-3'); raise SystemExit(3)"
)
PROJECT_TOML = """
[tool.kisys]
scan = "code"
fail_on = "never"

[tool.kisys.index]
url = "https://deploy:Url-pw-Value-77@pkgs.example.invalid/simple"

[tool.kisys.secrets]
db_password = "aws-sm:app/db#password"
source = "env:LEAK_SOURCE"

[[tool.kisys.stages]]
name = "leaky"
run = [{python!r}, "-c", {script!r}]
severity = "low"
"""

TESTS = """
import logging, os, warnings
import pytest

KEYS = ("PLANT_AWS_KEY_ID", "PLANT_GITHUB", "PLANT_PEM", "PLANT_ENTROPY", "PLANT_URL")
P = {k: os.environ[k] for k in KEYS}
NAMED = os.environ["MY_LEAK_TOKEN"]
SOURCE = os.environ["LEAK_SOURCE"]

def test_assertion_print_log_local(kisys_secrets):
    fetched = kisys_secrets["db_password"]
    everything = " | ".join([fetched, NAMED, SOURCE, *P.values()])
    print("printed", everything)
    logging.getLogger("leak").warning("logged %s", everything)
    warnings.warn("warned " + everything)
    assert fetched == "x", "message " + everything

def test_exception_text(kisys_secrets):
    fetched = kisys_secrets["db_password"]
    raise RuntimeError(f"failed with {fetched!r} {NAMED!r} {P!r}")

@pytest.mark.parametrize("value", [NAMED, SOURCE, *P.values()])
def test_parametrize_id(value):
    assert value == "", value

def test_passes_and_prints(kisys_secrets):
    print("stdout", kisys_secrets["db_password"], NAMED)
"""


def _written_files(root: Path) -> list[Path]:
    users = {"pyproject.toml", "test_leak.py", "app.py"}
    return [p for p in root.rglob("*") if p.is_file() and p.name not in users]


def _leaks(text: str) -> list[str]:
    return [name for name, value in MUST_NOT_APPEAR.items() if value in text]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_no_planted_value_reaches_the_terminal_or_any_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, moto_server: str, workers: list[str]
) -> None:
    for name, value in {**AWS_ENV, **PLANTED, **NAMED, **ENV_SECRET}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    # The inner run is a main process even when this test runs on an xdist worker.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KISYS_CACHE_DIR", str(pytester.path / "kisys-cache"))
    pytester.makepyprojecttoml(PROJECT_TOML.format(python=sys.executable, script=STAGE_SCRIPT))
    pytester.makepyfile(test_leak=TESTS)
    (pytester.path / "out").mkdir()
    (pytester.path / "app.py").write_text(f'password = "{BANDIT_PLANT}"\n')
    result = pytester.runpytest(
        "-v", "-rA", "--showlocals", "-p", "no:randomly", *workers,
        "--kisys", "--junitxml=out/junit.xml", "--kisys-report=out/report.json",
        "--kisys-sarif=out/report.sarif", "--kisys-trace=file:out/spans.jsonl",
    )
    terminal = result.stdout.str() + result.stderr.str()
    # The run really produced what the values were planted in.
    result.assert_outcomes(passed=1, failed=9)
    assert "printed" in terminal
    assert "Captured log call" in terminal
    assert "stage says" in (pytester.path / "out" / "report.json").read_text()
    assert "Possible hardcoded password" in (pytester.path / "out" / "report.json").read_text()
    written = _written_files(pytester.path)
    names = {p.name for p in written}
    assert {"junit.xml", "report.json", "report.sarif", "spans.jsonl"} <= names
    assert any("kisys-cache" in p.parts for p in written)  # the scan caches were written
    assert _leaks(terminal) == [], terminal
    for path in written:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert _leaks(text) == [], f"{path.relative_to(pytester.path)}: {_leaks(text)}"
    assert os.environ["STAGE_ONLY"] not in terminal

"""Unit tests of the installer's pure parts: learning, consent, pip config, snapshot, hints."""

from __future__ import annotations

import io
import os
from pathlib import Path
import time
import tomllib

import pytest
import yaml

from pytest_kisys.errors import ConfigError
from pytest_kisys.errors import InstallError
from pytest_kisys.install.batch import allow_hint
from pytest_kisys.install.consent import nobody_can_answer
from pytest_kisys.install.consent import render
from pytest_kisys.install.consent import TerminalConsent
from pytest_kisys.install.environment import InstalledDist
from pytest_kisys.install.environment import TargetEnv
from pytest_kisys.install.interface import BackendOutcome
from pytest_kisys.install.interface import ConsentItem
from pytest_kisys.install.interface import ConsentRequest
from pytest_kisys.install.learn import learn
from pytest_kisys.install.learn import learning_target
from pytest_kisys.install.lock import environment_lock
from pytest_kisys.install.lock import lock_path
from pytest_kisys.install.pipcmd import is_network_failure
from pytest_kisys.install.pipcmd import with_retries
from pytest_kisys.install.snapshot import Snapshot
from pytest_kisys.settings import Settings
from pytest_kisys.vet.pipconfig import index_config
from pytest_kisys.vet.pipconfig import read_pip_config


# --------------------------------------------------------------------------- learning mode

PYPROJECT = """\
[project]
name = "demo"  # the project

[tool.kisys]
level = "balanced"
allow = [
    "numpy",  # numbers
    "attrs",
]

[tool.other]
x = 1
"""


def test_learn_appends_to_a_multiline_allow_list_keeping_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT)
    assert learn(path, ["rich", "NumPy"]) == ("rich",)
    text = path.read_text()
    assert tomllib.loads(text)["tool"]["kisys"]["allow"] == ["numpy", "attrs", "rich"]
    # Every original line is still there, in order; only the new entry was added.
    assert [line for line in text.splitlines() if "rich" not in line] == PYPROJECT.splitlines()


@pytest.mark.parametrize(
    ("before", "expected_allow"),
    [
        ('[project]\nname = "x"\n', ["rich"]),
        ('[tool.kisys]\nlevel = "paranoid"\n', ["rich"]),
        ('[tool.kisys]\nallow = ["six"]  # ok\n', ["six", "rich"]),
        ("[tool.kisys]\nallow = []\n", ["rich"]),
    ],
)
def test_learn_into_pyproject_shapes(tmp_path: Path, before: str, expected_allow: list[str]) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(before)
    learn(path, ["rich"])
    after = tomllib.loads(path.read_text())
    assert after["tool"]["kisys"]["allow"] == expected_allow
    original = tomllib.loads(before)
    original.setdefault("tool", {}).setdefault("kisys", {}).pop("allow", None)
    after["tool"]["kisys"].pop("allow")
    assert after == original


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        ("level: balanced\nallow: [six, attrs]  # x\n", ["six", "attrs", "rich"]),
        ("allow:\n  - six\n# comment\nlevel: balanced\n", ["six", "rich"]),
        ("level: balanced\n", ["rich"]),
        ("", ["rich"]),
    ],
)
def test_learn_into_kisys_yaml_shapes(tmp_path: Path, before: str, expected: list[str]) -> None:
    path = tmp_path / "kisys.yaml"
    if before:
        path.write_text(before)
    learn(path, ["rich"])
    after = yaml.safe_load(path.read_text())
    assert after["allow"] == expected
    assert {k: v for k, v in after.items() if k != "allow"} == {
        k: v for k, v in (yaml.safe_load(before) or {}).items() if k != "allow"
    }


def test_learn_refuses_a_file_it_cannot_parse_and_leaves_it_alone(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.kisys\nallow = [")
    with pytest.raises(ConfigError, match=r"pyproject.toml: it is not valid TOML"):
        learn(path, ["rich"])
    assert path.read_text() == "[tool.kisys\nallow = ["


def test_learning_target_prefers_the_config_in_use(tmp_path: Path) -> None:
    assert learning_target(tmp_path / "kisys.yaml", tmp_path) == tmp_path / "kisys.yaml"
    assert learning_target(None, tmp_path) == tmp_path / "kisys.yaml"
    (tmp_path / "pyproject.toml").write_text("")
    assert learning_target(None, tmp_path) == tmp_path / "pyproject.toml"


# --------------------------------------------------------------------------- consent

REQUEST = ConsentRequest(
    (
        ConsentItem(
            "rich", "13.0", ("import rich in test_x.py",), ("not whitelisted",), ("index: 150 releases",)
        ),
        ConsentItem("markdown-it-py", "3.0", ("rich",), (), ("popular",), needs_answer=False),
    )
)


@pytest.mark.parametrize(
    ("environ", "why"),
    [
        ({"CI": "true"}, "CI is set"),
        ({"BUILD_NUMBER": "7"}, "BUILD_NUMBER is set"),
        ({"PYTEST_XDIST_WORKER": "gw1"}, "xdist worker gw1"),
    ],
)
def test_nobody_can_answer_in_ci_and_workers(environ: dict[str, str], why: str) -> None:
    answer = TerminalConsent(environ=environ, terminal=True, stdin=io.StringIO("y\n")).ask(REQUEST)
    assert answer.answer == "no"
    assert why in answer.why
    assert nobody_can_answer({}) is None


def test_no_terminal_or_closed_stdin_means_no() -> None:
    assert TerminalConsent(environ={}, terminal=False).ask(REQUEST).why == "nobody can answer: no terminal"
    closed = io.StringIO("y\n")
    closed.close()
    answer = TerminalConsent(environ={}, terminal=True, stdin=closed).ask(REQUEST)
    assert answer.answer == "no"
    assert "stdin is closed" in answer.why


def test_terminal_answers_details_then_yes() -> None:
    shown: list[str] = []
    consent = TerminalConsent(
        environ={}, terminal=True, stdin=io.StringIO("maybe\nd\ny\n"), write=shown.append
    )
    answer = consent.ask(REQUEST)
    assert answer.yes
    text = "".join(shown)
    assert "Please answer y, n or d." in text
    assert text.count("index: 150 releases") == 1  # evidence only after "d"
    assert "markdown-it-py 3.0  [allowed by policy]" in text


def test_end_of_input_or_silence_means_no(tmp_path: Path) -> None:
    assert (
        TerminalConsent(environ={}, terminal=True, stdin=io.StringIO(""), write=lambda _: None)
        .ask(REQUEST)
        .answer
        == "no"
    )
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(read_end, closefd=False) as silent:
            started = time.monotonic()
            answer = TerminalConsent(
                environ={}, terminal=True, stdin=silent, timeout=0.2, write=lambda _: None
            ).ask(REQUEST)
        assert answer.answer == "no"
        assert "no answer within" in answer.why
        assert time.monotonic() - started < 5
    finally:
        os.close(read_end)
        os.close(write_end)


def test_render_shows_changes_reasons_and_warnings() -> None:
    request = ConsentRequest(
        (
            ConsentItem(
                "attrs",
                "24.1",
                ("import attrs",),
                ("upgrades the installed attrs 23.1",),
                change="upgrade",
                installed_version="23.1",
            ),
        )
    )
    text = render(request)
    assert "attrs 24.1  (UPGRADE from 23.1)" in text
    assert "needed by: import attrs" in text
    assert "! upgrades the installed attrs 23.1" in text


# --------------------------------------------------------------------------- hints, pip config


def test_allow_hint_names_the_flag_and_the_config_line(tmp_path: Path) -> None:
    assert allow_hint("rich", Settings()) == (
        '--kisys-allow rich (or add "rich" to allow = [...] under [tool.kisys] in pyproject.toml)'
    )
    yaml_settings = Settings(config_file=tmp_path / "kisys.yaml", level="paranoid")
    assert allow_hint("rich", yaml_settings) == (
        "--kisys-level balanced --kisys-allow rich (or add '- rich' under 'allow:' in kisys.yaml)"
    )


def test_allow_hint_for_kisys_install_names_its_own_flags() -> None:
    import argparse

    from pytest_kisys.commands.install import configure

    hint = allow_hint("rich", Settings(level="paranoid"), "install")
    assert hint.startswith("--level balanced --allow rich (or add")
    flags = hint.split(" (or ", 1)[0].split()
    # kisys install's own parser accepts exactly these flags.
    parser = argparse.ArgumentParser(prog="kisys install")
    configure(parser)
    args = parser.parse_args(["rich", *flags])
    assert args.allow == ["rich"]
    assert args.level == "balanced"


def test_pip_config_is_translated_for_uv_by_pip_precedence(tmp_path: Path) -> None:
    site_wide = tmp_path / "etc-pip.conf"
    site_wide.write_text(
        "[global]\nindex-url = https://mirror.example/simple\n"
        "extra-index-url = file:///opt/a/simple\n    file:///opt/b/simple\n"
        "trusted-host = mirror.example\n[install]\nfind-links = /opt/wheels\n"
    )
    user = tmp_path / "user-pip.conf"
    user.write_text("[global]\ncert = /etc/ssl/user.pem\n")
    environ = {"PIP_INDEX_URL": "https://env.example/simple", "PIP_CERT": "/etc/ssl/ca.pem"}
    config = index_config(read_pip_config(environ, [site_wide, user, tmp_path / "missing.conf"]))
    assert config.index_url == "https://env.example/simple"
    assert config.cert == "/etc/ssl/ca.pem"
    assert config.uv_options() == [
        "--index-strategy",
        "unsafe-best-match",
        "--default-index",
        "https://env.example/simple",
        "--index",
        "file:///opt/a/simple",
        "--index",
        "file:///opt/b/simple",
        "--find-links",
        "/opt/wheels",
        "--allow-insecure-host",
        "mirror.example",
    ]
    assert read_pip_config({"PIP_CONFIG_FILE": os.devnull}) == {}


@pytest.mark.parametrize(
    ("stderr", "network"),
    [
        ("WARNING: Retrying ... NewConnectionError('Connection refused')", True),
        ("error: Failed to fetch: `http://127.0.0.1:9/simple/x/`", True),
        ("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.", False),
        ("ERROR: No matching distribution found for nothing-here", False),
    ],
)
def test_only_network_failures_are_retried(stderr: str, network: bool) -> None:
    assert is_network_failure(stderr) is network


# --------------------------------------------------------------------------- snapshot


def _fake_env(root: Path) -> TargetEnv:
    site = root / "lib" / "site-packages"
    site.mkdir(parents=True, exist_ok=True)
    return TargetEnv(
        str(root / "bin" / "python"),
        str(root),
        site,
        site,
        None,
        True,
        "3.11.0",
        {"x": InstalledDist("x", "1", None, known_requires=())},
    )


def _write_dist(site: Path, name: str, version: str, body: str) -> None:
    package = site / name
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(body)
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
    (info / "RECORD").write_text(f"{name}/__init__.py,,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")


def test_snapshot_rolls_back_new_changed_and_leftover_files(tmp_path: Path) -> None:
    env = _fake_env(tmp_path)
    site = env.purelib
    _write_dist(site, "keepme", "1.0", "OLD = True\n")
    snapshot = Snapshot.take(env, replace=["keepme"])
    assert not snapshot.changed()
    # An upgrade of keepme, a new dist, and a half-written leftover from a killed installer.
    for path in (site / "keepme-1.0.dist-info").iterdir():
        path.unlink()
    (site / "keepme-1.0.dist-info").rmdir()
    _write_dist(site, "keepme", "2.0", "NEW = True\n")
    _write_dist(site, "newcomer", "0.1", "")
    (site / "half_written").mkdir()
    (site / "half_written" / "mod.py").write_text("")
    (site / "new.pth").write_text("/somewhere\n")
    assert snapshot.new_pth_files() == [site / "new.pth"]
    assert snapshot.changed()
    actions = snapshot.rollback()
    snapshot.discard()
    assert "removed newcomer 0.1" in actions
    assert "restored keepme 1.0" in actions
    assert sorted(p.name for p in site.iterdir()) == ["keepme", "keepme-1.0.dist-info"]
    assert (site / "keepme" / "__init__.py").read_text() == "OLD = True\n"
    assert not snapshot.changed()


# --------------------------------------------------------------------------- retries, lock


def _outcome(code: int, stderr: str) -> BackendOutcome:
    return BackendOutcome(code, "", stderr, 0.0, ("pip",))


def test_network_failures_are_retried_with_backoff_and_others_are_not() -> None:
    calls: list[float] = []
    outcomes = iter([_outcome(1, "Connection refused"), _outcome(1, "Read timed out"), _outcome(0, "")])

    def flaky() -> BackendOutcome:
        calls.append(time.monotonic())
        return next(outcomes)

    assert with_retries(flaky, 2, base_delay=0.05).ok
    assert len(calls) == 3
    assert calls[2] - calls[1] >= calls[1] - calls[0] >= 0.05  # the delay doubles
    broken = [_outcome(1, "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES")]
    assert not with_retries(lambda: broken[0], 5, base_delay=0.05).ok
    exhausted = iter([_outcome(1, "Connection refused")] * 2)
    assert with_retries(lambda: next(exhausted), 1, base_delay=0.01).stderr == "Connection refused"


def test_a_held_environment_lock_times_out_with_the_lock_file_named(tmp_path: Path) -> None:
    path = lock_path(tmp_path, tmp_path / "cache")
    assert path == tmp_path / ".pytest-kisys.lock"
    with environment_lock(path, timeout=1) as waited:
        assert waited < 1
        with pytest.raises(InstallError, match=r"\.pytest-kisys\.lock for more than 0 s"):
            # the lock is taken in another process, as another install would hold it.
            _hold_from_another_process(path)


def test_the_environment_lock_is_released_on_error_and_not_reentrant(tmp_path: Path) -> None:
    path = tmp_path / "env.lock"
    with pytest.raises(RuntimeError), environment_lock(path, timeout=1):
        raise RuntimeError("the batch failed")
    _hold_from_another_process(path)  # free again: another process takes it at once
    with environment_lock(path, timeout=1):
        # A second lock on the same file waits, in this process too (as filelock's did).
        with pytest.raises(InstallError, match=r"env\.lock for more than 0 s"):
            with environment_lock(path, timeout=0.1):
                pass
    assert path.is_file()


def _hold_from_another_process(path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from pytest_kisys.install.lock import environment_lock\n"
        "from pytest_kisys.errors import InstallError\n"
        "try:\n"
        f"    with environment_lock(Path({str(path)!r}), timeout=0.2): pass\n"
        "except InstallError as exc:\n"
        "    print(exc); sys.exit(3)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    if proc.returncode == 3:
        raise InstallError(proc.stdout.strip())


# --------------------------------------------------------------------------- progress lines

_PROGRESS_PLUGIN = """
import pytest
from pytest_kisys.install.progress import terminal_progress

@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config):
    print("plain print, swallowed by the global capture")
    write = terminal_progress(early_config)
    if write is not None:
        write("installing 2 package(s) with uv")
        write("installed 2 package(s) with uv in 0.1 s")
"""


def test_progress_lines_reach_the_terminal_through_capture_with_v(pytester: pytest.Pytester) -> None:
    # Where installs happen: an early plugin hook, under pytest's global capture.
    pytester.makepyfile(kisys_progress_probe=_PROGRESS_PLUGIN)
    pytester.makepyfile(test_x="def test_ok():\n    pass\n")
    pytester.syspathinsert()
    verbose = pytester.runpytest_subprocess("-v", "-p", "kisys_progress_probe")
    verbose.assert_outcomes(passed=1)
    verbose.stdout.fnmatch_lines(
        ["kisys: installing 2 package(s) with uv", "kisys: installed 2 package(s) with uv in 0.1 s"]
    )
    assert "plain print" not in verbose.stdout.str()
    quiet = pytester.runpytest_subprocess("-p", "kisys_progress_probe")
    quiet.assert_outcomes(passed=1)
    assert "kisys: installing" not in quiet.stdout.str()


def test_environment_probe_agrees_with_importlib_metadata() -> None:
    # The probe reads names and versions from dist-info directory names (fast); it must give
    # exactly what parsing every METADATA file gives, first match on sys.path winning.
    import importlib.metadata

    from packaging.utils import canonicalize_name

    from pytest_kisys.install import envprobe

    expected: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        expected.setdefault(canonicalize_name(dist.metadata["Name"]), dist.version)
    dists = envprobe.probe()["distributions"]
    probed = {canonicalize_name(d["name"]): d["version"] for d in dists}
    assert probed == expected
    pytest_dist = next(d for d in dists if canonicalize_name(d["name"]) == "pytest")
    assert any(req.startswith("pluggy") for req in envprobe.requires_of(pytest_dist["path"]))

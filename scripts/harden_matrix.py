"""Issue 15's "Done when" figures, computed: hostile inputs against the real ``kisys`` and
``pytest --kisys``, counted.

Each case builds a small project in a temporary directory, runs one command in a subprocess
(no stdin, ``CI=true``, the machine's ``PIP_*``/``KISYS_*`` variables dropped) and classifies
the result:

* **traceback**: ``Traceback`` or ``INTERNALERROR`` anywhere in the output;
* **fail-open** (check cases): the check the input attacks reads ``clean`` (a finding must be
  found, or the check must be inconclusive);
* **replaced** (special-file cases): the device, FIFO or symlink target is no longer what it was.

The signal, leak and orphan figures need a loopback index, moto and a planted run; they come
from their regression tests, run here by node id (``--with-tests``), and are counted as the
number of those tests that failed.

    python scripts/harden_matrix.py [--with-tests] [--only NAME]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
import json
import os
from pathlib import Path
import shutil
import stat
import subprocess
import sys
import tempfile
import time


ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
FAKE_AWS = "AKIA" + "FAKEFAKEFAKE1234"  # assembled: this file holds no secret-shaped literal
SHELL = "import subprocess\n\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n"
DROP_CAPS = "-dac_override,-dac_read_search"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "KISYS_", "PYTEST_"))}
    env.update(CI="true", PIP_CONFIG_FILE=os.devnull, PYTHONWARNINGS="ignore")
    return env


def _unprivileged() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, f"--inh-caps={DROP_CAPS}", f"--bounding-set={DROP_CAPS}"] if setpriv else []


@dataclass
class Outcome:
    traceback: bool
    fail_open: bool | None = None  # None: not a check case
    replaced: bool | None = None  # None: not a special-file case
    note: str = ""


@dataclass
class Case:
    name: str
    item: str
    setup: Callable[[Path], None]
    command: Callable[[Path], list[str]]
    judge: Callable[[subprocess.CompletedProcess[str], Path], Outcome] | None = None
    timeout: float = 240
    head: bool = False  # stdout read for 10 bytes, then the pipe closed (``| head -c 10``)


def _run(case: Case, tmp: Path) -> tuple[subprocess.CompletedProcess[str] | None, str]:
    command = case.command(tmp)
    options: dict[str, object] = {"cwd": tmp, "env": _env(), "stdin": subprocess.DEVNULL}
    try:
        if case.head:
            with subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options
            ) as child:  # type: ignore[call-overload]
                out, errs = child.stdout, child.stderr
                if out is None or errs is None:
                    raise RuntimeError("pipes were asked for")
                out.read(10)
                out.close()
                err = errs.read().decode(errors="replace")
                child.wait(timeout=case.timeout)
            return subprocess.CompletedProcess(command, child.returncode, "", err), ""
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=case.timeout,
            check=False,
            **options,  # type: ignore[call-overload]
        )
    except subprocess.TimeoutExpired:
        return None, f"hung past {case.timeout:g} s"
    return proc, ""


def _tb(proc: subprocess.CompletedProcess[str]) -> bool:
    out = proc.stdout + proc.stderr
    return "Traceback (most recent call last)" in out or "INTERNALERROR" in out


def _scan(path: str = ".", checks: str = "code,secrets") -> Callable[[Path], list[str]]:
    return lambda tmp: [PY, "-m", "pytest_kisys", "scan", path, "--scan", checks, "--json"]


def _statuses(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    try:
        return {c["kind"]: c["status"] for c in json.loads(proc.stdout)["checks"]}
    except (ValueError, KeyError, TypeError):
        return {}


def _not_clean(kind: str) -> Callable[[subprocess.CompletedProcess[str], Path], Outcome]:
    def judge(proc: subprocess.CompletedProcess[str], tmp: Path) -> Outcome:
        status = _statuses(proc).get(kind, "missing")
        return Outcome(_tb(proc), fail_open=status == "clean", note=f"{kind}: {status}")

    return judge


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)


def _plain(tmp: Path) -> None:
    _write(tmp / "tests" / "test_a.py", "def test_a():\n    pass\n")


def _pytest(*extra: str) -> Callable[[Path], list[str]]:
    return lambda tmp: [PY, "-m", "pytest", "--kisys", "-p", "no:cacheprovider", *extra]


def _device_kept(target: str, kind: str) -> Callable[[subprocess.CompletedProcess[str], Path], Outcome]:
    def judge(proc: subprocess.CompletedProcess[str], tmp: Path) -> Outcome:
        path = tmp / target
        mode = os.lstat(path).st_mode
        kept = {"symlink": stat.S_ISLNK(mode), "fifo": stat.S_ISFIFO(mode)}[kind]
        if kind == "symlink":
            kept = kept and stat.S_ISCHR(os.stat(path).st_mode)
        return Outcome(_tb(proc), replaced=not kept, note=f"exit {proc.returncode}")

    return judge


def _refused(proc: subprocess.CompletedProcess[str], tmp: Path) -> Outcome:
    """An output path that cannot be written fails the run, naming it (item 22)."""
    named = "plain/" in proc.stdout + proc.stderr
    return Outcome(_tb(proc), note=f"exit {proc.returncode}{', path named' if named else ', PATH NOT NAMED'}")


def _fifo_with_reader(name: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        _plain(tmp)
        os.mkfifo(tmp / name)
        # A reader, so the writer is not refused for having none.
        subprocess.Popen(["sh", "-c", f"cat '{tmp / name}' > /dev/null"])  # noqa: S603,S607

    return setup


def _symlink(name: str, to: str) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        _plain(tmp)
        (tmp / name).symlink_to(to)

    return setup


def _locked_dir(tmp: Path) -> None:
    _plain(tmp)
    _write(tmp / "locked" / "keys.py", f"KEY = '{FAKE_AWS}'\n")
    (tmp / "locked").chmod(0)


def _cases() -> list[Case]:
    nested = "a: " + "[" * 5000 + "]" * 5000 + "\n"
    cases = [
        # -- item 2: encodings never read clean
        Case(
            "non-utf8 text with a key",
            "2",
            lambda t: _write(t / "notes.txt", b"caf\xe9\naws_access_key_id = " + FAKE_AWS.encode() + b"\n"),
            _scan(checks="secrets"),
            _not_clean("secrets"),
        ),
        Case(
            "latin-1 python with a key",
            "2",
            lambda t: _write(
                t / "legacy.py",
                b"# -*- coding: latin-1 -*-\nN = 'caf\xe9'\nK = '" + FAKE_AWS.encode() + b"'\n",
            ),
            _scan(checks="secrets"),
            _not_clean("secrets"),
        ),
        Case(
            "utf-16 file with a key",
            "2",
            lambda t: _write(t / "bom16.txt", f"\ufeffkey = '{FAKE_AWS}'\n".encode("utf-16")),
            _scan(checks="secrets"),
            _not_clean("secrets"),
        ),
        Case(
            "unknown coding cookie",
            "2",
            lambda t: _write(t / "odd.py", b"# -*- coding: klingon -*-\nK = '" + FAKE_AWS.encode() + b"'\n"),
            _scan(checks="secrets"),
            _not_clean("secrets"),
        ),
        # -- item 3: a project directory named bandit
        Case(
            "project dir named bandit/",
            "3",
            lambda t: (
                _write(t / "app.py", SHELL),
                _write(t / "bandit" / "__init__.py", "raise SystemExit('stub bandit imported')\n"),
                _write(t / "bandit" / "__main__.py", "print('{}')\n"),
            ),
            _scan(checks="code"),
            _not_clean("code"),
        ),
        # -- item 6: special files in the tree
        Case(
            "FIFO named evil.py",
            "6",
            lambda t: (_write(t / "app.py", SHELL), os.mkfifo(t / "evil.py")),
            _scan(checks="code,secrets"),
            _not_clean("code"),
            timeout=120,
        ),
        Case(
            "symlink to /dev/zero",
            "6",
            lambda t: (_write(t / "app.py", SHELL), (t / "zero.py").symlink_to("/dev/zero")),
            _scan(checks="code,secrets"),
            _not_clean("code"),
            timeout=120,
        ),
        Case(
            "file over the size cap",
            "6",
            lambda t: _write(t / "huge.txt", "x" * (17 * 1024 * 1024) + f"\nkey = '{FAKE_AWS}'\n"),
            _scan(checks="secrets"),
            _not_clean("secrets"),
        ),
        # -- item 7: bandit configuration typos
        Case(
            "[tool.bandit] tests = [B999]",
            "7",
            lambda t: (
                _write(t / "app.py", SHELL),
                _write(t / "pyproject.toml", '[tool.bandit]\ntests = ["B999"]\n'),
            ),
            _scan(checks="code"),
            _not_clean("code"),
        ),
        Case(
            "[tool.bandit] exclude_dirs = [/]",
            "7",
            lambda t: (
                _write(t / "app.py", SHELL),
                _write(t / "pyproject.toml", '[tool.bandit]\nexclude_dirs = ["/"]\n'),
            ),
            _scan(checks="code"),
            _not_clean("code"),
        ),
        # -- item 23: unreadable directory (root meets the modes through setpriv)
        Case(
            "chmod 000 directory (scan)",
            "23",
            _locked_dir,
            lambda t: [*_unprivileged(), *_scan(checks="code,secrets")(t)],
            _not_clean("secrets"),
        ),
        Case(
            "chmod 000 directory (pytest)",
            "23",
            _locked_dir,
            lambda t: [*_unprivileged(), *_pytest("--kisys-scan", "none")(t)],
        ),
        # -- items 10, 20, 23, 27: configuration
        Case(
            "kisys.yaml nested 5000 deep",
            "23",
            lambda t: (_plain(t), _write(t / "kisys.yaml", nested)),
            _pytest("--kisys-scan", "none"),
        ),
        Case(
            "if: with 20000 parentheses",
            "23",
            lambda t: (
                _plain(t),
                _write(
                    t / "kisys.yaml",
                    'stages:\n  - name: s\n    run: [python, -c, pass]\n    if: "'
                    + "(" * 20000
                    + "true"
                    + ")" * 20000
                    + '"\n',
                ),
            ),
            _pytest("--kisys-scan", "none"),
        ),
        Case(
            "scan_timeout = inf",
            "23",
            lambda t: (_plain(t), _write(t / "pyproject.toml", '[tool.kisys]\nscan_timeout = "inf"\n')),
            _pytest("--kisys-scan", "none"),
        ),
        Case(
            "matrix 8 keys x 10 values",
            "10",
            lambda t: (
                _plain(t),
                _write(
                    t / "kisys.yaml",
                    "stages:\n  - name: m\n    run: [python, -c, pass]\n    matrix:\n"
                    + "".join(f"      k{i}: [{', '.join(str(v) for v in range(10))}]\n" for i in range(8)),
                ),
            ),
            _pytest("--kisys-scan", "none"),
            timeout=60,
        ),
        Case(
            "YAML alias bomb",
            "10",
            lambda t: (
                _plain(t),
                _write(
                    t / "kisys.yaml",
                    "a: &a [x, x, x, x, x, x, x, x, x]\n"
                    + "".join(
                        f"{c}: &{c} [" + ", ".join([f"*{p}"] * 9) + "]\n"
                        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
                    ),
                ),
            ),
            _pytest("--kisys-scan", "none"),
            timeout=60,
        ),
        Case(
            "duplicate YAML keys",
            "27",
            lambda t: (_plain(t), _write(t / "kisys.yaml", "level: paranoid\nlevel: balanced\n")),
            _pytest("--kisys-scan", "none"),
        ),
        Case(
            "if: matrix.X without a matrix",
            "20",
            lambda t: (
                _plain(t),
                _write(
                    t / "kisys.yaml",
                    "stages:\n  - name: s\n    run: [python, -c, pass]\n    if: matrix.py == '3'\n",
                ),
            ),
            _pytest("--kisys-scan", "none"),
        ),
        Case(
            "--index-url file:///etc/passwd",
            "27",
            _plain,
            lambda t: [PY, "-m", "pytest_kisys", "vet", "--index-url", "file:///etc/passwd", "requests"],
        ),
        Case(
            "/dev/zero baseline",
            "27",
            lambda t: (
                _plain(t),
                _write(t / "pyproject.toml", '[tool.kisys.baseline]\nsecrets = "/dev/zero"\n'),
            ),
            _scan(checks="secrets"),
            _not_clean("secrets"),
            timeout=120,
        ),
        Case(
            "vet --json | head -c 10",
            "21",
            _plain,
            lambda t: [PY, "-m", "pytest_kisys", "vet", "--offline", "--json", "requests", "rich"],
            head=True,
        ),
        # -- item 24: malformed markers
        Case(
            "requires(42)",
            "24",
            lambda t: _write(
                t / "test_m.py", "import pytest\n\n\n@pytest.mark.requires(42)\ndef test_m():\n    pass\n"
            ),
            _pytest("--kisys-scan", "none"),
        ),
        Case(
            "requires(name=...)",
            "24",
            lambda t: _write(
                t / "test_m.py",
                "import pytest\n\n\n@pytest.mark.requires(name='x')\ndef test_m():\n    pass\n",
            ),
            _pytest("--kisys-scan", "none"),
        ),
        # -- item 8: damaged caches
        Case(
            "cache_dir is a file",
            "8",
            lambda t: (_plain(t), _write(t / "plain", "")),
            _pytest("--kisys-scan", "secrets", "-o", "kisys_cache_dir=plain"),
        ),
        Case(
            "cache_dir under a file",
            "8",
            lambda t: (_plain(t), _write(t / "plain", "")),
            _pytest("--kisys-scan", "secrets", "-o", "kisys_cache_dir=plain/cache"),
        ),
        Case(
            "import cache not UTF-8",
            "8",
            lambda t: (_plain(t), _write(t / "kc" / "imports.json", b"\xff\xfe\x80")),
            _pytest("--kisys-scan", "none", "-o", "kisys_cache_dir=kc"),
        ),
        Case(
            "garbage malicious overlay",
            "8",
            lambda t: (_plain(t), _write(t / "kc" / "malicious.txt", b"\xff<html>")),
            _pytest("--kisys-scan", "none", "-o", "kisys_cache_dir=kc"),
        ),
        # -- items 1, 22: output paths
        Case(
            "report via symlink to /dev/null",
            "1",
            _symlink("r.json", "/dev/null"),
            _pytest("--kisys-scan", "none", "--kisys-report", "r.json"),
            _device_kept("r.json", "symlink"),
        ),
        Case(
            "SARIF via symlink to /dev/null",
            "1",
            _symlink("r.sarif", "/dev/null"),
            _pytest("--kisys-scan", "none", "--kisys-sarif", "r.sarif"),
            _device_kept("r.sarif", "symlink"),
        ),
        Case(
            "SBOM via symlink to /dev/full",
            "1",
            _symlink("r.cdx", "/dev/full"),
            _pytest("--kisys-scan", "none", "--kisys-sbom", "r.cdx"),
            _device_kept("r.cdx", "symlink"),
        ),
        Case(
            "report into a FIFO",
            "1",
            _fifo_with_reader("r.fifo"),
            _pytest("--kisys-scan", "none", "--kisys-report", "r.fifo"),
            _device_kept("r.fifo", "fifo"),
        ),
        Case(
            "kisys scan --report /dev/full link",
            "1",
            _symlink("full.json", "/dev/full"),
            lambda t: [PY, "-m", "pytest_kisys", "scan", ".", "--scan", "none", "--report", "full.json"],
            _device_kept("full.json", "symlink"),
        ),
        Case(
            "trace file under a file",
            "22",
            lambda t: (_plain(t), _write(t / "plain", "")),
            _pytest("--kisys-scan", "none", "--kisys-trace", "file:plain/spans.jsonl"),
            _refused,
        ),
        Case(
            "log_file under a file",
            "22",
            lambda t: (_plain(t), _write(t / "plain", "")),
            _pytest("--kisys-scan", "none", "--kisys-log-file", "plain/audit.jsonl"),
            _refused,
        ),
    ]
    return cases


TEST_FIGURES = {
    "changed packages after SIGINT / double SIGINT / SIGTERM / killed kisys": [
        "tests/test_harden_install.py::test_sigterm_or_sighup_during_install_rolls_back",
        "tests/test_harden_install.py::test_second_ctrl_c_during_rollback_does_not_abort_it",
        "tests/test_harden_install.py::test_killed_kisys_takes_its_pip_with_it",
        "tests/test_install_batch.py",
    ],
    "secret values in any output or cache (planted set)": ["tests/test_secrets_leak.py"],
    "orphan processes": [
        "tests/test_harden_orphans.py",
        "tests/test_harden_install.py::test_killed_kisys_takes_its_pip_with_it",
        "tests/test_harden_install.py::test_unused_prestarted_pip_leaves_nothing_in_tmpdir",
    ],
}


def _tests(ids: list[str]) -> tuple[int, int, str]:
    proc = subprocess.run(
        [PY, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", "-p", "no:randomly", *ids],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(("FAILED", "ERROR")):
            print(f"    {line}")
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    failed = sum(
        int(w)
        for w, n in zip(last.split(), last.split()[1:], strict=False)
        if n.rstrip(",") in ("failed", "error", "errors") and w.isdigit()
    )
    passed = sum(
        int(w)
        for w, n in zip(last.split(), last.split()[1:], strict=False)
        if n.rstrip(",") == "passed" and w.isdigit()
    )
    return passed, failed, last


def main() -> int:
    """Run every case and print the table and the figures; exit 1 when a figure is not 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-tests", action="store_true", help="also run the test-backed figures")
    parser.add_argument("--only", default=None, help="run the cases whose name contains this")
    args = parser.parse_args()
    rows = []
    started = time.monotonic()
    print(
        f"load average {os.getloadavg()}; running as uid {os.geteuid()}"
        f"{' (chmod cases through setpriv)' if _unprivileged() else ''}"
    )
    for case in _cases():
        if args.only and args.only not in case.name:
            continue
        tmp = Path(tempfile.mkdtemp(prefix="kisys-harden-"))
        try:
            case.setup(tmp)
            proc, why = _run(case, tmp)
            if proc is None:
                outcome = Outcome(traceback=False, fail_open=True if case.judge else None, note=why)
            elif case.judge is not None:
                outcome = case.judge(proc, tmp)
            else:
                outcome = Outcome(_tb(proc), note=f"exit {proc.returncode}")
        finally:
            for path in tmp.rglob("*"):
                if path.is_dir() and not path.is_symlink():
                    path.chmod(0o755)
            shutil.rmtree(tmp, ignore_errors=True)
        rows.append((case, outcome))
        flags = [
            f
            for f, on in (
                ("TRACEBACK", outcome.traceback),
                ("FAIL-OPEN", outcome.fail_open),
                ("REPLACED", outcome.replaced),
            )
            if on
        ]
        print(
            f"  item {case.item:>2}  {case.name:<38} {' '.join(flags) or 'ok':<10} {outcome.note}", flush=True
        )
    tracebacks = sum(o.traceback for _, o in rows)
    checks = [o for _, o in rows if o.fail_open is not None]
    specials = [o for _, o in rows if o.replaced is not None]
    print(
        f"\n{len(rows)} hostile inputs in {time.monotonic() - started:.0f} s; load average {os.getloadavg()}"
    )
    print(f"tracebacks: {tracebacks} of {len(rows)} runs")
    print(f"fail-open checks: {sum(bool(o.fail_open) for o in checks)} of {len(checks)} check cases")
    print(f"replaced special files: {sum(bool(o.replaced) for o in specials)} of {len(specials)}")
    bad = tracebacks + sum(bool(o.fail_open) for o in checks) + sum(bool(o.replaced) for o in specials)
    if args.with_tests:
        for figure, ids in TEST_FIGURES.items():
            passed, failed, last = _tests(ids)
            print(f"{figure}: {failed} failing of {passed + failed} regression tests ({last})")
            bad += failed
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Issue 15 items 1, 22, 27 (report mode): report writers never replace a special file, write
through to devices and FIFOs, fail the run naming the path, and create files with the umask."""

from __future__ import annotations

import os
from pathlib import Path
import stat
import threading

import pytest

from pytest_kisys.cli import main
from pytest_kisys.outputs import check_output_path
from pytest_kisys.outputs import OutputError
from pytest_kisys.report.json_report import write_json


pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KISYS_CACHE_DIR", str(tmp_path_factory.mktemp("kisys-cache")))


def _fifo_reader(path: Path) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []

    def read() -> None:
        with path.open("rb") as handle:
            got.append(handle.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, got


def test_symlink_to_dev_null_stays_a_symlink_to_the_device(tmp_path: Path) -> None:
    link = tmp_path / "report.json"
    link.symlink_to("/dev/null")
    write_json(link, {})
    assert link.is_symlink()
    assert os.readlink(link) == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_symlink_to_dev_full_is_an_error_naming_the_path(tmp_path: Path) -> None:
    link = tmp_path / "full.json"
    link.symlink_to("/dev/full")
    with pytest.raises(OutputError, match=r"full\.json.*No space left"):
        write_json(link, {})
    assert link.is_symlink()
    assert os.readlink(link) == "/dev/full"


def test_fifo_is_written_through_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    thread, got = _fifo_reader(fifo)
    write_json_retrying(fifo, {"a": 1})
    thread.join(10)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got == [b'{\n  "a": 1\n}\n']


def write_json_retrying(path: Path, document: object) -> None:
    """The reader thread may not have opened the FIFO yet: ENXIO until it has."""
    import time

    for _ in range(500):
        try:
            write_json(path, document)
            return
        except OutputError as exc:
            if "no reader" not in str(exc):
                raise
            time.sleep(0.01)
    raise AssertionError("the FIFO reader never opened it")


def test_fifo_without_reader_fails_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "lonely.fifo"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="FIFO with no reader"):
        write_json(fifo, {})
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_symlink_to_regular_file_replaces_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_json(link, "new")
    assert link.is_symlink()
    assert real.read_text() == '"new"\n'
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # an existing file keeps its mode


def test_new_report_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "r.json", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644


def test_kisys_scan_report_to_dev_full_fails_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app.py").write_text("X = 1\n")
    link = tmp_path.parent / f"{tmp_path.name}-full.sarif"
    link.symlink_to("/dev/full")
    code = main(["scan", str(tmp_path), "--scan", "code", "--sarif", str(link)])
    assert code == 2
    assert str(link) in capsys.readouterr().err
    assert os.readlink(link) == "/dev/full"


def test_check_output_path_refuses_directory_and_file_parent(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a directory"):
        check_output_path(tmp_path, "report")
    (tmp_path / "plain").write_text("")
    with pytest.raises(OutputError, match="is not a directory"):
        check_output_path(tmp_path / "plain" / "sub" / "r.json", "sarif")


def test_pytest_report_path_under_a_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    (pytester.path / "plain").write_text("")
    result = pytester.runpytest_subprocess(
        "--kisys", "--kisys-scan", "none", "--kisys-report", "plain/r.json", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*report*plain/r.json cannot be written*not a directory*"])
    assert "passed" not in result.stdout.str()  # refused before any test ran


def test_pytest_report_to_dev_full_fails_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    (pytester.path / "full.json").symlink_to("/dev/full")
    result = pytester.runpytest_subprocess(
        "--kisys", "--kisys-scan", "none", "--kisys-report", "full.json", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*JSON report was not written*full.json*No space left*"])
    assert os.readlink(pytester.path / "full.json") == "/dev/full"


@pytest.mark.parametrize(
    ("flag", "value", "setting"),
    [
        ("--kisys-log-file", "plain/audit.log", "log_file"),
        ("--kisys-sbom", "plain/sbom.json", "sbom"),
    ],
)
def test_pytest_unwritable_log_or_sbom_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, flag: str, value: str, setting: str
) -> None:
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    (pytester.path / "plain").write_text("")
    result = pytester.runpytest_subprocess(
        "--kisys", "--kisys-scan", "none", flag, value, "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{setting} *{value} cannot be written*"])
    assert "Traceback" not in result.stderr.str()

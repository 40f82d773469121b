"""The scan worker pool: workers really overlap, and a failing worker fails the whole check."""

from __future__ import annotations

from pathlib import Path
import sys
import textwrap

import pytest

from pytest_kisys.errors import ScanError
from pytest_kisys.scan.parallel import run_workers


def _stand_in(tmp_path: Path, body: str) -> tuple[str, ...]:
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(body))
    return (sys.executable, str(script))


def test_workers_run_at_the_same_time(tmp_path: Path) -> None:
    # Each stand-in records when it started and finished its task; the intervals must overlap
    # (no wall-clock bound: a worker only finishes after it saw the other one start).
    command = _stand_in(
        tmp_path,
        f"""
        import json, sys, time
        from pathlib import Path
        task = json.load(sys.stdin)
        me = task["files"][0]
        marks = Path({str(tmp_path)!r})
        (marks / f"start-{{me}}").write_text(str(time.time()))
        other = "b" if me == "a" else "a"
        deadline = time.time() + 20
        while not (marks / f"start-{{other}}").exists() and time.time() < deadline:
            time.sleep(0.01)
        saw_other = (marks / f"start-{{other}}").exists()
        json.dump([[me, saw_other]], sys.stdout)
        """,
    )
    results = run_workers("stand-in", {}, [["a"], ["b"]], timeout=60, command=command)
    assert results == [[["a", True]], [["b", True]]]


def test_a_failing_worker_is_a_scan_error_naming_the_job(tmp_path: Path) -> None:
    command = _stand_in(
        tmp_path,
        """
        import json, sys
        task = json.load(sys.stdin)
        if task["files"] == ["bad"]:
            sys.exit("exploded on purpose")
        json.dump([], sys.stdout)
        """,
    )
    with pytest.raises(ScanError, match=r"stand-in worker exited 1: exploded on purpose"):
        run_workers("stand-in", {}, [["good"], ["bad"]], timeout=60, command=command)


def test_output_that_is_not_json_is_a_scan_error(tmp_path: Path) -> None:
    command = _stand_in(tmp_path, "import sys, json\njson.load(sys.stdin)\nprint('no json here')\n")
    with pytest.raises(ScanError, match="not JSON"):
        run_workers("stand-in", {}, [["x"]], timeout=60, command=command)


def test_a_worker_past_the_deadline_is_a_scan_error(tmp_path: Path) -> None:
    command = _stand_in(tmp_path, "import sys, json, time\njson.load(sys.stdin)\ntime.sleep(30)\n")
    with pytest.raises(ScanError, match=r"did not finish within 0.5 s"):
        run_workers("stand-in", {}, [["x"], ["y"]], timeout=0.5, command=command)

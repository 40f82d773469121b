"""``kisys stages``: the graph as text and as Graphviz DOT, and its errors."""

from __future__ import annotations

import os
from pathlib import Path
import textwrap

import pytest

from pytest_kisys.cli import main


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("KISYS_"):
            monkeypatch.delenv(name)
    (tmp_path / "kisys.yaml").write_text(
        textwrap.dedent(
            """
            scan: [code, secrets]
            stages:
              - name: lint
                run: [ruff, check, "src dir"]
                matrix: {python: ["3.11", "3.12"]}
                if: "env.CI == 'true'"
              - name: upload
                run: [twine, upload, dist/*]
                needs: [tests]
                always: true
                retry: {attempts: 3, backoff: 2}
                timeout: 30
            """
        )
    )
    return tmp_path


def test_text_lists_stages_in_run_order_with_levels(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stages", "--rootdir", str(project)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "11 stages in run order (same level: may run in parallel)"
    names = [line.split()[1] for line in out[1:]]
    assert names.index("install") < names.index("tests") < names.index("upload")
    assert names[-1] == "report"
    lint = next(line for line in out if "lint[3.12]" in line)
    assert lint.split()[0] == "0"
    assert "[kisys.yaml:" in lint
    assert "if: env.CI == 'true'" in lint
    assert 'run: ruff check "src dir"' in lint
    upload = next(line for line in out if " upload " in line)
    assert "needs: tests; always; retry: 3 attempts; timeout: 30s" in upload
    deps = next(line for line in out if "scan.deps" in line)
    assert "off: scan = code,secrets" in deps


def test_dot_is_graphviz(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stages", "--dot", "--rootdir", str(project)]) == 0
    out = capsys.readouterr().out
    assert out.startswith('digraph "kisys stages" {\n')
    assert out.rstrip().endswith("}")
    assert '  "install" -> "tests";' in out
    assert '  "lint[3.11]" -> "report";' in out
    assert '  "tests" -> "upload";' in out
    assert '"upload" [label="upload", peripheries=2, tooltip=' in out
    assert '"scan.deps" [label="scan.deps", fillcolor=gray90, style="rounded,dashed"' in out


def test_invalid_graph_exits_2_naming_the_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "kisys.yaml").write_text("stages:\n  - {name: a, run: [x], needs: [a]}\n")
    assert main(["stages", "--rootdir", str(tmp_path)]) == 2
    assert "kisys stages: stage 'a' is part of a cycle: a -> a" in capsys.readouterr().err

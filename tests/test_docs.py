"""Docs that are generated from code stay in sync with it."""

from __future__ import annotations

from pathlib import Path
import re
import runpy


ROOT = Path(__file__).resolve().parent.parent


def test_configuration_table_is_current() -> None:
    module = runpy.run_path(str(ROOT / "scripts" / "gen_config_doc.py"))
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert module["render"](page) == page, "run: python scripts/gen_config_doc.py"


def test_readme_commands_are_marked() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for marker in ("kisys:demo-command", "kisys:test-command"):
        assert f"<!-- {marker} -->" in readme
        assert f"<!-- /{marker} -->" in readme


def test_readme_commands_leave_the_shell_where_it_was() -> None:
    """The two set-up commands must work one right after the other in the same shell: a
    ``cd`` in either happens in a subshell, so the next command starts at the checkout's root."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for marker in ("kisys:demo-command", "kisys:test-command"):
        command = readme.split(f"<!-- {marker} -->", 1)[1].split(f"<!-- /{marker} -->", 1)[0]
        depth = 0
        for token in re.findall(r"\(|\)|\bcd\b", command):
            depth += {"(": 1, ")": -1}.get(token, 0)
            assert token != "cd" or depth > 0, f"{marker}: 'cd' outside a subshell: {command.strip()}"


def test_every_published_hook_is_documented() -> None:
    from pytest_kisys import hookspecs

    page = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    hooks = [name for name in vars(hookspecs) if name.startswith("pytest_kisys_")]
    assert len(hooks) >= 5
    missing = [name for name in hooks if f"## `{name}(" not in page]
    assert not missing, f"docs/hooks.md has no section for {missing}"

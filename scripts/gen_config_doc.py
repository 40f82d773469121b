"""Regenerate the settings table of docs/configuration.md from pytest_kisys.options.OPTIONS.

Run: python scripts/gen_config_doc.py   (a test fails when the page is out of date)
"""

from __future__ import annotations

from pathlib import Path
import sys

from pytest_kisys.options import ini_name
from pytest_kisys.options import OPTIONS as KEYS
from pytest_kisys.settings import Settings


BEGIN = "<!-- generated:settings-table -->"
END = "<!-- /generated:settings-table -->"


def _default(name: str) -> str:
    value = getattr(Settings(), name)
    if name == "scan":
        return "all"
    if name == "trace":
        return "`OTEL_TRACES_EXPORTER`, else none"
    if value in (None, (), {}) or name in ("index",):
        return "-"
    return f"`{value}`".replace("|", "\\|")


def table() -> str:
    """The markdown table, one row per key."""
    rows = [
        "| key (`[tool.kisys]`, `kisys.yaml`) | flag | pytest ini | env | allowed | default |",
        "|---|---|---|---|---|---|",
    ]
    for key in KEYS:
        rows.append(
            "| `{}` | {} | {} | {} | {} | {} |".format(
                key.name,
                f"`{key.flag}`" if key.flag else "-",
                f"`{ini_name(key)}`" if key.ini else "-",
                f"`{key.env}`" if key.env else "-",
                key.allowed.replace("|", "\\|"),
                _default(key.name),
            )
        )
    return "\n".join(rows)


def render(text: str) -> str:
    """``text`` with the generated block replaced by the current table."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main() -> int:
    """Rewrite docs/configuration.md in place; exit 0."""
    page = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
    page.write_text(render(page.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

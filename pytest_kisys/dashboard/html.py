"""``--kisys-html PATH``: one self-contained HTML file for one run (no external request).

It is the dashboard's own page with its stylesheet and script inlined, the run's data embedded
as JSON (the same shapes the REST API returns, see :func:`pytest_kisys.history.views.bundle`)
and a Content-Security-Policy that forbids every fetch, so it works as a CI artifact offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
import json
from pathlib import Path
from typing import Any


CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; connect-src 'none'"
)


def asset(name: str) -> str:
    """The text of a file of the page (``index.html``, ``app.js``, ``app.css``)."""
    return resources.files("pytest_kisys.dashboard").joinpath("static", name).read_text("utf-8")


def render(data: Mapping[str, Any]) -> str:
    """The report page for ``data`` (a :func:`~pytest_kisys.history.views.bundle`)."""
    # "<" escaped: no "</script>" inside the data can end the block early.
    payload = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    page = asset("index.html")
    page = page.replace("<!--kisys:csp-->", f'<meta http-equiv="Content-Security-Policy" content="{CSP}">')
    page = page.replace(
        '<link rel="stylesheet" href="static/app.css">', f"<style>\n{asset('app.css')}</style>"
    )
    page = page.replace(
        "<!--kisys:data-->", f'<script id="kisys-data" type="application/json">{payload}</script>'
    )
    script = asset("app.js").replace("</script", "<\\/script")
    return page.replace('<script src="static/app.js"></script>', f"<script>\n{script}</script>")


def write_html(path: Path, data: Mapping[str, Any]) -> None:
    """Write the report like every other output file (:func:`pytest_kisys.outputs.write_output`).

    :raises OutputError: naming the path when it cannot be written.
    """
    from pytest_kisys.outputs import write_output

    write_output(path, render(data))

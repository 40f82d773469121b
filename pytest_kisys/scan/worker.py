"""Worker process for :mod:`pytest_kisys.scan.parallel`: one JSON task in, one JSON result out.

Run as ``python -m pytest_kisys.scan.worker``. The task is
``{"job": "bandit"|"secrets", "options": {...}, "files": [relative paths]}``; the result is a
list of ``[relative path, results or null, reason]``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from pytest_kisys.plugin_path import PLUGIN_PATH_MARKER


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def isolate_from(root: str) -> None:
    """Drop the project's own directories from ``sys.path`` before any scanner is imported.

    ``-I`` keeps the working directory out, but a ``.pth`` file (a flat-layout project
    installed editable) can still put the project root or its ``src/`` there, and a project
    directory named ``bandit/`` would then replace the real scanner. Installed packages under
    the root (a ``.venv`` inside the project) stay.
    """
    root = os.path.realpath(root)
    sys.path[:] = [
        entry
        for entry in sys.path
        if not _inside(os.path.realpath(entry or os.curdir), root)
        or any(part in ("site-packages", "dist-packages") for part in entry.split(os.sep))
        # The tool environment's link to pytest_kisys (pytest_kisys.tools.env.plugin_path).
        or os.path.isfile(os.path.join(entry, PLUGIN_PATH_MARKER))
    ]


def check_scanner_module(module: Any, root: str) -> None:
    """Refuse to scan with a scanner imported from the project itself (see :func:`isolate_from`)."""
    where = os.path.realpath(getattr(module, "__file__", "") or "")
    if _inside(where, os.path.realpath(root)) and "site-packages" not in where.split(os.sep):
        raise SystemExit(f"{module.__name__} was imported from the project ({where}), not installed")


def run_task(task: dict[str, Any]) -> list[Any]:
    """Dispatch one task to the scanner module that owns the job."""
    job = task["job"]
    root = str(task["options"]["root"])
    isolate_from(root)
    if job == "bandit":
        import bandit

        check_scanner_module(bandit, root)
        from pytest_kisys.scan.bandit_worker import BanditOptions
        from pytest_kisys.scan.bandit_worker import scan_files_with_bandit

        raw = task["options"]
        options = BanditOptions(
            root=str(raw["root"]),
            tests=tuple(raw.get("tests", ())),
            skips=tuple(raw.get("skips", ())),
            config_file=raw.get("config_file"),
            ignore_nosec=bool(raw.get("ignore_nosec", False)),
            linear_nosec=bool(raw.get("linear_nosec", True)),
        )
        return [list(r) for r in scan_files_with_bandit((options, list(task["files"])))]
    if job == "secrets":
        import detect_secrets

        check_scanner_module(detect_secrets, root)
        from pytest_kisys.scan.secrets import scan_files_for_secrets
        from pytest_kisys.scan.secrets import SecretsOptions

        secrets_options = SecretsOptions(**task["options"])
        return [list(r) for r in scan_files_for_secrets((secrets_options, list(task["files"])))]
    raise SystemExit(f"unknown job {job!r}; accepted: bandit, secrets")


def main() -> int:
    """Read the task from stdin, write the result to stdout."""
    from pytest_kisys.install.signals import die_with_parent

    die_with_parent()
    task = json.loads(sys.stdin.read())
    json.dump(run_task(task), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Worker process for :mod:`pytest_kisys.scan.parallel`: one JSON task in, one JSON result out.

Run as ``python -m pytest_kisys.scan.worker``. The task is
``{"job": "bandit"|"secrets", "options": {...}, "files": [relative paths]}``; the result is a
list of ``[relative path, results or null, reason]``.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def run_task(task: dict[str, Any]) -> list[Any]:
    """Dispatch one task to the scanner module that owns the job."""
    job = task["job"]
    if job == "bandit":
        from pytest_kisys.scan.bandit import BanditOptions
        from pytest_kisys.scan.bandit import scan_files_with_bandit

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
        from pytest_kisys.scan.secrets import scan_files_for_secrets
        from pytest_kisys.scan.secrets import SecretsOptions

        secrets_options = SecretsOptions(**task["options"])
        return [list(r) for r in scan_files_for_secrets((secrets_options, list(task["files"])))]
    raise SystemExit(f"unknown job {job!r}; accepted: bandit, secrets")


def main() -> int:
    """Read the task from stdin, write the result to stdout."""
    task = json.loads(sys.stdin.read())
    json.dump(run_task(task), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

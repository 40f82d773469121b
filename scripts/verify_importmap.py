"""Check every curated import-map entry against the real wheel's top-level names on PyPI.

For each distribution in :data:`pytest_kisys.resolve.importmap.CURATED` this downloads one wheel
(``pip download --no-deps --only-binary :all:``; first for this platform, then for Windows and
macOS for platform-only projects), checks with :func:`pytest_kisys.install.artifacts.wheel_provides`
that the import name is really provided, deletes the wheel and writes the outcome to
``pytest_kisys/data/importmap_verified.json`` (generated; never edit by hand). Entries whose
project ships no wheel, or that could not be downloaded in time, are recorded as unverified with
the reason. pip is isolated from the machine's pip configuration except for its CA bundle.

    python scripts/verify_importmap.py [--jobs 4] [--timeout 120] [--index-url URL]
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
import datetime as dt
import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile

from pytest_kisys.install.artifacts import wheel_provides
from pytest_kisys.resolve.importmap import CURATED


ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "pytest_kisys" / "data" / "importmap_verified.json"
PLATFORMS: tuple[tuple[str, ...], ...] = (
    (),
    ("--platform", "win_amd64"),
    ("--platform", "macosx_11_0_arm64"),
    ("--platform", "manylinux2014_x86_64"),
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    if os.environ.get("PIP_CERT"):
        env["PIP_CERT"] = os.environ["PIP_CERT"]
    return env


def download(distribution: str, index_url: str, timeout: float) -> tuple[Path | None, str, str]:
    """(wheel path or None, temp dir, note)."""
    workdir = tempfile.mkdtemp(prefix="kisys-verify-")
    note = "no wheel for any tried platform"
    for platform in PLATFORMS:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--python-version",
            "3.11",
            "--index-url",
            index_url,
            "-d",
            workdir,
            *platform,
            distribution,
        ]
        try:
            result = subprocess.run(
                command, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            note = f"download timed out after {timeout:g} s"
            break
        wheels = sorted(Path(workdir).glob("*.whl"))
        if result.returncode == 0 and wheels:
            return wheels[0], workdir, "linux" if not platform else platform[1]
    return None, workdir, note


def check(import_name: str, distribution: str, index_url: str, timeout: float) -> dict[str, object]:
    """Verify one entry; never raises."""
    wheel, workdir, note = download(distribution, index_url, timeout)
    try:
        if wheel is None:
            return {"distribution": distribution, "verified": False, "wheel": None, "note": note}
        ok = wheel_provides(wheel, import_name)
        return {
            "distribution": distribution,
            "verified": ok,
            "wheel": wheel.name,
            "note": f"{note} wheel" + ("" if ok else f" does not provide {import_name}"),
        }
    finally:
        for path in Path(workdir).iterdir():
            path.unlink()
        Path(workdir).rmdir()


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--index-url", default="https://pypi.org/simple")
    args = parser.parse_args()
    items = sorted(CURATED.items())
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda item: check(item[0], item[1], args.index_url, args.timeout), items))
    entries = {name: result for (name, _), result in zip(items, results, strict=True)}
    verified = sum(1 for r in entries.values() if r["verified"])
    OUT.write_text(
        json.dumps(
            {
                "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "generator": "scripts/verify_importmap.py",
                "source": args.index_url,
                "verified": verified,
                "total": len(entries),
                "entries": entries,
            },
            indent=1,
            sort_keys=True,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"{verified}/{len(entries)} entries verified against real wheels -> {OUT}")
    for name, result in entries.items():
        if not result["verified"]:
            print(f"  unverified: {name} -> {result['distribution']}: {result['note']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

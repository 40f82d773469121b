"""Session checks: kisys against bandit + detect-secrets + pip-audit run one after another.

On a copy of an installed package's source (default: pip, about 150,000 lines of Python):

1. **cold**: ``run_checks`` with an empty cache against the three CLIs
   (``bandit -r DIR -f json -q``, ``detect-secrets scan --all-files -n`` in DIR,
   ``pip-audit -f json -s osv --osv-url ...``), goal <= 0.5x their summed wall time;
2. **warm**: ``run_checks`` again on the unchanged tree, goal <= 0.05x;
3. **demo**: ``pytest --kisys`` on ``examples/demo`` against plain pytest followed by the three
   CLIs on the demo.

pip-audit (ours and the peer) asks a loopback OSV server (``tests/support/osv_server.py``):
the public PyPI per-version endpoint is not reachable from this machine. Both audit the same
environment (this interpreter's). One run, ratios printed.

    python benchmarks/bench_scan.py [--tree DIR] [--skip-demo]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_kisys.scan.runner import run_checks  # noqa: E402
from pytest_kisys.settings import Settings  # noqa: E402
from tests.support.osv_server import DEFAULT_RECORDS  # noqa: E402
from tests.support.osv_server import serve  # noqa: E402


BIN = Path(sys.executable).parent


def _count_lines(tree: Path) -> tuple[int, int, int]:
    files = [p for p in tree.rglob("*") if p.is_file()]
    py = [p for p in files if p.suffix == ".py"]
    lines = sum(len(p.read_bytes().splitlines()) for p in py)
    return len(files), len(py), lines


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    return time.perf_counter() - start


def _clis(tree: Path, osv_url: str, env: dict[str, str]) -> dict[str, float]:
    return {
        "bandit": _timed([str(BIN / "bandit"), "-r", ".", "-f", "json", "-q"], tree, env),
        "detect-secrets": _timed(
            [str(BIN / "detect-secrets"), "scan", "--all-files", "-n"], tree, env
        ),
        "pip-audit": _timed(
            [sys.executable, "-m", "pip_audit", "-f", "json", "--progress-spinner", "off",
             "-s", "osv", "--osv-url", osv_url, "--skip-editable"],
            tree,
            env,
        ),
    }


def _kisys(settings: Settings) -> tuple[float, str]:
    start = time.perf_counter()
    results = run_checks(settings)
    wall = time.perf_counter() - start
    summary = ", ".join(
        f"{r.tool} {r.status} {len(r.findings)}f/{r.items_checked} ({r.duration_s:.1f}s)"
        for r in results
    )
    return wall, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=None, help="source tree to copy")
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    source = args.tree or Path(__import__("pip").__file__).parent
    server, thread = serve(DEFAULT_RECORDS)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    try:
        with tempfile.TemporaryDirectory(prefix="kisys-bench-scan-") as tmp:
            tree = Path(tmp) / "tree"
            shutil.copytree(source, tree, ignore=shutil.ignore_patterns("__pycache__"))
            files, py, lines = _count_lines(tree)
            print(f"tree: copy of {source}: {files} files, {py} .py, {lines} lines of Python")
            print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
            settings = Settings(
                rootdir=tree,
                cache_dir=Path(tmp) / "cache",
                audit_service="osv",
                osv_url=server.url,
                scan_timeout=1800,
            )
            clis = _clis(tree, f"{server.url}/v1/query", env)
            peer = sum(clis.values())
            print("CLIs one after another: " + ", ".join(f"{k} {v:.2f}s" for k, v in clis.items())
                  + f" = {peer:.2f}s")
            cold, summary = _kisys(settings)
            print(f"kisys cold: {cold:.2f}s ({summary})")
            print(f"  ratio cold/CLIs = {cold / peer:.3f} (goal <= 0.5)")
            warm, summary = _kisys(settings)
            print(f"kisys warm: {warm:.3f}s ({summary})")
            print(f"  ratio warm/CLIs = {warm / peer:.4f} (goal <= 0.05)")
            no_prefilter = dataclasses.replace(settings, cache_dir=Path(tmp) / "cache2")
            from pytest_kisys.scan.runner import run_check
            from pytest_kisys.scan.secrets import SecretsScanner

            start = time.perf_counter()
            run_check("secrets", no_prefilter, scanner=SecretsScanner(prefilter=False))
            print(f"secrets check without the pre-filter (cold): {time.perf_counter() - start:.2f}s"
                  f" vs detect-secrets CLI {clis['detect-secrets']:.2f}s")
            if not args.skip_demo:
                _demo(Path(tmp), server.url, env)
    finally:
        server.shutdown()
        thread.join(timeout=5)
    return 0


def _demo(tmp: Path, osv_base: str, env: dict[str, str]) -> None:
    demo = tmp / "demo"
    shutil.copytree(ROOT / "examples" / "demo", demo)
    # Deny the demo's two missing packages: the benchmark must not install into this venv.
    deny = ["--kisys-deny", "tabulate", "--kisys-deny", "colorama"]
    kisys_env = {**env, "KISYS_CACHE_DIR": str(tmp / "demo-cache"), "KISYS_AUDIT_SERVICE": "osv",
                 "KISYS_OSV_URL": osv_base}
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    plain = _timed([*pytest_cmd, "-p", "no:kisys", "--continue-on-collection-errors"], demo, env)
    clis = _clis(demo, f"{osv_base}/v1/query", env)
    peer = plain + sum(clis.values())
    cold = _timed([*pytest_cmd, "--kisys", *deny], demo, kisys_env)
    warm = _timed([*pytest_cmd, "--kisys", *deny], demo, kisys_env)
    print(f"demo: plain pytest {plain:.2f}s + CLIs {sum(clis.values()):.2f}s = {peer:.2f}s; "
          f"pytest --kisys cold {cold:.2f}s ({cold / peer:.2f}x), warm {warm:.2f}s "
          f"({warm / peer:.2f}x)")


if __name__ == "__main__":
    raise SystemExit(main())

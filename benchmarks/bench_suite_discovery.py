"""What the new discovery adds to a run, next to plain ``pytest --collect-only`` of the same suite.

The new discovery of the resolve pipeline, on top of the import reader that
``bench_read_imports.py`` measures: helper modules found by the walk, the project's declared
test dependencies (pyproject groups and extras, requirements files, tox.ini), the pytest
configuration (ini keys, ``addopts``, ``filterwarnings``), the usage scan of every file
(fixtures, markers) and the plugin-table lookup. Goal: at most 20 ms added cold, 2 ms warm.

The suite is generated (``--files`` test files, default 240, plus conftests and helper modules,
with realistic imports, fixtures, parametrize and markers), so the figure is reproducible. The
peer is ``python -m pytest --collect-only -q -p no:kisys`` on the same tree in a subprocess
(median wall of ``--rounds``). The new discovery is timed in-process, in rounds interleaved with
the import stage as it was before it (discover, read, hash, read imports through the import
cache); the figure is the difference in CPU time:

* cold: no cache at all, the table parsed from the bundled JSON;
* warm: the import cache on disk from an earlier run (one entry per file version holds the
  imports and the usage), the table parsed again (each pytest process parses it once).

    python benchmarks/bench_suite_discovery.py [--files 240] [--rounds 5]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import json
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time

from pytest_kisys.resolve.declared import read_declared
from pytest_kisys.resolve.discover import discover
from pytest_kisys.resolve.discover import DiscoverySpec
from pytest_kisys.resolve.importcache import ImportCache
from pytest_kisys.resolve.plugintable import plugin_needs
from pytest_kisys.resolve.plugintable import PluginTable
from pytest_kisys.resolve.usage import config_usage
from pytest_kisys.resolve.usage import read_ini


TEST_FILE = """
import json
import os

import pytest

from tests.helpers.util{n} import make

pytestmark = pytest.mark.slow


@pytest.fixture
def thing{n}(tmp_path):
    return make(tmp_path)


@pytest.mark.parametrize("value, expected", [(1, 2), (2, 3)])
def test_add_{n}(value, expected, thing{n}, monkeypatch):
    assert value + 1 == expected


@pytest.mark.usefixtures("thing{n}")
class TestGroup{n}:
    def test_one(self, caplog, capsys):
        assert json.dumps({{}}) == "{{}}"

    @pytest.mark.xfail(reason="demo")
    def test_two(self, tmp_path_factory):
        assert os.sep
"""


def make_suite(root: Path, count: int) -> None:
    """A project with ``count`` test files, helper modules, conftests and declarations."""
    (root / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1"\n'
        '[project.optional-dependencies]\nfast = ["orjson"]\ntests = ["pytest-mock"]\n'
        '[dependency-groups]\ntests = ["coverage", {include-group = "lint"}]\nlint = ["ruff"]\n'
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\naddopts = "-ra --strict-markers"\n'
        'markers = ["slow: slow"]\nfilterwarnings = ["error", "ignore::DeprecationWarning"]\n',
        encoding="utf-8",
    )
    (root / "requirements-dev.txt").write_text("-e .[fast]\nrequests>=2\n", encoding="utf-8")
    (root / "tox.ini").write_text("[testenv]\ndeps =\n    six\nextras = tests\n", encoding="utf-8")
    tests = root / "tests"
    (tests / "helpers").mkdir(parents=True)
    (tests / "__init__.py").write_text("", encoding="utf-8")
    (tests / "helpers" / "__init__.py").write_text("", encoding="utf-8")
    (tests / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef shared():\n    return 1\n", encoding="utf-8"
    )
    for n in range(count):
        sub = tests / f"pkg{n % 12}"
        sub.mkdir(exist_ok=True)
        (sub / "__init__.py").write_text("", encoding="utf-8")
        (sub / f"test_mod{n}.py").write_text(TEST_FILE.format(n=n), encoding="utf-8")
        (tests / "helpers" / f"util{n}.py").write_text(
            "import pathlib\n\ndef make(path):\n    return pathlib.Path(path)\n", encoding="utf-8"
        )


def timed(rounds: int, body: Callable[[], object]) -> tuple[float, float, float, float]:
    """(median wall, min wall, max wall, median CPU) seconds of ``rounds`` calls."""
    samples = []
    cpu = []
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        body()
        samples.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(samples), min(samples), max(samples), statistics.median(cpu)


def main() -> int:
    """Build the suite, time the peer and the new discovery, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=240)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    table_json = (
        Path(__file__).resolve().parent.parent / "pytest_kisys" / "data" / "pytest_plugins.json"
    ).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "suite"
        root.mkdir()
        make_suite(root, args.files)
        spec = DiscoverySpec(rootdir=root, invocation_dir=root, testpaths=("tests",))
        found = discover(spec)
        print(
            f"suite: {len(found.test_files)} test files, {len(found.conftests)} conftests, "
            f"{len(found.helpers)} helper modules ({len(found.files)} files); "
            f"{args.rounds} rounds, load average {os.getloadavg()[0]:.2f}"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KISYS_"))}
        command = [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:kisys",
            "-p",
            "no:cacheprovider",
        ]
        cpu_before = os.times()
        peer = timed(
            args.rounds, lambda: subprocess.run(command, cwd=root, env=env, capture_output=True, check=False)
        )
        cpu_after = os.times()
        peer_cpu = (
            cpu_after.children_user
            + cpu_after.children_system
            - cpu_before.children_user
            - cpu_before.children_system
        ) / args.rounds
        installed = {"coverage"}

        def imports_only(cache_file: Path | None) -> None:
            # What the import stage did before the new discovery: read, hash, read imports.
            cache = ImportCache.load(cache_file)
            for path in discover(spec).files:
                cache.read(path)
            cache.save()

        def with_discovery(cache_file: Path | None) -> None:
            # The same stage now: one read gives imports and usage; then declarations, the
            # configuration and the plugin table (parsed again, as each pytest process does).
            cache = ImportCache.load(cache_file)
            files = discover(spec).files
            usages = [(str(path), cache.read_with_usage(path)[1]) for path in files]
            cache.save()
            read_declared(root)
            ini, where = read_ini(root / "pyproject.toml")
            table = PluginTable.from_json(json.loads(table_json))
            plugin_needs(usages, config_usage(ini, where), table=table, installed=lambda d: d in installed)

        warm_base, warm_new = Path(tmp) / "base.json", Path(tmp) / "new.json"
        imports_only(warm_base)  # fill the on-disk caches once
        with_discovery(warm_new)
        results = {}
        for label, base_body, new_body in (
            ("cold", lambda: imports_only(None), lambda: with_discovery(None)),
            ("warm", lambda: imports_only(warm_base), lambda: with_discovery(warm_new)),
        ):
            # Interleaved rounds, so both sides see the same machine.
            base_runs, new_runs = [], []
            for _ in range(args.rounds):
                base_runs.append(timed(1, base_body))
                new_runs.append(timed(1, new_body))
            results[label] = (base_runs, new_runs)
    print(
        f"peer: pytest --collect-only  {peer[0] * 1000:8.1f} ms wall (min {peer[1] * 1000:.1f}, "
        f"max {peer[2] * 1000:.1f}), {peer_cpu * 1000:.1f} ms CPU"
    )
    for label, (base_runs, new_runs) in results.items():
        added_cpu = sorted((n[3] - b[3]) * 1000 for b, n in zip(base_runs, new_runs, strict=True))
        added_wall = sorted((n[0] - b[0]) * 1000 for b, n in zip(base_runs, new_runs, strict=True))
        base_cpu = statistics.median(b[3] for b in base_runs) * 1000
        median_cpu = statistics.median(added_cpu)
        goal = 20 if label == "cold" else 2
        print(
            f"{label}: import stage alone {base_cpu:.1f} ms CPU; the new discovery adds "
            f"{median_cpu:.1f} ms CPU (min {added_cpu[0]:.1f}, max {added_cpu[-1]:.1f}), "
            f"{statistics.median(added_wall):.1f} ms wall = "
            f"{median_cpu / (peer_cpu * 1000) * 100:.2f}% of the peer's CPU; goal <= {goal} ms: "
            f"{'met' if median_cpu <= goal else 'NOT met'}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

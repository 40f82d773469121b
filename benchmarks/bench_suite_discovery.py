"""What the new discovery adds to a run, next to plain ``pytest --collect-only`` of the same suite.

The new discovery of the resolve pipeline, on top of the import reader that
``bench_read_imports.py`` measures: helper modules found by the walk, the project's declared
test dependencies (pyproject groups and extras, requirements files, tox.ini), the pytest
configuration (ini keys, ``addopts``, ``filterwarnings``), the usage scan of every file
(fixtures, markers) and the plugin-table lookup. Goal: at most 20 ms added cold, 2 ms warm.

The suite is generated (``--files`` test files, default 240, plus conftests and helper modules,
with realistic imports, fixtures, parametrize and markers), so the figure is reproducible. The
peer is ``python -m pytest --collect-only -q -p no:kisys`` on the same tree in a subprocess
(median wall of ``--rounds``); the new discovery is timed in-process:

* cold: no usage cache, the table parsed from the bundled JSON;
* warm: the usage cache on disk from an earlier run, the table parsed again (each pytest
  process parses it once).

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
from pytest_kisys.resolve.plugintable import plugin_needs
from pytest_kisys.resolve.plugintable import PluginTable
from pytest_kisys.resolve.sources import UsageCache
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
        cache_file = Path(tmp) / "usage.json"
        installed = {"coverage"}

        def discovery(cache: UsageCache) -> None:
            files = discover(spec).files
            read_declared(root)
            ini, where = read_ini(root / "pyproject.toml")
            usage = config_usage(ini, where)
            table = PluginTable.from_json(json.loads(table_json))
            usages = [(str(p), cache.usage(p)) for p in files]
            cache.save()
            plugin_needs(usages, usage, table=table, installed=lambda d: d in installed)

        def cold() -> None:
            discovery(UsageCache(None))

        discovery(UsageCache.load(cache_file))  # fill the on-disk cache once

        def warm() -> None:
            discovery(UsageCache.load(cache_file))

        walk = timed(args.rounds, lambda: discover(spec))
        results = {"cold": timed(args.rounds, cold), "warm": timed(args.rounds, warm)}
    print(
        f"peer: pytest --collect-only  {peer[0] * 1000:8.1f} ms wall (min {peer[1] * 1000:.1f}, "
        f"max {peer[2] * 1000:.1f}), {peer_cpu * 1000:.1f} ms CPU"
    )
    print(
        f"(discovery walk alone, already part of the import reader's stage: {walk[0] * 1000:.1f} ms wall, "
        f"{walk[3] * 1000:.1f} ms CPU)"
    )
    for label, (median, low, high, cpu) in results.items():
        added = median - walk[0]
        print(
            f"new discovery, {label}: {median * 1000:7.1f} ms wall "
            f"(min {low * 1000:.1f}, max {high * 1000:.1f}), "
            f"{cpu * 1000:.1f} ms CPU; beyond the walk {added * 1000:.1f} ms wall, "
            f"{(cpu - walk[3]) * 1000:.1f} ms CPU = {(cpu - walk[3]) / peer_cpu * 100:.1f}% of the peer's CPU"
        )
    # CPU time is the figure on a shared, loaded machine (wall time there is mostly waiting).
    cold_added = (results["cold"][3] - walk[3]) * 1000
    warm_added = (results["warm"][3] - walk[3]) * 1000
    print(
        f"goal <= 20 ms cold / 2 ms warm: cold {'met' if cold_added <= 20 else 'NOT met'} "
        f"({cold_added:.1f} ms), warm {'met' if warm_added <= 2 else 'NOT met'} ({warm_added:.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Before pytest reads its configuration: the modules its ``filterwarnings`` names.

pytest applies the configured warning filters before it loads any plugin. A filter whose
category lives in a module that is not installed (``ignore::coverage.exceptions.CoverageWarning``)
is a ``PytestConfigWarning`` then, and with ``error`` in front of it pytest stops before
pytest-kisys is even imported. So pytest-kisys ships ``pytest-kisys-early.pth``: in a process
whose command line holds ``--kisys`` (and only there; the check is one ``in`` on
``sys.orig_argv``) it calls :func:`arm`, which

1. finds pytest's configuration file the way pytest does (upwards from the invocation
   directory) and reads its ``filterwarnings``; when every category module is importable, or
   the process is not pytest, it returns at once;
2. otherwise installs the project's declared test dependencies, then the missing modules
   themselves, through the same :class:`~pytest_kisys.resolve.pipeline.ResolvePipeline`
   (same settings, policy, consent and hints: flags from the command line, ``KISYS_*``
   variables, ``[tool.kisys]`` and ``kisys.yaml``; pytest ini twins are not known yet);
3. keeps what it did for the ``kisys`` section (:func:`early_lines`), and prints it at once
   when something stays missing, since pytest is about to stop on it.

Then it forgets every module outside the standard library that it imported (pytest_kisys,
httpx, anyio...): pytest's assertion rewriter claims the modules of installed plugins and
warns (an error under ``filterwarnings = error``) about one that is already imported. The
lines survive in a module object that is not a file, which the rewriter does not claim.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import os
from pathlib import Path
import sys
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from pytest_kisys.resolve.pipeline import ResolvePipeline
    from pytest_kisys.resolve.plan import Need


__all__ = ["arm", "early_lines", "find_inifile", "missing_filter_modules"]

STATE_MODULE = "pytest_kisys_early_state"
"""Name of the in-memory module holding what :func:`arm` did (never a file on disk)."""
EARLY_LINES: list[str] = []
"""What :func:`arm` did in this import of the module."""


def early_lines() -> list[str]:
    """What :func:`arm` did before pytest started, for the ``kisys`` section."""
    state = sys.modules.get(STATE_MODULE)
    return list(getattr(state, "lines", ()))


def _keep_and_forget(before: set[str]) -> None:
    """Leave ``sys.modules`` as it was, but for the standard library and the state module."""
    import types

    state = sys.modules.get(STATE_MODULE)
    if state is None:
        state = types.ModuleType(STATE_MODULE, "what pytest_kisys.early did before pytest started")
        state.lines = []  # type: ignore[attr-defined]
    state.lines.extend(EARLY_LINES)
    for name in set(sys.modules) - before:
        top = name.split(".", 1)[0]
        if top not in sys.stdlib_module_names:
            del sys.modules[name]
    sys.modules[STATE_MODULE] = state

_CONFIG_NAMES = (
    "pytest.toml",
    ".pytest.toml",
    "pytest.ini",
    ".pytest.ini",
    "pyproject.toml",
    "tox.ini",
    "setup.cfg",
)


def _is_pytest(argv: list[str]) -> bool:
    if len(argv) >= 3 and argv[1] == "-m" and argv[2] in ("pytest", "py.test"):
        return True
    return bool(argv) and Path(argv[0]).name in ("pytest", "py.test")


def find_inifile(start: Path) -> Path | None:
    """The first directory upwards of ``start`` with a pytest configuration, as pytest looks."""
    from pytest_kisys.resolve.usage import read_ini

    for directory in (start, *start.parents):
        for name in _CONFIG_NAMES:
            path = directory / name
            if not path.is_file():
                continue
            if name in ("pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml"):
                return path
            ini, _ = read_ini(path)
            if ini or (name == "pyproject.toml" and b"[tool.pytest" in path.read_bytes()):
                return path
    return None


def missing_filter_modules(inipath: Path) -> list[tuple[str, str]]:
    """(module, entry) for ``filterwarnings`` categories whose module cannot be imported."""
    from pytest_kisys.resolve.probe import module_importable
    from pytest_kisys.resolve.usage import config_usage
    from pytest_kisys.resolve.usage import read_ini

    ini, where = read_ini(inipath)
    usage = config_usage(ini, where)
    return [(module, entry) for module, entry in usage.filter_modules if not module_importable(module)]


def _cli(argv: list[str]) -> dict[str, list[object]]:
    """The ``--kisys-*`` flags of the command line, by setting name."""
    from pytest_kisys.options import dest_name
    from pytest_kisys.options import OPTIONS

    parser = argparse.ArgumentParser(add_help=False)
    for key in OPTIONS:
        if key.flag is None:
            continue
        if key.name in ("enabled", "offline", "learn", "scan_first"):
            parser.add_argument(key.flag, dest=dest_name(key), action="store_true", default=None)
        else:
            parser.add_argument(key.flag, dest=dest_name(key), action="append", default=None)
    known, _ = parser.parse_known_args(argv)
    values: dict[str, list[object]] = {}
    for key in OPTIONS:
        if key.flag is None:
            continue
        given = getattr(known, dest_name(key), None)
        if given not in (None, False):
            values[key.name] = given if isinstance(given, list) else [given]
    return values


def arm(argv: list[str] | None = None, cwd: Path | None = None) -> None:
    """Install what ``filterwarnings`` names before pytest reads it (see the module docstring)."""
    before = set(sys.modules) - {__name__, "pytest_kisys"}
    try:
        # Once per process, even when a second site directory holds the .pth too.
        if STATE_MODULE not in sys.modules:
            _arm(list(argv if argv is not None else getattr(sys, "orig_argv", sys.argv)), cwd)
    finally:
        _keep_and_forget(before)


def _arm(args: list[str], cwd: Path | None) -> None:
    if "--kisys" not in args or not _is_pytest(args) or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    here = cwd or Path.cwd()
    inipath = find_inifile(here)
    if inipath is None:
        return
    missing = missing_filter_modules(inipath)
    if not missing:
        return
    from pytest_kisys.errors import ConfigError

    try:
        _install(args, here, inipath.parent, missing)
    except ConfigError as exc:
        # pytest reports the bad setting itself once kisys loads; say why nothing happened.
        EARLY_LINES.append(f"before pytest: not resolving filterwarnings modules: {exc}")
    if missing_filter_modules(inipath):
        print(f"{'-' * 30} kisys {'-' * 30}", file=sys.stderr)
        for line in EARLY_LINES:
            print(line, file=sys.stderr)


def _install(args: list[str], here: Path, rootdir: Path, missing: list[tuple[str, str]]) -> None:
    from pytest_kisys.resolve.declared import read_declared
    from pytest_kisys.resolve.pipeline import ResolvePipeline
    from pytest_kisys.resolve.plan import Need
    from pytest_kisys.resolve.probe import installed_version
    from pytest_kisys.resolve.probe import module_importable
    from pytest_kisys.resolve.sources import gather_suite_needs
    from pytest_kisys.resolve.usage import ConfigUsage
    from pytest_kisys.settings import resolve
    from pytest_kisys.vet.requirements import parse_requirement

    settings = resolve(cli=_cli(args[1:]), environ=os.environ, ini={}, rootdir=rootdir, invocation_dir=here)
    pipeline = ResolvePipeline(settings, rootdir=rootdir, progress=lambda line: print(line, file=sys.stderr))
    first_party = pipeline.first_party()
    EARLY_LINES.append(
        "before pytest reads its configuration: filterwarnings names "
        + ", ".join(f"{module} ({entry!r})" for module, entry in missing)
        + ", not installed"
    )
    batches: list[list[Need]] = []
    if settings.use_declared:
        declared = gather_suite_needs(
            rootdir=rootdir,
            usages=(),
            config=ConfigUsage(),
            declarations=read_declared(
                rootdir, declared=settings.declared, project_extras=settings.project_extras
            ),
            installed_version=installed_version,
            importable=module_importable,
            resolve_import=lambda name: pipeline.resolve_import(name, first_party),
            parse_requirement=parse_requirement,
            first_party=first_party,
        )
        batches.append([n for n in declared.needs if n.via == "declared"])
    for needs in batches:
        if needs:
            _run(pipeline, needs)
    # What the declarations did not bring: the modules themselves, resolved like imports.
    remaining = [(m, e) for m, e in missing if not module_importable(m)]
    needs = []
    for module, entry in remaining:
        resolution = pipeline.resolve_import(module, first_party)
        if resolution.distribution is None or resolution.kind in (
            "unknown",
            "first_party",
            "stdlib",
            "installed",
        ):
            top = module.split(".", 1)[0]
            EARLY_LINES.append(
                f"not installed: module {module} ({entry!r}) has no trusted distribution; map it in "
                f'[tool.kisys] import_map = {{{top} = "<distribution>"}}'
            )
            continue
        needs.append(
            Need(
                resolution.distribution,
                resolution.distribution,
                (f"{entry!r} in filterwarnings",),
                module,
                "config",
            )
        )
    if needs:
        _run(pipeline, needs)


def _run(pipeline: ResolvePipeline, needs: Sequence[Need]) -> None:
    batch = pipeline.install(needs)
    EARLY_LINES.extend(f"installed (before pytest): {item}" for item in batch.installed)
    EARLY_LINES.extend(f"denied: {denial.message()}" for denial in batch.denied.values())
    if batch.error:
        EARLY_LINES.append(f"install batch failed: {batch.error}")

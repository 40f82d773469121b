"""Unit tests of the static import scan, first-party detection and file discovery."""

from __future__ import annotations

import ast
from pathlib import Path
import sys
import textwrap

import pytest

from pytest_kisys.resolve.discover import discover
from pytest_kisys.resolve.discover import DiscoverySpec
from pytest_kisys.resolve.firstparty import detect_first_party
from pytest_kisys.resolve.importcache import ImportCache
from pytest_kisys.resolve.importreader import read_imports


TRICKY = textwrap.dedent(
    '''
    """Module docstring mentioning import fakemod in prose."""
    from __future__ import annotations
    import os, json
    import numpy as np
    import yaml
    import google.protobuf.json_format
    from . import sibling
    from .helpers import thing
    import helpers
    try:
        import ujson
    except ImportError:
        import simplejson_fallback
    try:
        import orjson
    except (ModuleNotFoundError, AttributeError):
        pass
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli
    if os.environ.get("X"):
        import envdependent
    from typing import TYPE_CHECKING
    if TYPE_CHECKING:
        import pandas
    pd = pytest.importorskip("polars", minversion="2.0")
    import contextlib
    with contextlib.suppress(ImportError):
        import rich
    mod = importlib.import_module("dyn_required")
    pytest_plugins = ["pytest_asyncio", "tests.fixtures.db"]

    class TestThing:
        import classlevel

        def test_lazy(self):
            import requests

    def test_missing():
        with pytest.raises(ImportError):
            import definitely_missing_mod
    '''
)


def kinds(source: str) -> dict[str, str]:
    scan = read_imports(source.encode(), Path("test_x.py"))
    assert scan.error is None
    return {("." if use.kind == "relative" else "") + use.name: use.kind for use in scan.imports}


def test_scan_classifies_every_import_form() -> None:
    found = kinds(TRICKY)
    assert found["numpy"] == "required"
    assert found["yaml"] == "required"
    assert found["google.protobuf.json_format"] == "required"
    assert found["helpers"] == "required"
    assert found["."] == "relative"
    assert found[".helpers"] == "relative"
    assert found["ujson"] == "guarded"
    assert found["simplejson_fallback"] == "conditional"
    assert found["orjson"] == "guarded"
    assert found["tomllib"] == "required"
    assert "tomli" not in found  # the branch not taken on this interpreter
    assert found["envdependent"] == "conditional"
    assert found["pandas"] == "type_checking"
    assert found["polars"] == "importorskip"
    assert found["rich"] == "guarded"
    assert found["dyn_required"] == "dynamic"
    assert found["pytest_asyncio"] == "plugin"
    assert found["tests.fixtures.db"] == "plugin"
    assert found["classlevel"] == "required"
    assert found["requests"] == "lazy"
    assert found["definitely_missing_mod"] == "expected_missing"
    assert "fakemod" not in found
    assert "__future__" not in found


def test_version_branch_taken_on_older_python_is_the_else_branch() -> None:
    found = kinds("import sys\nif sys.version_info < (3, 0):\n    import py2only\nelse:\n    import py3\n")
    assert "py2only" not in found
    assert found["py3"] == "required"


def test_requires_markers_on_function_class_module_and_param() -> None:
    source = textwrap.dedent(
        """
        import pytest
        pytestmark = [pytest.mark.requires("attrs>=20"), pytest.mark.slow]

        @pytest.mark.requires("scipy>=1.12", "numpy")
        def test_a():
            pass

        @pytest.mark.requires("tomli-w")
        class TestB:
            pass

        @pytest.mark.parametrize("x", [1, pytest.param(2, marks=pytest.mark.requires("six"))])
        def test_c(x):
            pass

        @pytest.mark.requires(NAME)
        def test_dynamic():
            pass
        """
    )
    scan = read_imports(source.encode(), Path("test_m.py"))
    markers = {m.target: m.requirements for m in scan.markers}
    assert markers["pytestmark"] == ("attrs>=20",)
    assert markers["test_a"] == ("scipy>=1.12", "numpy")
    assert markers["TestB"] == ("tomli-w",)
    assert markers["test_c"] == ("six",)
    assert markers["test_dynamic"] == ()  # not a constant: left to the run-time check
    assert [text for text, _ in scan.requirements()] == [
        "attrs>=20",
        "scipy>=1.12",
        "numpy",
        "tomli-w",
        "six",
    ]


def test_prefilter_skips_the_parse_when_lines_say_enough() -> None:
    simple = read_imports(b"import os\nfrom pathlib import Path\nimport pytest\n", Path("t.py"))
    assert simple.parsed is False
    assert {u.name for u in simple.imports} == {"os", "pathlib", "pytest"}
    # Column-0 imports are module level and unguarded: no parse needed even for third party.
    top = read_imports(b"import os\nimport numpy as np\nfrom yaml import safe_load\n", Path("t.py"))
    assert top.parsed is False
    assert [(u.name, u.line, u.kind) for u in top.needed()] == [
        ("os", 1, "required"),
        ("numpy", 2, "required"),
        ("yaml", 3, "required"),
    ]


@pytest.mark.parametrize(
    ("source", "needed"),
    [
        (b"import os\ntry:\n    import numpy\nexcept ImportError:\n    pass\n", {"os"}),
        (b"import os; import numpy\n", {"os", "numpy"}),
        (b"if True: import numpy\n", {"numpy"}),
        (b'"""\nimport numpy\n"""\n', set()),
        (b"import pytest\n@pytest.mark.requires('six')\ndef test(): pass\n", {"pytest"}),
        (b"import os, \\\n    numpy\n", {"os", "numpy"}),
    ],
    ids=["indented", "semicolon", "one-line-if", "docstring", "marker", "continuation"],
)
def test_prefilter_parses_whatever_a_line_regex_could_misread(source: bytes, needed: set[str]) -> None:
    scan = read_imports(source, Path("t.py"))
    assert scan.parsed is True
    assert {u.name for u in scan.needed()} == needed


def test_syntax_error_is_kept_not_raised() -> None:
    scan = read_imports(b"import numpy\ndef broken(:\n    import yaml\n", Path("t.py"))
    assert scan.error is not None
    assert "SyntaxError" in scan.error
    assert scan.imports == ()


def test_cache_hits_by_content_and_survives_a_reload(tmp_path: Path) -> None:
    one = tmp_path / "a" / "test_one.py"
    two = tmp_path / "b" / "test_two.py"
    for path in (one, two):
        path.parent.mkdir()
        path.write_text("import numpy\n@pytest.mark.requires('six')\ndef test(): pass\n")
    cache_file = tmp_path / "cache" / "scan.json"
    cache = ImportCache.load(cache_file)
    first = cache.read(one)
    second = cache.read(two)
    assert (cache.hits, cache.misses) == (1, 1)
    assert second.path == two
    assert second.imports == first.imports
    cache.save()
    reloaded = ImportCache.load(cache_file)
    again = reloaded.read(one)
    assert (reloaded.hits, reloaded.misses) == (1, 0)
    assert [m.requirements for m in again.markers] == [("six",)]
    one.write_text("import attrs\n")
    assert [u.name for u in reloaded.read(one).imports] == ["attrs"]
    assert reloaded.misses == 1


def test_corrupt_cache_file_is_ignored(tmp_path: Path) -> None:
    cache_file = tmp_path / "scan.json"
    cache_file.write_text("{not json")
    cache = ImportCache.load(cache_file)
    target = tmp_path / "test_x.py"
    target.write_text("import numpy\n")
    assert [u.name for u in cache.read(target).imports] == ["numpy"]


def build_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_first_party_covers_rootdir_src_pythonpath_project_and_siblings(tmp_path: Path) -> None:
    build_tree(
        tmp_path,
        {
            "pyproject.toml": '[project]\nname = "My-Proj"\n',
            "conftest.py": "",
            "toolbox.py": "",
            "src/mypkg/__init__.py": "",
            "libs/vendored/__init__.py": "",
            "tests/unit/helpers.py": "",
            "tests/unit/test_a.py": "",
            "tests/pkgtests/__init__.py": "",
            "tests/pkgtests/test_b.py": "",
            "docs/readme.txt": "",
        },
    )
    first = detect_first_party(
        tmp_path,
        pythonpath=[tmp_path / "libs"],
        files=[tmp_path / "tests/unit/test_a.py", tmp_path / "tests/pkgtests/test_b.py"],
    )
    for name in ("conftest", "toolbox", "mypkg", "vendored", "my_proj", "helpers", "pkgtests"):
        assert name in first, name
    assert "mypkg.core" in first
    assert "numpy" not in first
    assert "docs" not in first  # no Python files in it
    assert first.origin("mypkg") == "src/mypkg (src layout)"


def spec(root: Path, **kw: object) -> DiscoverySpec:
    return DiscoverySpec(rootdir=root, invocation_dir=root, **kw)  # type: ignore[arg-type]


def test_discover_follows_testpaths_norecurse_ignore_and_venvs(tmp_path: Path) -> None:
    build_tree(
        tmp_path,
        {
            "conftest.py": "",
            "tests/conftest.py": "",
            "tests/test_a.py": "",
            "tests/sub/b_test.py": "",
            "tests/sub/helper.py": "",
            "tests/build/test_built.py": "",
            "tests/skipme/test_ignored.py": "",
            "tests/.venv/pyvenv.cfg": "",
            "tests/.venv/test_venv.py": "",
            "tests/env2/pyvenv.cfg": "",
            "tests/env2/test_env.py": "",
            "other/test_other.py": "",
        },
    )
    found = discover(spec(tmp_path, testpaths=("tests",), ignore=(tmp_path / "tests/skipme",)))
    rel = {str(p.relative_to(tmp_path)) for p in found.conftests + found.test_files}
    assert rel == {"conftest.py", "tests/conftest.py", "tests/test_a.py", "tests/sub/b_test.py"}
    # Helper modules under the test tree are scanned too (their imports break collection).
    assert [str(p.relative_to(tmp_path)) for p in found.helpers] == ["tests/sub/helper.py"]
    assert found.conftests[0] == tmp_path / "conftest.py"


def test_discover_args_win_over_testpaths_and_nodeids_are_reduced(tmp_path: Path) -> None:
    build_tree(
        tmp_path,
        {
            "tests/test_a.py": "",
            "tests/test_b.py": "",
            "other/conftest.py": "",
            "other/test_o.py": "",
        },
    )
    found = discover(spec(tmp_path, args=("other/test_o.py::test_x",), testpaths=("tests",)))
    assert [p.relative_to(tmp_path) for p in found.files] == [
        Path("other/conftest.py"),
        Path("other/test_o.py"),
    ]


def test_discover_from_a_real_early_config(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntestpaths = t\nnorecursedirs = skipped\n")
    pytester.makepyfile(**{"t/test_one": "", "t/skipped/test_two": "", "u/test_three": ""})
    pytester.makeconftest(
        """
        import pytest
        from pytest_kisys.resolve.discover import discover, spec_from_config

        def pytest_report_header(config):
            found = discover(spec_from_config(config))
            return "found: " + ",".join(sorted(p.name for p in found.files))
        """
    )
    result = pytester.runpytest("--ignore=t/nothing")
    result.stdout.fnmatch_lines(["found: conftest.py,test_one.py"])


@pytest.mark.skipif(sys.platform == "win32", reason="posix paths in the glob")
def test_discover_globbed_testpaths(tmp_path: Path) -> None:
    build_tree(tmp_path, {"pkg_a/tests/test_1.py": "", "pkg_b/tests/test_2.py": "", "x/test_3.py": ""})
    found = discover(spec(tmp_path, testpaths=("pkg_*/tests",)))
    assert sorted(p.name for p in found.test_files) == ["test_1.py", "test_2.py"]


CHUNKY = textwrap.dedent(
    '''
    import os
    x = [
    1,
    ]
    @pytest.mark.requires("six")
    @other
    def test_a():
        import lazy_one

    try:
        import guarded_one
    except ImportError:
        pass
    else:
        import after_guard
    s = """
    import not_code
    """
    class TestB:
        import class_level
    if TYPE_CHECKING:
        import typing_only
    '''
)


@pytest.mark.parametrize(
    "source",
    [TRICKY, CHUNKY, *(p.read_text() for p in sorted(Path(__file__).parent.glob("test_*.py")))],
    ids=lambda s: str(len(s)),
)
def test_pruned_chunked_scan_finds_exactly_what_a_full_walk_finds(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_kisys.resolve import importreader

    chunked = read_imports(source.encode(), Path("t.py"))
    # The reference: the whole file parsed and every node visited.
    monkeypatch.setattr(importreader, "_parse_chunks", lambda data, filename: None)
    monkeypatch.setattr(importreader._Visitor, "visit", ast.NodeVisitor.visit)
    full = read_imports(source.encode(), Path("t.py"))
    assert (chunked.imports, chunked.markers, chunked.error) == (
        full.imports,
        full.markers,
        full.error,
    )


def test_chunked_scan_keeps_contexts_and_line_numbers() -> None:
    scan = read_imports(CHUNKY.encode(), Path("t.py"))
    found = {(u.name, u.line, u.kind) for u in scan.imports}
    assert ("lazy_one", 9, "lazy") in found
    assert ("guarded_one", 12, "guarded") in found
    assert ("after_guard", 16, "required") in found
    assert ("class_level", 21, "required") in found
    assert ("typing_only", 23, "type_checking") in found
    assert "not_code" not in {u.name for u in scan.imports}
    assert [(m.requirements, m.line, m.target) for m in scan.markers] == [(("six",), 6, "test_a")]


def test_cache_keeps_the_most_recently_used_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_kisys.resolve import importcache

    monkeypatch.setattr(importcache, "MAX_CACHE_ENTRIES", 2)
    paths = []
    for n in range(3):
        path = tmp_path / f"test_{n}.py"
        path.write_text(f"import mod_{n}\n")
        paths.append(path)
    cache = ImportCache.load(tmp_path / "scan.json")
    for path in paths:
        cache.read(path)
    cache.read(paths[0])  # used again: now the newest
    cache.save()
    again = ImportCache.load(tmp_path / "scan.json")
    for path in (paths[0], paths[2], paths[1]):
        again.read(path)
    assert (again.hits, again.misses) == (2, 1)


def test_odd_bytes_never_break_the_scan() -> None:
    latin1 = read_imports("import os as \xe9t\xe9\n".encode("latin-1"), Path("t.py"))
    assert [u.name for u in latin1.imports] == ["os"]
    nested = b"x = " + b"(" * 5000 + b"__import__('deep')" + b")" * 5000 + b"\n"
    deep = read_imports(b"import numpy\n" + nested, Path("t.py"))
    assert deep.error is not None
    assert "SyntaxError" in deep.error or "RecursionError" in deep.error


def test_one_cache_entry_holds_imports_and_usage(tmp_path: Path) -> None:
    """The usage scan shares the import cache's entry: a warm run reads each file once."""
    from pytest_kisys.resolve.usage import scan_usage

    source = tmp_path / "test_x.py"
    source.write_text(
        "import yaml\nimport pytest\n\n@pytest.mark.slow\ndef test_a(httpbin, tmp_path):\n    pass\n",
        encoding="utf-8",
    )
    cache_file = tmp_path / "cache" / "imports.json"
    first = ImportCache.load(cache_file)
    first.read(source)  # imports only: the entry has no usage yet
    imports, usage = first.read_with_usage(source)
    assert (first.hits, first.misses) == (0, 2)
    assert usage == scan_usage(source.read_bytes())
    assert ("httpbin", 5) in usage.fixtures
    first.save()
    warm = ImportCache.load(cache_file)
    again_imports, again_usage = warm.read_with_usage(source)
    assert (warm.hits, warm.misses) == (1, 0)
    assert again_usage == usage
    assert [i.name for i in again_imports.imports] == [i.name for i in imports.imports]
    source.write_text("import toml\n", encoding="utf-8")  # new bytes: a new entry, scanned afresh
    _, changed = warm.read_with_usage(source)
    assert changed.fixtures == ()
    assert warm.misses == 1

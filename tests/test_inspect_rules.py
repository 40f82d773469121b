"""Wheel inspection rules on crafted and benign wheels (pure: nothing is installed or run)."""

from __future__ import annotations

import io
from pathlib import Path
import stat
import zipfile

import pytest

from pytest_kisys.inspect import EnvironmentView
from pytest_kisys.inspect import inspect_wheel
from pytest_kisys.inspect import WheelInspection
from pytest_kisys.inspect.archive import RATIO_FLOOR
from tests.support.crafted import crafted_wheels
from tests.support.crafted import VICTIM
from tests.support.pkgindex import Artifact
from tests.support.pkgindex import build_wheel


VIEW = EnvironmentView(
    files={"kisys_victim/__init__.py": VICTIM, "pytest/__init__.py": "pytest"},
    top_levels={"kisys_victim": VICTIM, "pytest": "pytest"},
    commands={"black": "black"},
    path_commands=frozenset({"make"}),
)


def _inspect(
    tmp_path: Path, wheel: Artifact, owner: str = "kisys-test", view: EnvironmentView = VIEW
) -> WheelInspection:
    return inspect_wheel(wheel.write(tmp_path), owner, "1.0", view)


def _rules(result: WheelInspection, severity: str = "high") -> set[str]:
    return {f.rule for f in result.findings if f.severity == severity}


@pytest.mark.parametrize("rule", sorted(crafted_wheels(Path("/nonexistent/canary"))))
def test_each_crafted_wheel_is_caught_by_its_rule_with_file_evidence(rule: str, tmp_path: Path) -> None:
    name, wheel = crafted_wheels(tmp_path / "canary")[rule]
    result = _inspect(tmp_path, wheel, owner=name)
    hits = [f for f in result.findings if f.rule == rule]
    assert hits, result.findings
    assert all(f.severity == "high" for f in hits)
    assert all(f.file and f.file in f.describe() for f in hits)
    assert not (tmp_path / "canary").exists()


def test_pth_line_numbers_and_benign_idioms(tmp_path: Path) -> None:
    # setuptools' distutils-precedence.pth, a -nspkg.pth, pytest-cov's hook: all import only
    # the wheel's own package (or sys/os/types/importlib).
    nspkg = (
        "import sys, types, os;has_mfs = sys.version_info > (3, 5);p = os.path.join(sys._getframe(1)"
        ".f_locals['sitedir'], *('zope',));importlib = has_mfs and __import__('importlib.util');"
        "has_mfs and __import__('importlib.machinery');m = has_mfs and sys.modules.setdefault('zope', "
        "importlib.util.module_from_spec(importlib.machinery.PathFinder.find_spec('zope', "
        "[os.path.dirname(p)])));"
        "m = m or sys.modules.setdefault('zope', types.ModuleType('zope'));mp = (m or []) and "
        "m.__dict__.setdefault('__path__',[]);(p not in mp) and mp.append(p)\n"
    )
    precedence = (
        "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; "
        "enabled and __import__('_distutils_hack').add_shim(); \n"
    )
    cov = (
        "import os, sys;exec('if \\'COV_CORE_SOURCE\\' in os.environ:\\n try:\\n  from pytest_cov.embed "
        'import init\\n  init()\\n except Exception as exc:\\n  sys.stderr.write(\\n    "pytest-cov: '
        'Failed to setup subprocess coverage. "\\n    "Environ: {0!r} "\\n    "Exception: {1!r}\\\\n"'
        '.format(\\n      dict((k, v) for k, v in os.environ.items() if k.startswith("COV_CORE")),\\n'
        "      exc\\n    )\\n  )\\n')\n"
    )
    wheel = build_wheel(
        "benign",
        modules={
            "zope.interface-6.3-py3.11-nspkg.pth": nspkg,
            "distutils-precedence.pth": precedence,
            "pytest-cov.pth": cov,
            "_distutils_hack/__init__.py": "def add_shim(): pass\n",
            "pytest_cov/embed.py": "def init(): pass\n",
            "zope/interface/__init__.py": "",
        },
    )
    assert _inspect(tmp_path, wheel, owner="benign").findings == ()
    evil = build_wheel(
        "evil",
        modules={
            "evil/__init__.py": "",
            "evil.pth": "# hello\nimport socket; socket.create_connection(('x', 1))\n",
        },
    )
    (finding,) = _inspect(tmp_path, evil).at("high")
    assert (finding.rule, finding.line) == ("pth.exec", 2)
    foreign = build_wheel(
        "odd", modules={"odd/__init__.py": "", "odd.pth": "import coverage; coverage.process_startup()\n"}
    )
    assert _rules(_inspect(tmp_path, foreign), "medium") == {"pth.import"}


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("import subprocess as sp\nsp.Popen(['id'])\n", "process"),
        ("from os import system\nsystem('id')\n", "process"),
        ("__import__('os').system('id')\n", "process"),
        ("import urllib.request\nurllib.request.urlopen('http://x')\n", "network"),
        ("import os\nopen(os.path.expanduser('~/.ssh/id_rsa')).read()\n", "credentials"),
        (
            "import os, json, socket\ns = socket.socket()\ns.send(json.dumps(dict(os.environ)).encode())\n",
            "env-exfiltration",
        ),
        ("import zlib\neval(zlib.decompress(b'x'))\n", "decoded-exec"),
        ("exec(''.join(chr(c) for c in [112, 97, 115, 115]))\n", "decoded-exec"),
        ("import builtins\ngetattr(builtins, 'ex' + 'ec')('pass')\n", "decoded-exec"),
        ("import marshal\nmarshal.loads(b'')\n", "decoded-exec"),
        ("exec('import os\\nos.system(\"id\")')\n", "process"),
    ],
)
def test_import_time_behaviours(source: str, kind: str, tmp_path: Path) -> None:
    wheel = build_wheel("bad", modules={"bad/__init__.py": source})
    assert f"import-time.{kind}" in _rules(_inspect(tmp_path, wheel))


def test_code_that_does_not_run_at_import_is_not_reported(tmp_path: Path) -> None:
    source = (
        "import subprocess, base64\n"
        "def run():\n    subprocess.run(['git', 'status'])\n    exec(base64.b64decode(b'cGFzcw=='))\n"
        "if __name__ == '__main__':\n    run()\n"
        "class A:\n    def m(self):\n        return __import__(self.name)\n"
        "plugins = [__import__(n) for n in ('json',)]\n"
    )
    wheel = build_wheel(
        "fine", modules={"fine/__init__.py": source, "fine/_impl.py": "import os\nos.system('x')\n"}
    )
    # Submodules other than __init__ are out of scope; function bodies never run on import.
    assert _inspect(tmp_path, wheel, owner="fine").findings == ()


def test_clobbering_and_stdlib_and_shadowing(tmp_path: Path) -> None:
    wheel = build_wheel(
        "grabby",
        modules={
            "pytest/__init__.py": "",
            "json.py": "",
            "grabby/__init__.py": "",
            "grabby-1.0.dist-info/entry_points.txt": (
                "[console_scripts]\nblack = grabby:main\nmake = grabby:main\n"
            ),
        },
    )
    result = _inspect(tmp_path, wheel, owner="grabby")
    assert _rules(result) >= {"clobber.file", "clobber.stdlib", "shadow.command"}
    assert _rules(result, "low") == {"shadow.path"}
    # The same files are fine for their owner (an upgrade), and pip may ship pip.
    upgrade = build_wheel("kisys-victim", modules={"kisys_victim/__init__.py": ""})
    assert _inspect(tmp_path, upgrade, owner=VICTIM).findings == ()
    pip = build_wheel(
        "pip",
        modules={
            "pip/__init__.py": "",
            "pip-1.0.dist-info/entry_points.txt": "[console_scripts]\npip = pip:main\npip3.11 = pip:main\n",
        },
    )
    assert _inspect(tmp_path, pip, owner="pip").findings == ()


def test_windows_launchers_in_a_pure_wheel_are_recorded_not_counted(tmp_path: Path) -> None:
    wheel = build_wheel(
        "tools", modules={"tools/__init__.py": "", "tools/t64-arm.exe": "MZ\x90\x00" + "\x00" * 60}
    )
    result = _inspect(tmp_path, wheel, owner="tools")
    assert [f.severity for f in result.findings] == ["low"]
    assert result.worst == "low"


def _zip(tmp_path: Path, name: str, members: list[tuple[zipfile.ZipInfo, bytes]]) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info, data)
    return path


def test_archive_refusals_symlink_bomb_duplicate_and_garbage(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("pkg/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = _zip(tmp_path, "sym-1.0-py3-none-any.whl", [(link, b"/etc/passwd")])
    assert _rules(inspect_wheel(path, "sym")) == {"archive.symlink"}
    bomb = zipfile.ZipInfo("pkg/zeros.bin")
    bomb.compress_type = zipfile.ZIP_DEFLATED
    path = _zip(tmp_path, "bomb-1.0-py3-none-any.whl", [(bomb, b"\0" * (RATIO_FLOOR + 1024))])
    assert _rules(inspect_wheel(path, "bomb")) == {"archive.bomb"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pkg/a.py", "1")
        with pytest.warns(UserWarning, match="Duplicate"):
            archive.writestr("pkg/a.py", "2")
    dup = tmp_path / "dup-1.0-py3-none-any.whl"
    dup.write_bytes(buffer.getvalue())
    assert "archive.duplicate" in _rules(inspect_wheel(dup, "dup"))
    garbage = tmp_path / "garbage-1.0-py3-none-any.whl"
    garbage.write_bytes(b"not a zip")
    assert _rules(inspect_wheel(garbage, "garbage")) == {"archive.unreadable"}


def test_record_rows_must_match_both_ways(tmp_path: Path) -> None:
    wheel = build_wheel("rec", modules={"rec/__init__.py": ""})
    data = zipfile.ZipFile(io.BytesIO(wheel.data))
    record = next(n for n in data.namelist() if n.endswith("RECORD"))
    rows = data.read(record).decode() + "rec/ghost.py,sha256=abc,3\n"
    members = [(zipfile.ZipInfo(n), data.read(n)) for n in data.namelist() if n != record]
    members.append((zipfile.ZipInfo(record), rows.encode()))
    members.append((zipfile.ZipInfo("rec/unlisted.py"), b""))
    path = _zip(tmp_path, wheel.filename, members)
    messages = [f.describe() for f in inspect_wheel(path, "rec").findings]
    assert any("ghost.py" in m for m in messages)
    assert any("rec/unlisted.py" in m for m in messages)


VERSION_FILE_IDIOM = (
    "import os\n"
    "here = os.path.dirname(__file__)\n"
    "version_file = os.path.join(here, 'version.py')\n"
    "with open(version_file) as f:\n"
    "    code = compile(f.read(), version_file, 'exec')\n"
    "    exec(code)\n"
)


def test_exec_of_the_packages_own_file_inspects_that_file(tmp_path: Path) -> None:
    """pytest-httpbin 2.1.0's version-file idiom is not an attack; the file it runs is inspected."""
    benign = build_wheel(
        "verfile",
        modules={"verfile/__init__.py": VERSION_FILE_IDIOM, "verfile/version.py": "__version__ = '1'\n"},
    )
    assert _inspect(tmp_path, benign, owner="verfile").findings == ()
    hidden = build_wheel(
        "verfile",
        modules={
            "verfile/__init__.py": VERSION_FILE_IDIOM,
            "verfile/version.py": "import os\nos.system('id')\n",
        },
    )
    [finding] = [f for f in _inspect(tmp_path, hidden, owner="verfile").findings if f.severity == "high"]
    assert (finding.rule, finding.file, finding.line) == ("import-time.process", "verfile/version.py", 2)
    assert "run by verfile/__init__.py:5" in finding.message
    missing = build_wheel("verfile", modules={"verfile/__init__.py": VERSION_FILE_IDIOM})
    assert "import-time.decoded-exec" in _rules(_inspect(tmp_path, missing, owner="verfile"))
    decoded = build_wheel(
        "verfile",
        modules={"verfile/__init__.py": "import base64\nexec(base64.b64decode(open(__file__).read()))\n"},
    )
    assert "import-time.decoded-exec" in _rules(_inspect(tmp_path, decoded, owner="verfile"))
    pth = build_wheel(
        "verfile", modules={"verfile/__init__.py": "", "x.pth": "import os; exec(open(__file__).read())\n"}
    )
    assert "pth.exec" in _rules(_inspect(tmp_path, pth, owner="verfile"))

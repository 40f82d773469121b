"""Import name -> distribution resolution and the wheel-provides check."""

from __future__ import annotations

from pathlib import Path

from packaging.utils import canonicalize_name
import pytest

from pytest_kisys.errors import RequirementError
from pytest_kisys.install.artifacts import wheel_provides
from pytest_kisys.resolve.importmap import CURATED
from pytest_kisys.resolve.names import resolve_import
from pytest_kisys.settings import Settings
from tests.support.pkgindex import build_wheel


SETTINGS = Settings()


@pytest.mark.parametrize(
    ("import_name", "distribution", "kind"),
    [
        ("os", None, "stdlib"),
        ("dataclasses", None, "stdlib"),
        ("cv2", "opencv-python", "mapped"),
        ("sklearn", "scikit-learn", "mapped"),
        ("PIL", "pillow", "mapped"),
        ("bs4", "beautifulsoup4", "mapped"),
        ("serial", "pyserial", "mapped"),
        ("Crypto", "pycryptodome", "mapped"),
        ("docx", "python-docx", "mapped"),
        ("google.cloud.storage", "google-cloud-storage", "mapped"),
        ("google.protobuf.message", "protobuf", "mapped"),
        ("pytest", "pytest", "installed"),
        ("httpx", "httpx", "installed"),
        ("redis", "redis", "popular"),
        ("crypto", None, "unknown"),
        ("kisys_private_helper", None, "unknown"),
    ],
)
# Names none of the test extras install: pyjwt, python-dotenv and boto3 arrive with semgrep and
# the secrets backends, and an installed module resolves as "installed" before any map.
def test_resolution_order(import_name: str, distribution: str | None, kind: str) -> None:
    resolution = resolve_import(import_name, SETTINGS, first_party=())
    assert (resolution.distribution, resolution.kind) == (distribution, kind)


def test_first_party_is_never_looked_up_and_user_map_overrides() -> None:
    assert resolve_import("boto3", SETTINGS, first_party={"boto3"}).kind == "first_party"
    custom = Settings(import_map={"cv2": "opencv-python-headless", "acme": "acme-sdk"})
    assert resolve_import("cv2", custom, ()).distribution == "opencv-python-headless"
    resolved = resolve_import("acme.client", custom, ())
    assert (resolved.distribution, resolved.kind) == ("acme-sdk", "user_mapped")
    unknown = resolve_import("kisys_private_helper", SETTINGS, ())
    assert unknown.candidate == "kisys-private-helper"
    assert unknown.to_json()["import"] == "kisys_private_helper"


@pytest.mark.parametrize("bad", ["", "1abc", "a-b", "os.", "import os", "x;y", "ｙaml"])
def test_invalid_import_names(bad: str) -> None:
    with pytest.raises(RequirementError, match="accepted: a dotted Python identifier"):
        resolve_import(bad, SETTINGS, ())


def test_curated_map_has_enough_real_mismatches() -> None:
    mismatches = [k for k, v in CURATED.items() if canonicalize_name(k) != canonicalize_name(v) or "." in k]
    assert len(mismatches) >= 150
    assert "dataclasses" not in CURATED


def test_wheel_provides(tmp_path: Path) -> None:
    good = build_wheel(
        "opencv-python",
        "4.0",
        modules={"cv2/__init__.py": "", "cv2/data/x.xml": "", "opencv_python.libs/libz.so": ""},
    )
    path = good.write(tmp_path)
    assert wheel_provides(path, "cv2")
    assert wheel_provides(path, "cv2.data")
    assert not wheel_provides(path, "cv3")
    assert not wheel_provides(path, "cv2.missing")
    squat = build_wheel("cv2", "1.0", modules={"evil.py": ""}, top_level=["cv2"]).write(tmp_path)
    assert not wheel_provides(squat, "cv2")  # top_level.txt lies; the file list does not
    ext = build_wheel(
        "fast",
        "1.0",
        modules={"_fast.cpython-311-x86_64-linux-gnu.so": "", "fast.data/purelib/fastpkg/__init__.py": ""},
    )
    ext_path = ext.write(tmp_path)
    assert wheel_provides(ext_path, "_fast")
    assert wheel_provides(ext_path, "fastpkg")
    broken = tmp_path / "broken.whl"
    broken.write_bytes(b"not a zip")
    assert not wheel_provides(broken, "cv2")


def test_wheel_provides_honours_pep794_import_name(tmp_path: Path) -> None:
    wheel = build_wheel("dual", "1.0", modules={"one/__init__.py": "", "two/__init__.py": ""})
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(wheel.data)) as src, zipfile.ZipFile(buffer, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("METADATA"):
                data = data.replace(b"Version: 1.0\n", b"Version: 1.0\nImport-Name: one\n")
            dst.writestr(item, data)
    path = tmp_path / wheel.filename
    path.write_bytes(buffer.getvalue())
    assert wheel_provides(path, "one")
    assert not wheel_provides(path, "two")


def test_verification_record_covers_the_curated_map() -> None:
    from importlib import resources
    import json

    text = resources.files("pytest_kisys.data").joinpath("importmap_verified.json").read_text()
    record = json.loads(text)
    assert record["generator"] == "scripts/verify_importmap.py"
    assert set(record["entries"]) == set(CURATED)
    assert all(entry["distribution"] == CURATED[name] for name, entry in record["entries"].items())
    verified = [name for name, entry in record["entries"].items() if entry["verified"]]
    assert record["verified"] == len(verified) >= 150

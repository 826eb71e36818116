"""The wheel holds every module of core/, plugins/ and datasets/ under its import name."""

from __future__ import annotations

import configparser
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

FOLDERS = {"core": "wlkit", "plugins": "wlkit/plugins", "datasets": "wlkit/datasets"}


def expected_modules() -> set[str]:
    """Every .py file of the three source folders, as its path inside the wheel."""
    wanted = set()
    for folder, target in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            relative = path.relative_to(ROOT / folder).as_posix()
            wanted.add(f"{target}/{relative}")
    return wanted


def missing_from(names: set[str]) -> set[str]:
    return expected_modules() - names


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(out), str(ROOT)], check=True, capture_output=True, timeout=600)
    (wheel,) = out.glob("wlkit-*.whl")
    return wheel


def test_every_module_is_in_the_wheel(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not missing_from(names), f"missing from the wheel: {sorted(missing_from(names))}"


def test_the_check_notices_a_forgotten_subpackage(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    without = {n for n in names if not n.startswith("wlkit/pipeline/")}
    assert any(m.startswith("wlkit/pipeline/") for m in missing_from(without))


def test_every_source_package_is_listed_in_setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    on_disk = set()
    for folder, target in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            sub = init.parent.relative_to(ROOT / folder).as_posix()
            on_disk.add(target.replace("/", ".") + ("" if sub == "." else "." + sub.replace(
                "/", ".")))
    assert on_disk <= listed, f"add to setup.cfg packages: {sorted(on_disk - listed)}"


def test_console_script_and_entry_points(wheel):
    with zipfile.ZipFile(wheel) as zf:
        (ep,) = (n for n in zf.namelist() if n.endswith("entry_points.txt"))
        text = zf.read(ep).decode()
    assert "wlkit = wlkit.cli:main" in text

"""The app as a user installs it: build the wheel, install it into a fresh environment, run it.

Offline: the wheel is built without build isolation (setuptools comes from the test extra),
and the fresh virtual environment installs only the wheel; it reuses the test environment's
packages (PySide6, LangChain, ...) through a ``.pth`` line instead of downloading them. A
``.pth`` path line does not run the test environment's own ``.pth`` hooks, so the editable
install of this checkout stays out: the code that runs is the wheel's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: What a source distribution holds; everything the build needs.
SOURCE_ITEMS = ("pyproject.toml", "README.md", "LICENSE", "gui", "resources")

pytestmark = pytest.mark.timeout(600)


def _source_files(folder: str) -> list[Path]:
    return sorted(
        p.relative_to(ROOT / folder)
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )


def _clean_env(**extra: str) -> dict[str, str]:
    # No PYTHONPATH: nothing may reach the checkout's gui/ but through the installed wheel.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISPLAY")}
    env.update(QT_QPA_PLATFORM="offscreen", **extra)
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(the wheel, the build's output), built from a copy of the sources."""
    src = tmp_path_factory.mktemp("src")
    for item in SOURCE_ITEMS:
        path = ROOT / item
        if path.is_dir():
            shutil.copytree(path, src / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / item)
    out = tmp_path_factory.mktemp("dist")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation"]
    proc = subprocess.run(
        [*pip_wheel, "--wheel-dir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = out.glob("fanout_studio-*.whl")
    return wheel, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def installed(built: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed; returns its ``bin`` folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    bindir = venv / "bin"
    python = bindir / "python"
    new_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(new_site, "test-environment.pth").write_text(
        sysconfig.get_path("purelib") + "\n", encoding="utf-8"
    )
    pip_install = [sys.executable, "-m", "pip", "--python", str(python), "install"]
    proc = subprocess.run(
        [*pip_install, "--no-deps", "--no-index", str(built[0])],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return bindir


def test_the_wheel_holds_every_resource_module_and_the_license(built: tuple[Path, str]) -> None:
    with zipfile.ZipFile(built[0]) as whl:
        names = set(whl.namelist())
        metadata = next(whl.read(n) for n in names if n.endswith(".dist-info/METADATA"))
    missing = [f"resources/{p}" for p in _source_files("resources")]
    missing = [m for m in missing if m.replace("resources/", "gui/_resources/", 1) not in names]
    assert not missing, f"not in the wheel: {missing}"
    modules = [f"gui/{p}" for p in _source_files("gui") if p.suffix == ".py"]
    missing = [m for m in modules if m not in names]
    assert not missing, f"not in the wheel (add the package to [tool.setuptools]): {missing}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert b"\nLicense-Expression: MIT\n" in metadata


def test_building_the_wheel_warns_of_nothing(built: tuple[Path, str]) -> None:
    # setuptools' deprecations (license as a table) and "package would be ignored" notices.
    output = built[1]
    assert "Warning" not in output, output[output.find("Warning") - 500 :][:2000]


def test_the_installed_app_runs_the_seed_demo_offscreen(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [installed / "python", "-c", "import gui.resources as r; print(r.resources_root())"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_clean_env(),
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed.parent)  # the wheel's copy, not the checkout
    proc = subprocess.run(
        [installed / "fanout-studio", "--demo", "seed", "--quit-when-done"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_clean_env(FANOUT_HOME=str(tmp_path / "home")),
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


def test_the_installed_app_tells_its_version(installed: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [installed / "fanout-studio", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_clean_env(FANOUT_HOME=str(tmp_path / "home")),
        timeout=120,
        check=True,
    )
    from importlib.metadata import version

    lines = proc.stdout.splitlines()
    assert lines[0] == f"Fanout Studio {version('fanout-studio')}"
    assert any(line.startswith("langchain-core:") for line in lines)
    assert lines[-1].split(":", 1)[1].strip() == str(tmp_path / "home")


def test_the_installed_app_installs_its_desktop_entry(installed: Path, tmp_path: Path) -> None:
    data = tmp_path / "xdg-data"
    proc = subprocess.run(
        [installed / "fanout-studio", "--install-desktop-entry"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_clean_env(XDG_DATA_HOME=str(data)),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    entry = (data / "applications" / "fanout-studio.desktop").read_text(encoding="utf-8")
    # The entry starts this installation by absolute path, whatever the desktop's PATH is.
    assert f"\nExec={installed / 'fanout-studio'}\n" in entry
    assert (data / "icons/hicolor/scalable/apps/fanout-studio.svg").is_file()
    assert (data / "icons/hicolor/256x256/apps/fanout-studio.png").is_file()

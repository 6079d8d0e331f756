"""``fanout-studio --install-desktop-entry`` and ``--version`` through the command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from gui import desktop
from gui.about import about_info
from gui.desktop import DesktopEntryError, install_desktop_entry
from gui.resources import resource_path

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gui", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


def test_installs_the_entry_and_every_icon_size_under_xdg_data_home(tmp_path: Path) -> None:
    proc = _cli("--install-desktop-entry", XDG_DATA_HOME=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    entry = tmp_path / "applications" / "fanout-studio.desktop"
    assert f"installed {entry}" in proc.stdout
    text = entry.read_text(encoding="utf-8")
    # Started as `python -m gui`: the entry runs the same interpreter, by absolute path.
    assert f"\nExec={sys.executable} -m gui\n" in text
    assert f"\nTryExec={sys.executable}\n" in text
    assert "\nIcon=fanout-studio\n" in text and text.startswith("[Desktop Entry]\n")
    icons = tmp_path / "icons" / "hicolor"
    svg = icons / "scalable" / "apps" / "fanout-studio.svg"
    assert svg.read_bytes() == resource_path("icons/fanout-studio.svg").read_bytes()
    for size in (16, 24, 32, 48, 64, 128, 256):
        png = icons / f"{size}x{size}" / "apps" / "fanout-studio.png"
        assert png.read_bytes() == resource_path(f"icons/fanout-studio-{size}.png").read_bytes()
    # Twice is fine: the second run replaces the files.
    assert _cli("--install-desktop-entry", XDG_DATA_HOME=str(tmp_path)).returncode == 0


def test_a_relative_xdg_data_home_is_ignored_as_the_spec_says(tmp_path: Path) -> None:
    proc = _cli("--install-desktop-entry", XDG_DATA_HOME="relative/share", HOME=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".local/share/applications/fanout-studio.desktop").is_file()
    assert not (ROOT / "relative").exists()


def test_a_folder_that_cannot_be_written_is_one_line_and_exit_1(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    proc = _cli("--install-desktop-entry", XDG_DATA_HOME=str(blocker / "share"))
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("fanout-studio: error: could not write ")
    assert "XDG_DATA_HOME" in lines[0]


def test_other_platforms_are_told_what_to_do_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(desktop.sys, "platform", "darwin")
    with pytest.raises(DesktopEntryError, match="for Linux desktops; on darwin start the app"):
        install_desktop_entry(tmp_path)
    assert not any(tmp_path.iterdir())


def test_exec_quotes_paths_with_spaces_as_the_desktop_entry_spec_says(tmp_path: Path) -> None:
    text = desktop.desktop_entry_text(["/opt/My Apps/bin/python", "-m", "gui"])
    assert '\nExec="/opt/My Apps/bin/python" -m gui\n' in text
    assert "\nTryExec=/opt/My Apps/bin/python\n" in text
    # A backslash: escaped for the quoting, then again as a string value (four in the file).
    text = desktop.desktop_entry_text(["/opt/a\\b/fanout-studio"])
    assert '\nExec="/opt/a\\\\\\\\b/fanout-studio"\n' in text
    assert "\nTryExec=/opt/a\\\\b/fanout-studio\n" in text


def test_version_prints_every_version_and_the_data_folder(fanout_home: Path) -> None:
    proc = _cli("--version")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout == about_info().text()
    assert proc.stdout.startswith(f"Fanout Studio {metadata.version('fanout-studio')}\n")
    for dist, label in (
        ("PySide6-Essentials", "PySide6"),
        ("qasync", "qasync"),
        ("langchain-core", "langchain-core"),
        ("langchain-openai", "langchain-openai"),
    ):
        line = next(x for x in proc.stdout.splitlines() if x.startswith(f"{label}:"))
        assert line.split(":", 1)[1].strip() == metadata.version(dist)
    label, folder = proc.stdout.splitlines()[-1].split(":", 1)
    assert (label, folder.strip()) == ("Data folder", str(fanout_home))
    assert "Python:" in proc.stdout


@pytest.mark.skipif(
    shutil.which("desktop-file-validate") is None,
    reason="desktop-file-validate (Debian: desktop-file-utils) is not installed",
)
def test_the_installed_entry_passes_desktop_file_validate(tmp_path: Path) -> None:
    entry = install_desktop_entry(tmp_path, ["/opt/My Apps/bin/fanout-studio"]).desktop_file
    proc = subprocess.run(
        ["desktop-file-validate", str(entry)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr

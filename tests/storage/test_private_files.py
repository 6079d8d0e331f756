"""The data folder is private: 0700, and every file the app keeps there 0600."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

import pytest

from gui.core.spec import ModelProfile
from gui.storage import paths
from gui.storage.history import History
from gui.storage.logs import setup_logging
from gui.storage.profiles import ProfileStore, SavedProfile
from tests.storage.fake_runs import feed_run, spec

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_files_are_created_private_whatever_the_umask(fanout_home: Path) -> None:
    old = os.umask(0o022)
    try:
        fanout_home.rmdir()
        with History.open() as h:
            feed_run(h.recorder(), spec(), run_id="private")
            assert h.flush()
            db = h.path
            assert mode(db.with_name(db.name + "-wal")) == 0o600
            assert mode(db.with_name(db.name + "-shm")) == 0o600
        ProfileStore().save([SavedProfile("p", ModelProfile())])
        log_path = setup_logging()
        assert log_path is not None
        logging.getLogger("fanout.test").warning("a line")
    finally:
        os.umask(old)
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "baseFilename", "").startswith(str(fanout_home)):
                logging.getLogger().removeHandler(handler)
                handler.close()
    assert mode(fanout_home) == 0o700
    assert mode(db) == 0o600
    assert mode(paths.profiles_path()) == 0o600
    assert mode(log_path) == 0o600 and mode(log_path.parent) == 0o700


def test_loose_modes_are_corrected_on_start_and_other_files_left_alone(fanout_home: Path) -> None:
    with History.open() as h:
        feed_run(h.recorder(), spec(), run_id="r")
    exports = paths.exports_dir()
    (exports / "old.csv").write_text("x")
    (fanout_home / "profiles.json").write_text('{"format": 1, "profiles": []}')
    (fanout_home / "notes-of-the-user.txt").write_text("mine")
    for path in (
        fanout_home / "history.sqlite3",
        exports / "old.csv",
        fanout_home / "profiles.json",
        fanout_home / "notes-of-the-user.txt",
    ):
        path.chmod(0o644)
    fanout_home.chmod(0o755)
    exports.chmod(0o755)

    with History.open() as h:  # every start, the window's and the CLI's
        assert h.notice is None and [r.id for r in h.list_runs()] == ["r"]
    assert mode(fanout_home) == 0o700 and mode(exports) == 0o700
    assert mode(fanout_home / "history.sqlite3") == 0o600
    assert mode(exports / "old.csv") == 0o600
    assert mode(fanout_home / "profiles.json") == 0o600
    assert mode(fanout_home / "notes-of-the-user.txt") == 0o644  # not the app's file


def test_a_history_file_of_ours_with_no_permission_is_set_back_and_kept(
    fanout_home: Path,
) -> None:
    with History.open() as h:
        feed_run(h.recorder(), spec(), run_id="kept")
    (fanout_home / "history.sqlite3").chmod(0)
    with History.open() as h:
        assert h.notice is None and [r.id for r in h.list_runs()] == ["kept"]
    assert not list(fanout_home.glob("*.corrupt-*"))


@pytest.mark.parametrize(
    "name",
    [
        "history.sqlite3",
        "history.sqlite3-wal",
        "history.sqlite3-shm",
        "profiles.json",
        "x.csv",
        # Files of features merged after issue 10: refused even before the app made them.
        "response-cache.sqlite3",
        "response-cache.sqlite3-wal",
        "prices.json",
        "workspace.json",
    ],
)
def test_exports_may_not_land_on_the_apps_own_files(fanout_home: Path, name: str) -> None:
    (fanout_home / "x.csv").write_text("a file the app did not export")
    reason = paths.protected_reason(fanout_home / name)
    assert reason is not None and str(fanout_home / name) in reason
    assert paths.protected_reason(paths.exports_dir() / "run.csv") is None
    assert paths.protected_reason(fanout_home.parent / "elsewhere.csv") is None
    assert paths.protected_reason(fanout_home / "new-report.md") is None  # nothing to lose
    paths.record_export(fanout_home / "x.csv")  # once the app exported it there, again is fine
    assert paths.protected_reason(fanout_home / "x.csv") is None
    if name != "x.csv":
        assert paths.protected_reason(fanout_home / name) is not None


def test_a_link_to_the_database_is_the_database(fanout_home: Path, tmp_path: Path) -> None:
    with History.open():
        pass
    link = tmp_path / "innocent.json"
    link.symlink_to(fanout_home / "history.sqlite3")
    hard = tmp_path / "hard.json"
    os.link(fanout_home / "history.sqlite3", hard)
    for path in (link, hard):
        reason = paths.protected_reason(path)
        assert reason is not None and "history.sqlite3" in reason


def test_the_protected_cache_file_is_the_one_the_cache_opens(fanout_home: Path) -> None:
    from gui.providers.cache import CACHE_FILE_NAME

    assert paths.protected_reason(fanout_home / CACHE_FILE_NAME) is not None


def _loose(root: Path) -> list[str]:
    """Every folder under ``root`` that is not 0700 and every file that is not 0600."""
    out = []
    for path in [root, *root.rglob("*")]:
        want = 0o700 if path.is_dir() else 0o600
        if mode(path) != want:
            out.append(f"{path.relative_to(root)} {oct(mode(path))}")
    return out


def test_a_batch_run_leaves_only_private_files_in_the_data_folder(
    fanout_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gui.cli import main

    old = os.umask(0o022)
    try:
        code = main(
            ["run", "--executor", "batch", "--wait", "--poll", "0.05", "--sim-batch-delay",
             "0.1", "-t", "a", "-t", "b", "--cache", "-q"]
        )  # fmt: skip
    finally:
        os.umask(old)
    assert code == 0, capsys.readouterr()
    assert list((fanout_home / "batches").rglob("*.json*")), "the simulated provider kept no file"
    assert _loose(fanout_home) == []


def test_loose_batch_and_cache_files_are_corrected_on_start(fanout_home: Path) -> None:
    nested = fanout_home / "batches" / "simulated" / "files"
    nested.mkdir(parents=True, mode=0o755)
    (nested / "file-sim-1.jsonl").write_text("{}")
    (fanout_home / "response-cache.sqlite3").write_text("x")
    (fanout_home / "workspace.json").write_text("{}")
    for path in [fanout_home / "batches", *(fanout_home / "batches").rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    for name in ("response-cache.sqlite3", "workspace.json"):
        (fanout_home / name).chmod(0o644)
    paths.secure()
    assert _loose(fanout_home) == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o277], ids=["022", "077", "277"])
def test_a_data_folder_removed_while_the_app_runs_is_made_again_private(
    fanout_home: Path, tmp_path: Path, umask: int
) -> None:
    """Every file the app makes after its data folder vanished (the window's autosave and
    log, the response cache's first answer, a batch's files, the history of the next run,
    an export) lands in a folder made again 0700, as a 0600 file, whatever the umask."""
    import shutil

    from gui.cli import _write_new_file
    from gui.core.batch import BatchLimits, write_request_files
    from gui.providers.cache import CACHE_FILE_NAME, SqliteResponseCache, generations_of
    from gui.storage.export import save
    from gui.storage.workspace import Workspace, WorkspaceStore

    log_path = setup_logging()
    assert log_path is not None
    handler = next(
        h for h in logging.getLogger().handlers if getattr(h, "baseFilename", "") == str(log_path)
    )
    workspace = WorkspaceStore()
    workspace.save(Workspace())
    cache = SqliteResponseCache(fanout_home / CACHE_FILE_NAME)
    old = os.umask(umask)
    try:
        shutil.rmtree(fanout_home)
        workspace.save(Workspace())  # the window's autosave
        assert isinstance(handler, logging.handlers.RotatingFileHandler)
        handler.doRollover()  # the log's next file, in a logs folder that is gone
        logging.getLogger("fanout.test").warning("a line after the folder went")
        answer = generations_of("hi", finish_reason="stop", output_tokens=1, latency=1, ttft=1)
        cache.update("prompt", "model", answer)
        db = fanout_home / CACHE_FILE_NAME
        assert mode(db.with_name(db.name + "-wal")) == 0o600  # while the cache is open
        assert mode(db.with_name(db.name + "-shm")) == 0o600
        batches = paths.batches_dir()
        write_request_files(spec(), batches / "work" / "r-requests", BatchLimits())
        with History.open() as h:
            feed_run(h.recorder(), spec(), run_id="after")
            assert h.flush()
            stored = h.get_run("after")
        assert stored is not None
        save(stored, "csv", paths.exports_dir() / "after.csv")
        unsaved = _write_new_file(tmp_path, "fanout-unsaved-x", ".json", "{}")
    finally:
        os.umask(old)
        cache.close()
        logging.getLogger().removeHandler(handler)
        handler.close()
    assert _loose(fanout_home) == []
    assert {p.name for p in fanout_home.iterdir()} >= {
        "workspace.json",
        "logs",
        "batches",
        "history.sqlite3",
        "exports",
        CACHE_FILE_NAME,
    }
    assert unsaved is not None and mode(unsaved) == 0o600

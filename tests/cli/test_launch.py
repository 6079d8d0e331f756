"""The launch's fast path: the window's options alone open the window without the whole CLI;
anything else (a command, help, a bad value) goes to the CLI, which explains it."""

from __future__ import annotations

import pytest

from gui.__main__ import main
from gui.cli import build_parser
from gui.launch import window_launch


def test_the_window_options_alone_take_the_fast_path() -> None:
    args = window_launch(["--demo", "seed", "--quit-after", "2.5", "--theme", "dark"])
    assert args is not None and args.command is None
    assert (args.demo, args.quit_after, args.theme) == ("seed", 2.5, "dark")
    assert not args.print_stats and not args.plain_runtime and not args.quit_when_done
    assert window_launch([]) is not None


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "-t", "cats"],
        ["history"],
        ["--help"],
        ["--version"],
        ["--quit-after", "0"],
        ["--theme", "blue"],
        ["--demo", "no-such-demo"],
        ["--quit-a", "2"],  # an abbreviation: the whole parser decides what it means
    ],
)
def test_anything_else_goes_to_the_whole_command_line(argv: list[str]) -> None:
    assert window_launch(argv) is None


def test_a_bad_window_option_is_explained_by_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--quit-after", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--quit-after" in err and "greater than 0" in err


def test_the_command_line_help_still_lists_the_window_options() -> None:
    text = build_parser().format_help()
    for option in ("--demo", "--quit-when-done", "--quit-after", "--theme", "--print-stats"):
        assert option in text
    assert "--plain-runtime" in text

"""A model card too narrow for its name or its description keeps what tells the models apart.

The stress demo's card at its default size read "simulated …1 · ~3.3 s": the cut in the
middle hid the model. Its subtitle now drops what every simulated card shares first, and a
title loses the start it shares with the other cards' ("…tps-2"), never the part that
differs. The full text stays in the tooltip.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from gui.core.spec import ModelProfile, SimSettings
from gui.qt.views.models_panel import ModelCard, ModelsPanel, subtitle_forms
from gui.qt.widgets.elided_label import ElidedLabel, distinct_span

STRESS = ModelProfile(
    model="sim-1",
    label="sim-100tps",
    sim=SimSettings(ttft=0.3, tokens_per_second=100, output_tokens=300, jitter=0.05),
)


def live_cards(panel: ModelsPanel) -> list[ModelCard]:
    """The panel's cards (those it removed are deleted first)."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return panel.findChildren(ModelCard)


def fit(label: ElidedLabel, text: str) -> None:
    """Make ``label`` exactly wide enough for ``text``."""
    margins = label.contentsMargins()
    label.setFixedWidth(
        label.fontMetrics().horizontalAdvance(text) + margins.left() + margins.right()
    )
    QApplication.processEvents()


@pytest.mark.parametrize(
    ("text", "others", "span"),
    [
        ("sim-100tps-2", ["sim-100tps-1", "sim-100tps-3"], (11, 12)),
        ("gpt-4o-mini", ["gpt-4o"], (6, 11)),  # "-mini" tells it apart
        ("llama3:8b-q4", ["llama3:8b-q8"], (11, 12)),
        ("sim-100tps", [], (0, 10)),  # alone: all of it
        ("gpt-4o", ["gpt-4o-mini"], (0, 6)),  # another's start: all of it
        ("same", ["same"], (0, 4)),
    ],
)
def test_the_distinct_part_of_a_name_is_what_the_others_do_not_share(
    text: str, others: list[str], span: tuple[int, int]
) -> None:
    assert distinct_span(text, others) == span


def test_the_subtitle_gives_up_the_kind_then_the_figures_never_the_model(qtbot: QtBot) -> None:
    host = QWidget()  # in a window, as in the Models panel
    qtbot.addWidget(host)
    card = ModelCard(STRESS, host)
    host.show()
    subtitle = card.subtitle_label()
    assert subtitle.full_text() == "simulated · sim-1 · ~3.3 s"
    assert "Simulated model sim-1" in subtitle.toolTip()  # the whole story on hover

    fit(subtitle, "simulated · sim-1 · ~3.3 s")
    assert subtitle.text() == "simulated · sim-1 · ~3.3 s"
    fit(subtitle, "sim-1 · ~3.3 s")  # too narrow for the whole line
    assert subtitle.text() == "sim-1 · ~3.3 s"
    fit(subtitle, "sim-1 · ~3")
    assert subtitle.text() == "sim-1"
    assert subtitle.full_text() == "simulated · sim-1 · ~3.3 s"


def test_subtitle_forms_keep_the_model_first() -> None:
    assert subtitle_forms(["sim-1", "~3.3 s", "3 columns"]) == [
        "sim-1 · ~3.3 s · 3 columns",
        "sim-1 · ~3.3 s",
        "sim-1",
    ]
    # A card titled by its model does not say it twice: its timing or host is what differs.
    assert subtitle_forms(["sim-fast", "~1.0 s"], titled_by_model=True) == [
        "sim-fast · ~1.0 s",
        "~1.0 s",
    ]
    assert subtitle_forms(["gpt-4o", "localhost:11434"], titled_by_model=True) == [
        "gpt-4o · localhost:11434",
        "localhost:11434",
    ]


def test_the_default_cards_narrow_subtitles_tell_their_speeds_apart(qtbot: QtBot) -> None:
    panel = ModelsPanel()  # a new user's two simulated models, titled by their model
    qtbot.addWidget(panel)
    panel.show()
    for card in live_cards(panel):
        subtitle = card.subtitle_label()
        fit(subtitle, "~1.0 s…")
        assert subtitle.text() == f"~{card.profile().sim.latency:.1f} s"


def test_narrow_titles_keep_the_part_that_tells_the_cards_apart(qtbot: QtBot) -> None:
    panel = ModelsPanel()
    qtbot.addWidget(panel)
    panel.show()
    names = [f"sim-100tps-{n}" for n in range(1, 5)]
    panel.set_profiles([ModelProfile(model="sim-1", label=name) for name in names])
    cards = live_cards(panel)
    assert sorted(card.title() for card in cards) == names
    for card in cards:
        title = card.title_label()
        fit(title, "…100tps")  # narrower than any whole name
        shown = title.text()
        assert shown.startswith("…") and shown.endswith(card.title()[-2:])  # "…tps-3"
        assert title.toolTip() == card.title()

    # Renamed so that the names differ at their start: the cut moves to the shared end.
    panel.set_profiles(
        [ModelProfile(model="sim-1", label=f"{n}-sim-100tps") for n in ("one", "two")]
    )
    for card in live_cards(panel):
        title = card.title_label()
        fit(title, "two-sim…")
        assert title.text().startswith(card.title()[:3]) and title.text().endswith("…")


def test_a_lone_cards_title_is_cut_in_the_middle_as_before(qtbot: QtBot) -> None:
    panel = ModelsPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_profiles([STRESS])
    (card,) = live_cards(panel)
    title = card.title_label()
    fit(title, "sim-10")
    # Nothing to tell it apart from: both ends stay ("sim…tps").
    assert title.text().startswith("s") and title.text().endswith("s") and "…" in title.text()

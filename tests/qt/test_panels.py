"""The models panel and the concurrency panel, told as the user's stories."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFrame, QLabel, QWidget
from pytestqt.qtbot import QtBot

from gui.core import keys
from gui.core.spec import ErrorPolicy, Limits, ModelProfile, ProviderKind, SimSettings, Strategy
from gui.qt.views.concurrency_panel import ConcurrencyPanel
from gui.qt.views.models_panel import ModelsPanel


@pytest.fixture
def models(qtbot: QtBot) -> ModelsPanel:
    panel = ModelsPanel()
    qtbot.addWidget(panel)
    panel.show()
    return panel


@pytest.fixture
def concurrency(qtbot: QtBot) -> ConcurrencyPanel:
    panel = ConcurrencyPanel()
    qtbot.addWidget(panel)
    panel.show()
    return panel


def cards(panel: ModelsPanel) -> list[QFrame]:
    """Live model cards in column order (removed cards are deleted first)."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return panel.findChildren(QFrame, "modelCard")


def shown(widget: QWidget) -> bool:
    return not widget.isHidden()


# -- models panel -------------------------------------------------------------------------


def test_a_new_user_sees_two_simulated_models_of_different_speed(models: ModelsPanel) -> None:
    profiles = models.profiles()
    assert [p.display_name for p in profiles] == ["sim-fast", "sim-slow"]
    assert all(p.provider is ProviderKind.SIMULATED for p in profiles)
    fast, slow = profiles
    assert fast.sim.latency == pytest.approx(1.0)
    assert slow.sim.latency == pytest.approx(2.0)
    assert slow.sim.output_tokens == 80
    assert models.issue() is None
    assert len(cards(models)) == 2


def test_adding_the_ollama_preset_adds_a_column_on_localhost(
    models: ModelsPanel, qtbot: QtBot
) -> None:
    action = next(a for a in models.findChildren(QAction) if a.text().startswith("Ollama"))
    with qtbot.waitSignal(models.profiles_changed, timeout=30_000):
        action.trigger()

    added = models.profiles()[-1]
    assert added.provider is ProviderKind.OPENAI
    assert added.base_url == "http://localhost:11434/v1"
    card = cards(models)[-1]
    assert shown(card.form)  # opens for editing, inline
    assert card.key_status_label.text() in (
        "no key in $OPENAI_API_KEY (fine for local servers)",
        "no key sent: $OPENAI_API_KEY is a key for api.openai.com, not for localhost"
        " (name another variable above, or save a key with a profile)",
    )


def test_the_openai_preset_has_no_base_url(models: ModelsPanel) -> None:
    models.add_preset("openai")
    assert models.profiles()[-1].base_url is None


def test_key_status_says_whether_the_variable_is_set(
    models: ModelsPanel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FANOUT_TEST_KEY", raising=False)
    models.add_preset("ollama")
    card = cards(models)[-1]
    card.key_env_edit.setText("FANOUT_TEST_KEY")
    assert card.key_status_label.text() == "no key in $FANOUT_TEST_KEY (fine for local servers)"

    monkeypatch.setenv("FANOUT_TEST_KEY", "sk-test")
    card.key_env_edit.setText("FANOUT_TEST_KEY ")  # re-read on edit
    assert card.key_status_label.text() == "key found in $FANOUT_TEST_KEY"
    assert "sk-test" not in card.key_status_label.text()


def test_the_key_status_says_the_default_key_is_not_sent_to_another_host(
    models: ModelsPanel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys, "_allowed_envs", set())  # no --api-key-env in this process
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-only-123")
    monkeypatch.setenv("FANOUT_LAN_KEY", "sk-lan-456")
    models.add_preset("ollama")
    card = cards(models)[-1]
    card.base_url_edit.setText("http://10.1.2.3:8000/v1")
    status = card.key_status_label.text()
    assert status.startswith("no key sent: $OPENAI_API_KEY is a key for api.openai.com")
    assert "10.1.2.3" in status and "sk-openai" not in status
    assert (
        keys.api_key_for(models.profiles()[-1], keys.HeldKeys()) is None
    )  # what the run does, said above
    assert not shown(card.warning_label)  # no key travels, so plain http:// risks none

    card.key_env_edit.setText("FANOUT_LAN_KEY")  # the user names a variable for this host
    assert card.key_status_label.text() == "key found in $FANOUT_LAN_KEY"
    assert keys.api_key_for(models.profiles()[-1], keys.HeldKeys()) == "sk-lan-456"
    assert shown(card.warning_label) and "$FANOUT_LAN_KEY" in card.warning_label.text()

    models.add_preset("openai")  # api.openai.com is where the default key belongs
    openai_card = cards(models)[-1]
    assert openai_card.key_status_label.text() == "key found in $OPENAI_API_KEY"
    assert keys.api_key_for(models.profiles()[-1], keys.HeldKeys()) == "sk-openai-only-123"


def test_an_empty_model_name_shows_an_inline_issue_and_blocks_the_run(
    models: ModelsPanel, qtbot: QtBot
) -> None:
    card = cards(models)[0]
    with qtbot.waitSignal(models.profiles_changed, timeout=30_000):
        card.model_edit.clear()

    issue = card.findChild(QLabel, "inlineIssue")
    assert shown(issue) and "Model name is empty" in issue.text()
    assert models.issue() is not None and "Model name is empty" in models.issue()
    assert [p.model for p in models.profiles()] == ["sim-slow"]

    qtbot.keyClicks(card.model_edit, "sim-fixed")
    assert not shown(issue)
    assert models.issue() is None


def test_a_base_url_without_scheme_is_refused_with_the_reason(models: ModelsPanel) -> None:
    models.add_preset("ollama")
    card = cards(models)[-1]
    card.base_url_edit.setText("localhost:11434/v1")

    issue = card.findChild(QLabel, "inlineIssue")
    assert shown(issue)
    assert "is not an http(s) URL" in issue.text()
    assert "is not an http(s) URL" in (models.issue() or "")
    assert len(models.profiles()) == 2


def test_a_key_sent_over_plain_http_to_another_machine_is_warned_about(
    models: ModelsPanel,
) -> None:
    models.add_preset("vllm")
    card = cards(models)[-1]
    warning = card.findChild(QLabel, "inlineWarning")
    assert not shown(warning)  # loopback: nothing leaves the machine

    card.base_url_edit.setText("http://192.168.1.20:8000/v1")
    assert shown(warning) and "clear text" in warning.text()
    assert models.issue() is None  # a warning, not a block

    card.base_url_edit.setText("https://gpu-box.example:8000/v1")
    assert not shown(warning)


def test_latency_sets_time_to_first_token_and_pace(models: ModelsPanel) -> None:
    card = cards(models)[0]
    card.latency_spin.setValue(3.0)
    sim = models.profiles()[0].sim
    assert sim.latency == pytest.approx(3.0, rel=0.01)
    assert card.ttft_spin.value() == pytest.approx(sim.ttft)


def test_provider_fields_follow_the_provider(models: ModelsPanel) -> None:
    card = cards(models)[0]
    card.set_expanded(True)
    assert shown(card.latency_spin) and not shown(card.base_url_edit)
    combo = card.findChild(QComboBox)
    combo.setCurrentIndex(combo.findData(ProviderKind.OPENAI))
    assert shown(card.base_url_edit) and not shown(card.latency_spin)
    assert models.profiles()[0].provider is ProviderKind.OPENAI


def test_remove_and_set_profiles(models: ModelsPanel, qtbot: QtBot) -> None:
    with qtbot.waitSignal(models.profiles_changed, timeout=30_000):
        cards(models)[0].remove_button.click()
    assert [p.model for p in models.profiles()] == ["sim-slow"]

    cards(models)[0].remove_button.click()
    assert models.profiles() == []
    assert "Add at least one model" in (models.issue() or "")

    wanted = [
        ModelProfile(model="a", temperature=0.7, max_tokens=100, sim=SimSettings(seed=3)),
        ModelProfile(
            model="b",
            provider=ProviderKind.OPENAI,
            base_url="http://localhost:1234/v1",
            api_key_env="LMSTUDIO_KEY",
        ),
    ]
    with qtbot.assertNotEmitted(models.profiles_changed):
        models.set_profiles(wanted)
    assert models.profiles() == wanted


def test_set_profiles_reuses_the_cards_there_and_they_forget_the_old_column(
    models: ModelsPanel, qtbot: QtBot
) -> None:
    """A demo's four columns over the window's two: the two cards are reused (building a card
    costs ~5 ms of the GUI thread) and show the new profiles as new cards would."""
    first, second = cards(models)
    first.test_result_label.setText("ok: 3 models")  # as a connection test leaves it
    first.model_edit.setToolTip("Models the server lists: a, b, c")
    wanted = [
        ModelProfile(model=f"sim-{i}", sim=SimSettings(seed=i, tokens_per_second=100))
        for i in range(1, 5)
    ]
    with qtbot.assertNotEmitted(models.profiles_changed):
        models.set_profiles(wanted)
    assert models.profiles() == wanted
    now = cards(models)
    assert now[:2] == [first, second] and len(now) == 4
    assert first.test_result_label.text() == ""
    assert first.model_edit.toolTip() == "Model name sent to the server"
    assert first.model_edit.completer() is None
    # Fewer columns than cards: the extra cards go.
    models.set_profiles(wanted[:1])
    assert models.profiles() == wanted[:1] and cards(models) == [first]


# -- concurrency panel --------------------------------------------------------------------


def test_limits_round_trip(concurrency: ConcurrencyPanel) -> None:
    assert concurrency.limits() == Limits()
    wanted = Limits(
        max_concurrency=32,
        requests_per_second=2.5,
        ttft_timeout=12.0,
        idle_timeout=7.5,
        total_timeout=300.0,
        retries=4,
        backoff_base=0.25,
        error_policy=ErrorPolicy.FAIL_FAST,
        max_answer_chars=50_000,
    )
    concurrency.set_limits(wanted)
    assert concurrency.limits() == wanted


def test_typing_an_answer_size_cap_emits_it_and_the_limits_carry_it(
    concurrency: ConcurrencyPanel, qtbot: QtBot
) -> None:
    spin = concurrency.findChild(QWidget, "answerCapSpin")
    seen: list[dict[str, object]] = []
    concurrency.limits_changed.connect(seen.append)

    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "250000")
    qtbot.keyClick(spin, Qt.Key.Key_Return)

    assert seen == [{"max_answer_chars": 250_000}]
    assert concurrency.limits().max_answer_chars == 250_000


def test_typing_a_max_concurrency_emits_just_that_field_once(
    concurrency: ConcurrencyPanel, qtbot: QtBot
) -> None:
    spin = concurrency.findChild(QWidget, "maxConcurrencySpin")
    seen: list[dict[str, object]] = []
    concurrency.limits_changed.connect(seen.append)

    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "12")
    qtbot.keyClick(spin, Qt.Key.Key_Return)

    assert seen == [{"max_concurrency": 12}]
    assert concurrency.limits().max_concurrency == 12


def test_requests_per_second_zero_means_no_cap(concurrency: ConcurrencyPanel, qtbot: QtBot) -> None:
    spin = concurrency.findChild(QWidget, "rpsSpin")
    concurrency.set_limits(Limits(requests_per_second=5.0))
    with qtbot.waitSignal(concurrency.limits_changed, timeout=30_000) as blocker:
        spin.setValue(0)
    assert blocker.args == [{"requests_per_second": None}]
    assert spin.text() == "no cap"
    assert concurrency.limits().requests_per_second is None


def test_error_policy_change_is_reported(concurrency: ConcurrencyPanel, qtbot: QtBot) -> None:
    seen: list[dict[str, object]] = []
    concurrency.limits_changed.connect(seen.append)
    concurrency.findChild(QWidget, "policy_fail_fast").click()
    assert seen == [{"error_policy": ErrorPolicy.FAIL_FAST}]


def test_strategy_is_frozen_during_a_run_but_limits_stay_editable(
    concurrency: ConcurrencyPanel, qtbot: QtBot
) -> None:
    combo = concurrency.findChild(QComboBox, "strategyCombo")
    with qtbot.waitSignal(concurrency.strategy_changed, timeout=30_000) as blocker:
        combo.setCurrentIndex(combo.findData(Strategy.ABATCH))
    assert blocker.args == [Strategy.ABATCH]
    assert "max_concurrency" in combo.itemData(
        combo.findData(Strategy.ABATCH), Qt.ItemDataRole.ToolTipRole
    )

    concurrency.set_run_active(True)
    assert not combo.isEnabled()
    for name in (
        "maxConcurrencySpin",
        "rpsSpin",
        "ttftSpin",
        "idleSpin",
        "totalTimeoutSpin",
        "retriesSpin",
        "answerCapSpin",
    ):
        assert concurrency.findChild(QWidget, name).isEnabled()
    assert "strategy is fixed" in concurrency.findChild(QLabel, "concurrencyHint").text()

    concurrency.set_run_active(False)
    assert combo.isEnabled()
    assert concurrency.strategy() is Strategy.ABATCH


def test_the_three_timeouts_show_and_report_on_their_own(
    concurrency: ConcurrencyPanel, qtbot: QtBot
) -> None:
    concurrency.set_limits(Limits(ttft_timeout=90, idle_timeout=20, total_timeout=None))
    total = concurrency.findChild(QDoubleSpinBox, "totalTimeoutSpin")
    assert total.text() == "off"
    shown = concurrency.limits()
    assert (shown.ttft_timeout, shown.idle_timeout, shown.total_timeout) == (90, 20, None)

    seen: list[dict[str, object]] = []
    concurrency.limits_changed.connect(seen.append)
    concurrency.findChild(QDoubleSpinBox, "idleSpin").setValue(45)
    total.setValue(600)
    total.setValue(0)
    assert seen == [{"idle_timeout": 45}, {"total_timeout": 600}, {"total_timeout": None}]
    assert concurrency.limits().idle_timeout == 45


def test_gauges_show_the_numbers(concurrency: ConcurrencyPanel) -> None:
    concurrency.set_gauges(in_flight=8, waiting=30, done=10, failed=1, cancelled=1, total=50)

    def number(key: str) -> str:
        return concurrency.findChild(QLabel, f"gauge_{key}").text()

    assert [number(k) for k in ("in_flight", "waiting", "done", "failed", "cancelled")] == [
        "8",
        "30",
        "10",
        "1",
        "1",
    ]
    assert concurrency.findChild(QLabel, "gaugeTotal").text() == "of 50 cells"
    assert concurrency.findChild(QWidget, "gaugeBar_done").fraction == pytest.approx(0.2)
    concurrency.grab()  # paints the bars without error

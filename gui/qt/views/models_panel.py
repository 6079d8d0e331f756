"""The model profiles of a run, one card per grid column, edited inline.

Each card shows label, provider and model and unfolds into a form; nothing here opens a
modal dialog, because a nested event loop (``exec()``) starves the qasync loop's tasks. The
"Add model" menu is shown with ``QMenu.popup`` for the same reason (a QToolButton's own
menu handling calls ``QMenu.exec``). Profiles are validated with
:meth:`gui.core.spec.ModelProfile.validate`, whose message appears under the card.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from urllib.parse import urlparse, urlsplit

import shiboken6
from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.core.columns import ParamSweep, parse_values, values_text
from gui.core.errors import SpecError
from gui.core.keys import DEFAULT_KEY_ENV, HeldKeys, clear_text_warning, key_status, key_withheld
from gui.core.ports import KeySource
from gui.core.runner import Phase
from gui.core.spec import ModelProfile, ProviderKind, SimSettings
from gui.core.tasks import TaskOwner
from gui.qt.looks import ISSUE_RED, set_text_color
from gui.qt.resources import status_colors
from gui.qt.widgets.cell_pane import ElidedLabel
from gui.qt.widgets.vertical_scroll import VerticalScrollArea
from gui.storage.profiles import PROVIDER_PRESETS, SavedProfile

FAILURE_KINDS = SimSettings.FAILURE_KINDS


#: The sweep fields of a model card: parameter, label, example (issue 15).
SWEEP_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("temperature", "Temperatures", "0, 0.7, 1.2"),
    ("top_p", "top_p", "0.9 or 0.5, 1"),
    ("max_tokens", "Max tokens sweep", "256, 1024"),
    ("seed", "Seeds", "1, 2, 3"),
)


#: The model field's tooltip (a connection test replaces it with the server's model list).
_MODEL_TOOLTIP = "Model name sent to the server"


def default_profiles() -> list[ModelProfile]:
    """Two simulated models of different speed, so a new user sees a comparison at once."""
    return [
        ModelProfile(model="sim-fast", sim=SimSettings.with_latency(1.0)),
        ModelProfile(model="sim-slow", sim=SimSettings.with_latency(2.0, output_tokens=80)),
    ]


def card_key_status(profile: ModelProfile, keys: KeySource) -> str:
    """What the card says about the key the run will send: :func:`gui.core.keys.key_status`,
    unless :func:`gui.core.keys.key_withheld` (the rule the run itself follows) keeps the
    default variable's key from this base URL, in which case no key is sent and the card
    says so, with what to do instead."""
    if not key_withheld(profile, keys):
        return key_status(profile, keys)
    try:
        host = urlsplit(profile.base_url or "").hostname or profile.base_url
    except ValueError:
        host = profile.base_url
    return (
        f"no key sent: ${profile.api_key_env} is a key for api.openai.com, not for {host}"
        " (name another variable above, or save a key with a profile)"
    )


def subtitle_forms(parts: list[str], *, titled_by_model: bool = False) -> list[str]:
    """The shorter forms of a card's subtitle, shown when the whole line does not fit: its
    parts (model, then host or timing, then columns) without the kind, then fewer of them
    from the end, down to the model alone. What tells two cards apart (the model, its host
    or timing) outlasts what they share ("simulated"), which a cut in the middle hid
    instead ("simulated …1 · ~3.3 s").

    ``titled_by_model``: the card's title is the model (no label of its own), so the short
    forms leave the model out rather than say it twice ("~1.0 s" under "sim-fast").
    """
    if titled_by_model and len(parts) > 1:
        rest = parts[1:]
        return [" · ".join(parts)] + [" · ".join(rest[:n]) for n in range(len(rest), 0, -1)]
    return [" · ".join(parts[:count]) for count in range(len(parts), 0, -1)]


def _spin_value(box: QDoubleSpinBox, precise: float | None) -> float:
    """The box's value, or ``precise`` when the box shows ``precise`` rounded.

    A spin box rounds to its decimals; without this, loading a profile and reading it back
    would change e.g. 47.0588 tokens/s into 47.06 although the user edited nothing.
    """
    value = box.value()
    if precise is not None and value == round(precise, box.decimals()):
        return precise
    return value


def _spin(
    parent: QWidget, lo: float, hi: float, step: float, decimals: int = 2, suffix: str = ""
) -> QDoubleSpinBox:
    box = QDoubleSpinBox(parent)
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setSuffix(suffix)
    box.setKeyboardTracking(False)
    return box


class ModelCard(QFrame):
    """One profile: a compact header (title, provider and model, edit, remove) and a form.

    Args:
        profile: The profile shown.
        parent: The parent widget.
        editor_only: The saved-profiles editor: always open, no column to remove.
        keys: Where the profile's saved key is looked up, for its status line and "Test
            connection" (the app's key service); default: none saved.
    """

    changed = Signal()
    remove_requested = Signal(object)
    """Carries the card itself, so the panel knows which one without ``sender()``."""
    save_requested = Signal(object)
    """The user wants this column kept as a named profile; carries the profile."""

    def __init__(
        self,
        profile: ModelProfile,
        parent: QWidget | None = None,
        *,
        editor_only: bool = False,
        keys: KeySource | None = None,
    ) -> None:
        super().__init__(parent)
        self._keys: KeySource = keys if keys is not None else HeldKeys()
        self.setObjectName("modelCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._base = profile  # keeps the fields without a control (sim seed, retry_after)
        self._loading = False
        self._tasks = TaskOwner()
        self._build_ui()
        self._load(profile)
        if editor_only:  # the saved-profiles editor: always open, no column to remove
            self._column.hide()
            self.edit_button.hide()
            self.remove_button.hide()
            self._form_layout.setRowVisible(self.save_button, False)
            self.set_expanded(True)

    # -- construction -------------------------------------------------------------------

    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 6, 8, 6)
        root.setSpacing(4)

        header = QHBoxLayout()
        header.setSpacing(6)
        self._column = QLabel(self)
        self._column.setObjectName("modelCardColumn")
        self._column.setEnabled(False)  # muted
        header.addWidget(self._column)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        # Elided to the width left by the buttons (full text in the tooltip): a long name or
        # URL never widens the panel nor pushes Edit and Remove out of sight.
        self._title = ElidedLabel("", self)
        self._title.setObjectName("modelCardTitle")
        font = self._title.font()
        font.setBold(True)
        self._title.setFont(font)
        self._title.setMinimumWidth(self._title.fontMetrics().horizontalAdvance("Mmm…"))
        self._subtitle = ElidedLabel("", self)
        self._subtitle.setObjectName("modelCardSubtitle")
        self._subtitle.setEnabled(False)  # muted
        titles.addWidget(self._title)
        titles.addWidget(self._subtitle)
        header.addLayout(titles, 1)
        self.edit_button = QToolButton(self)
        self.edit_button.setObjectName("editButton")
        self.edit_button.setText("Edit")
        self.edit_button.setCheckable(True)
        self.edit_button.setToolTip("Show or hide this model's settings")
        self.edit_button.toggled.connect(self._on_edit_button_toggled)
        self.remove_button = QToolButton(self)
        self.remove_button.setObjectName("removeButton")
        self.remove_button.setText("Remove")
        self.remove_button.setToolTip("Remove this model (its column disappears from the grid)")
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        header.addWidget(self.edit_button)
        header.addWidget(self.remove_button)
        root.addLayout(header)

        # Outside the fold on purpose: a problem stays visible while the form is closed.
        self.issue_label = QLabel(self)
        self.issue_label.setObjectName("inlineIssue")
        set_text_color(self.issue_label, ISSUE_RED)
        self.issue_label.setWordWrap(True)
        self.issue_label.hide()
        root.addWidget(self.issue_label)
        self.warning_label = QLabel(self)
        self.warning_label.setObjectName("inlineWarning")
        self.warning_label.setWordWrap(True)
        _bg, warn = status_colors(Phase.RETRYING)
        self.warning_label.setStyleSheet(f"color: {warn.name()};")
        self.warning_label.hide()
        root.addWidget(self.warning_label)

        self.form = QWidget(self)
        self.form.setObjectName("modelForm")
        form = QFormLayout(self.form)
        form.setContentsMargins(0, 4, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # narrow docks
        self._form_layout = form

        self.provider_combo = QComboBox(self.form)
        self.provider_combo.addItem("Simulated", ProviderKind.SIMULATED)
        self.provider_combo.addItem("OpenAI-compatible", ProviderKind.OPENAI)
        self.provider_combo.setToolTip(
            "Simulated runs offline with set timing and failures; OpenAI-compatible talks to "
            "api.openai.com or a local server (Ollama, LM Studio, vLLM, llama.cpp)."
        )
        form.addRow("Provider", self.provider_combo)

        self.label_edit = QLineEdit(self.form)
        self.label_edit.setObjectName("labelEdit")
        self.label_edit.setToolTip("Column title; empty = the model name")
        form.addRow("Label", self.label_edit)

        self.model_edit = QLineEdit(self.form)
        self.model_edit.setObjectName("modelEdit")
        self.model_edit.setPlaceholderText("e.g. gpt-4o-mini, llama3.2")
        self.model_edit.setToolTip(_MODEL_TOOLTIP)
        form.addRow("Model", self.model_edit)

        self.base_url_edit = QLineEdit(self.form)
        self.base_url_edit.setObjectName("baseUrlEdit")
        self.base_url_edit.setPlaceholderText("empty = api.openai.com")
        self.base_url_edit.setToolTip("OpenAI-compatible endpoint, e.g. http://localhost:11434/v1")
        form.addRow("Base URL", self.base_url_edit)

        self.key_env_edit = QLineEdit(self.form)
        self.key_env_edit.setObjectName("keyEnvEdit")
        self.key_env_edit.setPlaceholderText(DEFAULT_KEY_ENV)
        self.key_env_edit.setToolTip(
            "Name of the environment variable holding the API key (the key itself is never "
            "stored by Fanout Studio)"
        )
        form.addRow("API key variable", self.key_env_edit)
        self.key_status_label = QLabel(self.form)
        self.key_status_label.setObjectName("keyStatus")
        self.key_status_label.setEnabled(False)  # muted
        self.key_status_label.setWordWrap(True)
        form.addRow("", self.key_status_label)

        # Optional values use the spin box's minimum as "server default" (None).
        self.temperature_spin = _spin(self.form, -0.1, 2.0, 0.1)
        self.temperature_spin.setObjectName("temperatureSpin")
        self.temperature_spin.setSpecialValueText("server default")
        self.temperature_spin.setToolTip("Sampling temperature 0..2, or the server's default")
        form.addRow("Temperature", self.temperature_spin)

        self.max_tokens_spin = QSpinBox(self.form)
        self.max_tokens_spin.setObjectName("maxTokensSpin")
        self.max_tokens_spin.setRange(0, 1_000_000)
        self.max_tokens_spin.setSingleStep(64)
        self.max_tokens_spin.setSpecialValueText("server default")
        self.max_tokens_spin.setKeyboardTracking(False)
        self.max_tokens_spin.setToolTip("Cap on answer length in tokens, or no cap")
        form.addRow("Max tokens", self.max_tokens_spin)

        # Issue 15: a compact list per parameter; two or more values make a column each.
        self.sweep_edits: dict[str, QLineEdit] = {}
        for name, label, example in SWEEP_FIELDS:
            edit = QLineEdit(self.form)
            edit.setObjectName(f"sweep_{name}")
            edit.setPlaceholderText(f"e.g. {example}")
            edit.setAccessibleName(f"{label} to sweep")
            edit.setToolTip(
                f"{label}: one value sets it, several (e.g. {example}) make one grid column "
                "each, headed like 'model · t=0.7'."
            )
            edit.textChanged.connect(self._on_field_edited)
            self.sweep_edits[name] = edit
            form.addRow(label, edit)

        self.max_concurrency_spin = QSpinBox(self.form)
        self.max_concurrency_spin.setObjectName("modelConcurrencySpin")
        self.max_concurrency_spin.setRange(0, 1000)
        self.max_concurrency_spin.setSpecialValueText("run's limit")
        self.max_concurrency_spin.setKeyboardTracking(False)
        self.max_concurrency_spin.setToolTip(
            "Requests to this model at once, on top of the run's limit: 1 for a local server "
            "with one slot, more for a cloud API"
        )
        form.addRow("Max in flight", self.max_concurrency_spin)

        self.latency_spin = _spin(self.form, 0.0, 600.0, 0.5, suffix=" s")
        self.latency_spin.setObjectName("latencySpin")
        self.latency_spin.setToolTip(
            "Whole request duration; sets time to first token and tokens per second to match"
        )
        form.addRow("Latency", self.latency_spin)
        self.ttft_spin = _spin(self.form, 0.0, 600.0, 0.1, suffix=" s")
        self.ttft_spin.setObjectName("ttftSpin")
        self.ttft_spin.setToolTip("Seconds before the first token")
        form.addRow("Time to first token", self.ttft_spin)
        self.tps_spin = _spin(self.form, 0.0, 100_000.0, 5.0)
        self.tps_spin.setObjectName("tpsSpin")
        self.tps_spin.setSpecialValueText("instant")
        self.tps_spin.setToolTip("Streaming pace; 0 = as fast as possible")
        form.addRow("Tokens per second", self.tps_spin)
        self.tokens_spin = QSpinBox(self.form)
        self.tokens_spin.setObjectName("tokensSpin")
        self.tokens_spin.setRange(1, 100_000)
        self.tokens_spin.setSingleStep(10)
        self.tokens_spin.setKeyboardTracking(False)
        self.tokens_spin.setToolTip("Tokens in every answer")
        form.addRow("Tokens per answer", self.tokens_spin)
        self.jitter_spin = _spin(self.form, 0.0, 1.0, 0.05)
        self.jitter_spin.setObjectName("jitterSpin")
        self.jitter_spin.setToolTip("Relative random variation of timing (0 = exact)")
        form.addRow("Jitter", self.jitter_spin)
        self.failure_rate_spin = _spin(self.form, 0.0, 1.0, 0.05)
        self.failure_rate_spin.setObjectName("failureRateSpin")
        self.failure_rate_spin.setToolTip("Probability that a request fails (0..1)")
        form.addRow("Failure rate", self.failure_rate_spin)
        self.failure_kind_combo = QComboBox(self.form)
        self.failure_kind_combo.setObjectName("failureKindCombo")
        self.failure_kind_combo.addItems(FAILURE_KINDS)
        self.failure_kind_combo.setToolTip(
            "How simulated failures look: 429 rate limit, 5xx server error, timeout, or a "
            "stream dropped midway"
        )
        form.addRow("Failure kind", self.failure_kind_combo)

        test_row = QWidget(self.form)
        test_layout = QHBoxLayout(test_row)
        test_layout.setContentsMargins(0, 0, 0, 0)
        self.test_button = QToolButton(test_row)
        self.test_button.setObjectName("testConnectionButton")
        self.test_button.setText("Test connection")
        self.test_button.setToolTip("Ask the server for its models (GET /models)")
        self.test_button.clicked.connect(self._on_test_button_clicked)
        self.test_result_label = QLabel(test_row)
        self.test_result_label.setObjectName("testResult")
        self.test_result_label.setWordWrap(True)
        self.test_result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        test_layout.addWidget(self.test_button)
        test_layout.addWidget(self.test_result_label, 1)
        form.addRow("", test_row)
        self._test_row = test_row

        self.save_button = QToolButton(self.form)
        self.save_button.setObjectName("saveAsProfileButton")
        self.save_button.setText("Save as profile…")
        self.save_button.setToolTip(
            "Keep this model as a named profile in the Profiles dock (its key goes to the "
            "system keyring)"
        )
        self.save_button.clicked.connect(self._on_save_button_clicked)
        form.addRow("", self.save_button)

        self._openai_rows: tuple[QWidget, ...] = (
            self.base_url_edit,
            self.key_env_edit,
            self.key_status_label,
            test_row,
        )
        self._sim_rows: tuple[QWidget, ...] = (
            self.latency_spin,
            self.ttft_spin,
            self.tps_spin,
            self.tokens_spin,
            self.jitter_spin,
            self.failure_rate_spin,
            self.failure_kind_combo,
        )
        self.form.hide()
        root.addWidget(self.form)

        self.provider_combo.currentIndexChanged.connect(self._on_provider_combo_changed)
        for edit in (self.label_edit, self.model_edit, self.base_url_edit, self.key_env_edit):
            edit.textChanged.connect(self._on_field_edited)
        for box in (
            self.temperature_spin,
            self.max_tokens_spin,
            self.jitter_spin,
            self.max_concurrency_spin,
        ):
            box.valueChanged.connect(self._on_field_edited)
        self.failure_rate_spin.valueChanged.connect(self._on_field_edited)
        self.failure_kind_combo.currentIndexChanged.connect(self._on_field_edited)
        for box in (self.ttft_spin, self.tps_spin, self.tokens_spin):
            box.valueChanged.connect(self._on_timing_changed)
        self.latency_spin.valueChanged.connect(self._on_latency_spin_changed)

    # -- state --------------------------------------------------------------------------

    def _load(self, profile: ModelProfile) -> None:
        self._loading = True
        try:
            self.provider_combo.setCurrentIndex(
                self.provider_combo.findData(ProviderKind(profile.provider))
            )
            self.label_edit.setText(profile.label)
            self.model_edit.setText(profile.model)
            self.base_url_edit.setText(profile.base_url or "")
            self.key_env_edit.setText(
                "" if profile.api_key_env == DEFAULT_KEY_ENV else profile.api_key_env
            )
            self.temperature_spin.setValue(
                self.temperature_spin.minimum()
                if profile.temperature is None
                else profile.temperature
            )
            self.max_tokens_spin.setValue(profile.max_tokens or 0)
            self.max_concurrency_spin.setValue(profile.max_concurrency or 0)
            for name, edit in self.sweep_edits.items():
                values = profile.sweep.values(name)
                if not values and name in ("top_p", "seed") and getattr(profile, name) is not None:
                    values = (getattr(profile, name),)  # no field of its own: shown here
                edit.setText(values_text(values))
            sim = profile.sim
            self.ttft_spin.setValue(sim.ttft)
            self.tps_spin.setValue(sim.tokens_per_second)
            self.tokens_spin.setValue(sim.output_tokens)
            self.jitter_spin.setValue(sim.jitter)
            self.failure_rate_spin.setValue(sim.failure_rate)
            kind = self.failure_kind_combo.findText(sim.failure_kind)
            self.failure_kind_combo.setCurrentIndex(max(kind, 0))
            self.latency_spin.setValue(sim.latency)
        finally:
            self._loading = False
        self._refresh()

    def profile(self) -> ModelProfile:
        """The profile the fields describe (possibly invalid: see :meth:`problem`)."""
        provider = ProviderKind(self.provider_combo.currentData())
        base_url = self.base_url_edit.text().strip() if provider is ProviderKind.OPENAI else ""
        temperature = self.temperature_spin.value()
        base = self._base.sim
        sim = replace(
            base,
            ttft=_spin_value(self.ttft_spin, base.ttft),
            tokens_per_second=_spin_value(self.tps_spin, base.tokens_per_second),
            output_tokens=self.tokens_spin.value(),
            jitter=_spin_value(self.jitter_spin, base.jitter),
            failure_rate=_spin_value(self.failure_rate_spin, base.failure_rate),
            failure_kind=self.failure_kind_combo.currentText(),
        )
        return replace(
            self._base,
            model=self.model_edit.text().strip(),
            provider=provider,
            label=self.label_edit.text().strip(),
            base_url=base_url or None,
            api_key_env=self.key_env_edit.text().strip() or DEFAULT_KEY_ENV,
            temperature=None
            if temperature < 0
            else _spin_value(self.temperature_spin, self._base.temperature),
            max_tokens=self.max_tokens_spin.value() or None,
            max_concurrency=self.max_concurrency_spin.value() or None,
            sim=sim,
            top_p=None,
            seed=None,
            sweep=self._sweep(),
        )

    def _sweep(self) -> ParamSweep:
        """The sweep the fields hold; a field that does not parse keeps the loaded values
        (:meth:`problem` says why)."""
        values: dict[str, tuple[float | int, ...]] = {}
        for name, edit in self.sweep_edits.items():
            try:
                values[name] = parse_values(name, edit.text())
            except SpecError:
                values[name] = self._base.sweep.values(name)
        return ParamSweep(**values)  # type: ignore[arg-type]

    def sweep_problem(self) -> str | None:
        """Why a sweep field cannot be read (naming the range), or ``None``."""
        for name, edit in self.sweep_edits.items():
            try:
                parse_values(name, edit.text())
            except SpecError as exc:
                return str(exc)
        return None

    def problem(self) -> str | None:
        """Why the profile cannot run, or ``None``."""
        typed = self.sweep_problem()
        if typed is not None:
            return typed
        try:
            self.profile().validate()
        except SpecError as exc:
            return str(exc)
        return None

    def title(self) -> str:
        """The card's title as shown before elision (the column's name)."""
        return self._title.full_text()

    def title_label(self) -> ElidedLabel:
        """The title (tests read its elision)."""
        return self._title

    def subtitle_label(self) -> ElidedLabel:
        """The line under the title (tests read its elision)."""
        return self._subtitle

    def set_distinct_from(self, titles: list[str]) -> None:
        """The other cards' titles: a title too long for the card loses what it shares with
        them first ("…tps-2" among "sim-100tps-1", "sim-100tps-2"), not what tells it apart."""
        self._title.set_distinct_from(titles)

    def set_column(self, index: int) -> None:
        """Show the 1-based grid column this card fills."""
        self._column.setText(f"{index}")
        self._column.setToolTip(f"Grid column {index}")

    def set_expanded(self, expanded: bool) -> None:
        """Unfold or fold the form."""
        self.edit_button.setChecked(expanded)

    def is_expanded(self) -> bool:
        """Whether the form is unfolded."""
        return self.edit_button.isChecked()

    def _refresh(self) -> None:
        profile = self.profile()
        openai = profile.provider is ProviderKind.OPENAI
        for widget in self._openai_rows:
            self._form_layout.setRowVisible(widget, openai)
        for widget in self._sim_rows:
            self._form_layout.setRowVisible(widget, not openai)
        self.label_edit.setPlaceholderText(profile.model or "the model name")

        self._title.set_full_text(profile.display_name or "(unnamed)")
        if openai:
            host = (
                urlparse(profile.base_url).netloc or profile.base_url
                if profile.base_url
                else "api.openai.com"
            )
            kind, parts = "", [profile.model or "?", host]
            detail = f"{profile.model or '?'} on {profile.base_url or 'api.openai.com'}"
            self.key_status_label.setText(card_key_status(profile, self._keys))
        else:
            sim = profile.sim
            kind, parts = "simulated", [profile.model or "?", f"~{sim.latency:.1f} s"]
            detail = (
                f"Simulated model {profile.model or '?'}: ~{sim.latency:.2f} s per answer "
                f"of {sim.output_tokens} tokens, failure rate {sim.failure_rate:g}"
            )
        columns = len(profile.sweep.combinations())
        if columns > 1:
            parts.append(f"{columns} columns")
        forms = subtitle_forms(parts, titled_by_model=not profile.label)
        full = " · ".join([kind, *parts] if kind else parts)
        self._subtitle.set_full_text(full, detail, shorter=forms)

        problem = self.problem()
        self.issue_label.setText(problem or "")
        self.issue_label.setVisible(problem is not None)
        # A withheld key travels nowhere, so plain http:// puts no key at risk.
        warning = None if key_withheld(profile, self._keys) else clear_text_warning(profile)
        self.warning_label.setText(warning or "")
        self.warning_label.setVisible(warning is not None)

    # -- slots --------------------------------------------------------------------------

    def _on_edit_button_toggled(self, checked: bool) -> None:
        self.form.setVisible(checked)

    def _on_test_button_clicked(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # only in bare widget tests: the app always runs its loop
            self._show_test_result(False, "Testing needs the app's event loop.")
            return
        self.test_button.setEnabled(False)
        self.test_result_label.setStyleSheet("")
        self.test_result_label.setText("asking the server for its models…")
        # A new test of this card's profile cancels the one still waiting for an answer.
        self._tasks.spawn(
            self._test_connection(self.profile()),
            "fanout-test",
            group="test-connection",
            exclusive=True,
        )

    async def _test_connection(self, profile: ModelProfile) -> None:
        from gui.providers.connection import check_connection

        try:
            report = await check_connection(profile, self._keys)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never a traceback in the window
            self._show_test_result(False, f"The test itself failed: {type(exc).__name__}.")
            return
        finally:
            if shiboken6.isValid(self.test_button):
                self.test_button.setEnabled(True)
        if not shiboken6.isValid(self):
            return
        self._show_test_result(report.ok, report.message)
        if report.models:
            completer = QCompleter(list(report.models), self.model_edit)
            completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
            completer.setFilterMode(Qt.MatchFlag.MatchContains)
            self.model_edit.setCompleter(completer)
            self.model_edit.setToolTip("Models the server lists: " + ", ".join(report.models[:30]))

    def _show_test_result(self, ok: bool, message: str) -> None:
        _bg, color = status_colors(Phase.DONE if ok else Phase.FAILED)
        self.test_result_label.setStyleSheet(f"color: {color.name()};")
        self.test_result_label.setText(message)

    def reset(self, profile: ModelProfile) -> None:
        """Show ``profile`` as a new card would: a connection test under way is stopped, and
        its result and the server's model list (completer, tooltip) are forgotten."""
        self._tasks.cancel_all()
        self.test_button.setEnabled(True)
        self.test_result_label.setStyleSheet("")
        self.test_result_label.clear()
        self.model_edit.setCompleter(None)  # type: ignore[arg-type]  # Qt: no completer
        self.model_edit.setToolTip(_MODEL_TOOLTIP)
        self._base = profile
        self._load(profile)

    def dispose(self) -> None:
        """Stop a connection test still in progress and delete the card."""
        self._tasks.cancel_all()
        self.deleteLater()

    def _on_remove_button_clicked(self) -> None:
        self.remove_requested.emit(self)

    def _on_save_button_clicked(self) -> None:
        self.save_requested.emit(self.profile())

    def _on_provider_combo_changed(self, _index: int) -> None:
        self._on_field_edited()

    def _on_field_edited(self) -> None:
        if self._loading:
            return
        self._refresh()
        self.changed.emit()

    def _on_timing_changed(self) -> None:
        if self._loading:
            return
        self._loading = True
        try:
            self.latency_spin.setValue(self.profile().sim.latency)
        finally:
            self._loading = False
        self._on_field_edited()

    def _on_latency_spin_changed(self, latency: float) -> None:
        if self._loading:
            return
        timing = SimSettings.with_latency(
            max(latency, 1e-3), output_tokens=self.tokens_spin.value()
        )
        # Keep the exact values, so the profile's latency is the one typed, not its rounding.
        self._base = replace(
            self._base,
            sim=replace(
                self._base.sim, ttft=timing.ttft, tokens_per_second=timing.tokens_per_second
            ),
        )
        self._loading = True
        try:
            self.ttft_spin.setValue(timing.ttft)
            self.tps_spin.setValue(timing.tokens_per_second)
        finally:
            self._loading = False
        self._on_field_edited()


class ModelsPanel(QWidget):
    """The model profiles = the grid's columns, as cards with inline forms.

    :meth:`set_profiles` does not emit :attr:`profiles_changed`; user edits, additions and
    removals do (on every keystroke: the window should only read, not rebuild, on it).
    """

    profiles_changed = Signal()
    """The user edited, added or removed a profile."""
    save_profile_requested = Signal(object)
    """A card's "Save…" was pressed; carries its :class:`ModelProfile`."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        keys: KeySource | None = None,
        profiles: list[ModelProfile] | None = None,
    ) -> None:
        """Args:
        parent: Qt parent.
        keys: The app's key service (each card's key status and connection test).
        profiles: The first cards (default: :func:`default_profiles`); the window's staged
            build passes none and adds the default cards in a turn of their own.
        """
        super().__init__(parent)
        self._keys = keys  # the app's key service: each card's key status and connection test
        self._cards: list[ModelCard] = []
        self._build_ui()
        self.set_profiles(default_profiles() if profiles is None else profiles)

    # -- construction -------------------------------------------------------------------

    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)

        header = QHBoxLayout()
        title = QLabel("Models", self)
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        title.setToolTip("Each model is one column of the grid")
        header.addWidget(title)
        header.addStretch(1)
        self._add_menu = QMenu("Add model", self)
        self._add_menu.setObjectName("addModelMenu")
        for preset in PROVIDER_PRESETS:
            action = self._add_menu.addAction(preset.text)
            action.setData(preset.key)
            if preset.base_url:
                action.setToolTip(f"OpenAI-compatible server at {preset.base_url}")
        self._saved_section = self._add_menu.addSection("Saved profiles")
        self._saved_actions: list[QAction] = []
        self._saved_section.setVisible(False)
        self._add_menu.triggered.connect(self._on_add_menu_triggered)
        self._add_button = QToolButton(self)
        self._add_button.setObjectName("addModelButton")
        self._add_button.setText("Add model ▾")
        self._add_button.setToolTip("Add a column: a simulated model, OpenAI or a local server")
        # popup(), not setMenu(): QToolButton opens its menu with exec(), a nested loop.
        self._add_button.clicked.connect(self._on_add_button_clicked)
        header.addWidget(self._add_button)
        root.addLayout(header)

        # Never narrower than the cards: a splitter can no longer cut their Remove buttons.
        self._scroll = VerticalScrollArea(self)
        container = QWidget(self._scroll)
        self._cards_layout = QVBoxLayout(container)
        self._cards_layout.setContentsMargins(0, 0, 0, 0)
        self._cards_layout.setSpacing(6)
        self._cards_layout.addStretch(1)
        self._scroll.setWidget(container)
        root.addWidget(self._scroll, 1)

        self._empty_issue = QLabel("No model selected. Add at least one model.", self)
        self._empty_issue.setObjectName("inlineIssue")
        set_text_color(self._empty_issue, ISSUE_RED)
        self._empty_issue.hide()
        root.addWidget(self._empty_issue)

    # -- public API ---------------------------------------------------------------------

    def profiles(self) -> list[ModelProfile]:
        """Valid profiles in column order (cards with a problem are left out)."""
        return [card.profile() for card in self._cards if card.problem() is None]

    def all_profiles(self) -> list[ModelProfile]:
        """Every card's profile in column order, those with a problem too (what to keep)."""
        return [card.profile() for card in self._cards]

    def set_profiles(self, profiles: list[ModelProfile]) -> None:
        """Show ``profiles``, one card each; cards with a problem open their form. Does not
        emit. The cards there are reused (:meth:`ModelCard.reset`): building one costs about
        5 ms, and a demo's four replaced the window's two in one long turn of the loop."""
        keep = min(len(self._cards), len(profiles))
        for card in self._cards[keep:]:
            self._cards_layout.removeWidget(card)
            card.dispose()
        del self._cards[keep:]
        for card, profile in zip(self._cards, profiles, strict=False):
            card.reset(profile)
        for profile in profiles[keep:]:
            self._add_card(profile)
        for card in self._cards:
            card.set_expanded(card.problem() is not None)
        self._renumber()

    def issue(self) -> str | None:
        """The first problem that blocks a run, or ``None``."""
        if not self._cards:
            return "No model selected. Add at least one model."
        for index, card in enumerate(self._cards, start=1):
            problem = card.problem()
            if problem is not None:
                name = card.profile().display_name or f"Model {index}"
                return f"{name}: {problem}"
        return None

    def add_model_menu(self) -> QMenu:
        """The "Add model" menu, so the window can offer it in its menu bar as well."""
        return self._add_menu

    def add_preset(self, key: str) -> ModelProfile:
        """Add a card from the preset ``key`` (see ``PROVIDER_PRESETS``), form open; emits."""
        preset = next(p for p in PROVIDER_PRESETS if p.key == key)
        if preset.provider is ProviderKind.SIMULATED:
            profile = ModelProfile(model=self._unused_sim_name(), provider=preset.provider)
        else:
            profile = preset.profile()
        return self.add_profile(profile, expanded=True)

    def add_profile(self, profile: ModelProfile, *, expanded: bool = False) -> ModelProfile:
        """Add a column for ``profile`` (e.g. a saved one); emits :attr:`profiles_changed`."""
        card = self._add_card(profile)
        self._renumber()
        if expanded or card.problem() is not None:
            card.set_expanded(True)
            card.model_edit.setFocus()
            card.model_edit.selectAll()
        # After the layout has placed the new card; the card as context cancels it if removed.
        QTimer.singleShot(0, card, lambda: self._scroll.ensureWidgetVisible(card, 0, 8))
        self.profiles_changed.emit()
        return profile

    # -- helpers ------------------------------------------------------------------------

    def _add_card(self, profile: ModelProfile) -> ModelCard:
        card = ModelCard(profile, self._scroll.widget(), keys=self._keys)
        card.changed.connect(self._on_card_changed)
        card.remove_requested.connect(self._on_card_remove_requested)
        card.save_requested.connect(self.save_profile_requested)
        self._cards_layout.insertWidget(len(self._cards), card)
        self._cards.append(card)
        return card

    def _renumber(self) -> None:
        for index, card in enumerate(self._cards, start=1):
            card.set_column(index)
        self._empty_issue.setVisible(not self._cards)
        self._tell_apart()

    def _tell_apart(self) -> None:
        """Give each card the other cards' titles, so that an elided title keeps its own."""
        titles = [card.title() for card in self._cards]
        for index, card in enumerate(self._cards):
            card.set_distinct_from(titles[:index] + titles[index + 1 :])

    def _unused_sim_name(self) -> str:
        taken = {card.profile().model for card in self._cards}
        n = 1
        while f"sim-{n}" in taken:
            n += 1
        return f"sim-{n}"

    # -- slots --------------------------------------------------------------------------

    def _on_add_button_clicked(self) -> None:
        below = self._add_button.mapToGlobal(QPoint(0, self._add_button.height()))
        self._add_menu.popup(below)

    def set_saved_profiles(self, saved: list[SavedProfile]) -> None:
        """List the user's saved profiles in the "Add model" menu."""
        for action in self._saved_actions:
            self._add_menu.removeAction(action)
            action.deleteLater()
        self._saved_actions = []
        for item in saved:
            action = QAction(item.name, self._add_menu)
            action.setData(item)
            action.setToolTip(f"Saved profile: {item.profile.model} · {item.profile.provider_name}")
            self._add_menu.addAction(action)
            self._saved_actions.append(action)
        self._saved_section.setVisible(bool(saved))

    def _on_add_menu_triggered(self, action: QAction) -> None:
        data = action.data()
        if isinstance(data, SavedProfile):
            self.add_profile(data.for_run())
        else:
            self.add_preset(str(data))

    def _on_card_changed(self) -> None:
        self._tell_apart()  # a label or model edited: the titles changed
        self.profiles_changed.emit()

    def _on_card_remove_requested(self, card: ModelCard) -> None:
        if card not in self._cards:
            return
        self._cards.remove(card)
        self._cards_layout.removeWidget(card)
        card.dispose()
        self._renumber()
        self.profiles_changed.emit()

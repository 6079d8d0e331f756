"""The Judge page beside the prompt: which model judges the answers, how, and with what rubric.

What it shows becomes the run's :class:`~gui.core.spec.JudgeSettings` (``RunSpec.judge``):
off, or a judge model (the simulated ``sim-judge``, a column's model or a saved profile), a
mode (a score 1-10 per answer, or pairwise comparisons that rank the models), the judge's own
limits (calls in flight, requests per second) and the rubric, which starts as
:data:`~gui.core.spec.STARTER_RUBRIC`. Settings that cannot work are refused here, in one
line with the fix, before a run starts (:meth:`JudgePage.issue`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.core.errors import SpecError
from gui.core.keys import HeldKeys, clear_text_warning, key_withheld
from gui.core.ports import KeySource
from gui.core.spec import (
    SIM_JUDGE_MODEL,
    STARTER_RUBRIC,
    JudgeMode,
    JudgeSettings,
    ModelProfile,
    ProviderKind,
)
from gui.qt.views.prompt_editor import IssueLabel

__all__ = ["JudgeChoice", "JudgePage"]

#: The offline judge every list starts with.
SIM_JUDGE = ModelProfile(model=SIM_JUDGE_MODEL, provider=ProviderKind.SIMULATED)


@dataclass(frozen=True, slots=True)
class JudgeChoice:
    """One entry of the judge model list.

    Attributes:
        text: What the list shows.
        profile: The judge model it stands for.
    """

    text: str
    profile: ModelProfile


def _key(profile: ModelProfile) -> tuple[str, str, str | None, str]:
    return (profile.model, str(profile.provider), profile.base_url, profile.display_name)


class JudgePage(QWidget):
    """Edits the run's judge; :meth:`settings` is ``None`` while judging is off.

    Signals:
        judge_changed(): the user changed something here (the workspace saves it).
    """

    judge_changed = Signal()

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        columns: Callable[[], list[ModelProfile]] | None = None,
        keys: KeySource | None = None,
    ) -> None:
        """``columns`` gives the run's column models, offered as judges (see
        :meth:`refresh_columns`); ``keys`` holds the saved keys, for the key warning."""
        super().__init__(parent)
        self._keys: KeySource = keys if keys is not None else HeldKeys()
        self._column_source = columns
        self._columns: list[ModelProfile] = list(columns()) if columns is not None else []
        self._saved: list[tuple[str, ModelProfile]] = []
        self._extra: ModelProfile | None = None  # a loaded run's judge not in the lists
        self._loading = False
        self._build_ui()
        self._fill_models()
        self._sync_enabled()

    # -- construction -------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.setObjectName("judgePage")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        # In a scroll area: the page shares the prompt's tab widget, whose minimum size is
        # its largest page's; the window's own minimum must not grow with the judge's form.
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        content = QWidget(scroll)
        scroll.setWidget(content)
        root = QVBoxLayout(content)
        root.setContentsMargins(4, 4, 4, 4)
        self.enabled_box = QCheckBox("Judge every answer with a model", self)
        self.enabled_box.setObjectName("judgeEnabled")
        self.enabled_box.setToolTip(
            "As soon as a cell ends, its answer goes to the judge for a score 1-10 and a "
            "one-sentence reason, while the other cells still stream."
        )
        self.enabled_box.toggled.connect(self._on_enabled_box_toggled)
        root.addWidget(self.enabled_box)

        self._form_box = QWidget(self)
        form = QFormLayout(self._form_box)
        form.setContentsMargins(0, 0, 0, 0)
        self.model_combo = QComboBox(self._form_box)
        self.model_combo.setObjectName("judgeModel")
        self.model_combo.setToolTip(
            "Any configured model can judge: the simulated sim-judge (offline), a column's "
            "model or a saved profile."
        )
        self.model_combo.currentIndexChanged.connect(self._on_model_combo_index_changed)
        form.addRow("Judge", self.model_combo)
        # Issue 10's rules hold for the judge's key as for a column's: said where it is chosen.
        self.key_warning = IssueLabel(self._form_box)
        form.addRow(self.key_warning)

        modes = QHBoxLayout()
        self._mode_group = QButtonGroup(self)
        self.single_button = QRadioButton("Score each answer", self._form_box)
        self.single_button.setObjectName("judgeSingle")
        self.single_button.setToolTip("A score 1-10 and a reason per answer.")
        self.pairwise_button = QRadioButton("Compare pairs", self._form_box)
        self.pairwise_button.setObjectName("judgePairwise")
        self.pairwise_button.setToolTip(
            "For each input, the answers two at a time (in a random order, recorded); the "
            "models are ranked by win rate and Bradley-Terry strength."
        )
        for button in (self.single_button, self.pairwise_button):
            self._mode_group.addButton(button)
            modes.addWidget(button)
        modes.addStretch(1)
        self.single_button.setChecked(True)
        self._mode_group.buttonToggled.connect(self._on_mode_group_toggled)
        form.addRow("Mode", modes)

        limits = QHBoxLayout()
        self.max_in_flight = QSpinBox(self._form_box)
        self.max_in_flight.setObjectName("judgeMaxInFlight")
        self.max_in_flight.setRange(1, 1000)
        self.max_in_flight.setValue(JudgeSettings().max_concurrency)
        self.max_in_flight.setToolTip(
            "Judge calls at once: the judge's own lane, apart from the cells'."
        )
        self.max_in_flight.valueChanged.connect(self._on_limit_value_changed)
        self.rps = QDoubleSpinBox(self._form_box)
        self.rps.setObjectName("judgeRps")
        self.rps.setRange(0.0, 10_000.0)
        self.rps.setDecimals(2)
        self.rps.setSpecialValueText("no cap")
        self.rps.setSuffix(" /s")
        self.rps.setToolTip("Judge calls started per second at most (0: no cap).")
        self.rps.valueChanged.connect(self._on_limit_value_changed)
        limits.addWidget(self.max_in_flight)
        limits.addWidget(self.rps)
        limits.addStretch(1)
        form.addRow("In flight", limits)
        root.addWidget(self._form_box)
        # Above the rubric, which takes the page's height: below it, a short window hid it.
        self.issue_label = IssueLabel(self)
        root.addWidget(self.issue_label)

        rubric_head = QHBoxLayout()
        self.starter_button = QPushButton("Starter rubric", self)
        self.starter_button.setToolTip("Replace the rubric with the starter one.")
        self.starter_button.clicked.connect(self._on_starter_button_clicked)
        rubric_head.addStretch(1)
        rubric_head.addWidget(self.starter_button)
        root.addLayout(rubric_head)
        self.rubric_edit = QPlainTextEdit(self)
        self.rubric_edit.setObjectName("judgeRubric")
        self.rubric_edit.setPlaceholderText("What the judge values in an answer…")
        self.rubric_edit.setPlainText(STARTER_RUBRIC)
        self.rubric_edit.textChanged.connect(self._on_rubric_edit_text_changed)
        root.addWidget(self.rubric_edit, 1)

    # -- public API ---------------------------------------------------------------------

    def refresh_columns(self) -> None:
        """Read the column models again (the models panel changed)."""
        if self._column_source is not None:
            self.set_column_models(self._column_source())

    def set_column_models(self, profiles: list[ModelProfile]) -> None:
        """The run's columns, offered as judges."""
        self._columns = list(profiles)
        self._fill_models()

    def set_saved_profiles(self, saved: list[tuple[str, ModelProfile]]) -> None:
        """The user's saved profiles ``(name, profile)``, offered as judges."""
        self._saved = list(saved)
        self._fill_models()

    def choices(self) -> list[JudgeChoice]:
        """The judge model list as shown."""
        return [
            JudgeChoice(self.model_combo.itemText(i), self.model_combo.itemData(i))
            for i in range(self.model_combo.count())
        ]

    def settings(self) -> JudgeSettings | None:
        """The judge the page describes, or ``None`` while judging is off (not validated)."""
        if not self.enabled_box.isChecked():
            return None
        return self.draft()

    def draft(self) -> JudgeSettings:
        """What the page shows, judging on or off (the workspace keeps a rubric written
        while judging is off)."""
        profile = self.model_combo.currentData()
        rps = self.rps.value()
        return JudgeSettings(
            model=profile if isinstance(profile, ModelProfile) else SIM_JUDGE,
            rubric=self.rubric_edit.toPlainText(),
            mode=JudgeMode.PAIRWISE if self.pairwise_button.isChecked() else JudgeMode.SINGLE,
            max_concurrency=self.max_in_flight.value(),
            requests_per_second=rps if rps > 0 else None,
        )

    def key_warning_text(self) -> str | None:
        """What the chosen judge's key risks (shown under the list), or ``None``: the
        default ``$OPENAI_API_KEY`` withheld from another host, or a key sent over plain
        http:// to another machine, as a column's card says."""
        settings = self.settings()
        if settings is None:
            return None
        profile = settings.model
        if key_withheld(profile, self._keys):
            return (
                f"No key sent to the judge: ${profile.api_key_env} is a key for api.openai.com; "
                "name another variable in its profile, or save a key with it."
            )
        return clear_text_warning(profile)

    def issue(self) -> str | None:
        """Why the judge cannot run as set (also shown on the page), or ``None``."""
        self.key_warning.show_message(self.key_warning_text(), "warning")
        settings = self.settings()
        message: str | None = None
        if settings is not None:
            try:
                settings.validate()
            except SpecError as exc:
                message = str(exc)
        self.issue_label.show_message(message)
        return message

    def set_settings(self, settings: JudgeSettings | None, *, enabled: bool = True) -> None:
        """Show ``settings`` (a past run's, a workspace's); ``None`` turns judging off and
        leaves the fields as they are, ``enabled=False`` shows ``settings`` with judging off.
        """
        self.refresh_columns()
        self._loading = True
        try:
            self.enabled_box.setChecked(settings is not None and enabled)
            if settings is not None:
                self._select(settings.model)
                self.rubric_edit.setPlainText(settings.rubric)
                button = (
                    self.pairwise_button
                    if settings.mode is JudgeMode.PAIRWISE
                    else self.single_button
                )
                button.setChecked(True)
                self.max_in_flight.setValue(settings.max_concurrency)
                self.rps.setValue(settings.requests_per_second or 0.0)
        finally:
            self._loading = False
        self._sync_enabled()
        self.issue_label.show_message(None)
        self.key_warning.show_message(self.key_warning_text(), "warning")

    def showEvent(self, event: QShowEvent) -> None:
        # The models panel's set_profiles (a workspace, a past run) tells nobody: the
        # columns are read again whenever the page comes into view.
        self.refresh_columns()
        super().showEvent(event)

    # -- internals ----------------------------------------------------------------------

    def _fill_models(self) -> None:
        current = self.model_combo.currentData()
        entries = [JudgeChoice(f"{SIM_JUDGE_MODEL} (simulated, offline)", SIM_JUDGE)]
        entries += [JudgeChoice(f"Column: {p.display_name}", p) for p in self._columns]
        entries += [JudgeChoice(f"Saved: {name}", p) for name, p in self._saved]
        if self._extra is not None and all(e.profile != self._extra for e in entries):
            entries.append(
                JudgeChoice(f"This run's judge: {self._extra.display_name}", self._extra)
            )
        self.model_combo.blockSignals(True)
        try:
            self.model_combo.clear()
            for entry in entries:
                self.model_combo.addItem(entry.text, entry.profile)
            if isinstance(current, ModelProfile):
                self._select_index(current)
        finally:
            self.model_combo.blockSignals(False)

    def _select_index(self, profile: ModelProfile, *, exact: bool = False) -> bool:
        """Select ``profile``'s entry: the same profile, else (unless ``exact``) the entry
        of the same name and server (a column edited since it was chosen)."""
        profiles = [self.model_combo.itemData(i) for i in range(self.model_combo.count())]
        found = next((i for i, p in enumerate(profiles) if p == profile), None)
        if found is None and not exact:
            key = _key(profile)
            found = next(
                (
                    i
                    for i, p in enumerate(profiles)
                    if isinstance(p, ModelProfile) and _key(p) == key
                ),
                None,
            )
        if found is None:
            return False
        self.model_combo.setCurrentIndex(found)
        return True

    def _select(self, profile: ModelProfile) -> None:
        """Select exactly ``profile`` (a loaded run's judge keeps its own settings)."""
        if not self._select_index(profile, exact=True):
            self._extra = profile
            self._fill_models()
            self._select_index(profile, exact=True)

    def _sync_enabled(self) -> None:
        on = self.enabled_box.isChecked()
        for widget in (self._form_box, self.rubric_edit, self.starter_button):
            widget.setEnabled(on)

    def _changed(self) -> None:
        if not self._loading:
            self.issue()
            self.judge_changed.emit()

    # -- slots --------------------------------------------------------------------------

    def _on_enabled_box_toggled(self, _checked: bool) -> None:
        self._sync_enabled()
        self._changed()

    def _on_model_combo_index_changed(self, _index: int) -> None:
        self._changed()

    def _on_mode_group_toggled(self, _button: QRadioButton, checked: bool) -> None:
        if checked:
            self._changed()

    def _on_limit_value_changed(self, _value: float) -> None:
        self._changed()

    def _on_rubric_edit_text_changed(self) -> None:
        self._changed()

    def _on_starter_button_clicked(self) -> None:
        self.rubric_edit.setPlainText(STARTER_RUBRIC)

"""Strategy, limits and live gauges of a run: the knobs users turn while cells stream.

Limits apply live (the runner hands them to cells not yet started), so every limit control
reports its own change at once through :attr:`ConcurrencyPanel.limits_changed`; only the
strategy is frozen while a run is active. The gauges are repainted a few times per second
during a run, so updating them never triggers a relayout: numbers sit in fixed-size labels
and the bars are tiny painted widgets.

The spin boxes cannot hold a value outside :class:`~gui.core.spec.Limits`' ranges, but a
plain ``QSpinBox`` hides that: typing 10000 into a 1..1000 box silently drops the last digit
and applies 1000. Here the typed text stays visible, Enter (or leaving the box) refuses it,
keeps the previous value, and the line under the form says the accepted range, in the same
words the engine and the command line use.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette, QValidator
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.core.columns import REPEATS_RANGE
from gui.core.spec import ErrorPolicy, Limits, Strategy, range_problem
from gui.qt.resources import status_colors
from gui.qt.views.prompt_editor import IssueLabel
from gui.qt.widgets.vertical_scroll import VerticalScrollArea

#: Strategies in menu order (the streaming default first), each with a one-sentence tooltip.
STRATEGY_TIPS: dict[Strategy, str] = {
    Strategy.STREAM: (
        "One task per cell consuming chain.astream(input): text appears token by token."
    ),
    Strategy.GATHER: (
        "asyncio.gather(*(chain.ainvoke(x) for x in inputs)): all cells at once, "
        "each answer arrives whole."
    ),
    Strategy.ABATCH: (
        "chain.abatch(inputs, config={'max_concurrency': N}): LangChain's own batching, "
        "answers arrive whole."
    ),
    Strategy.AS_COMPLETED: (
        "chain.abatch_as_completed(inputs, config={'max_concurrency': N}): like abatch, "
        "results handled in the order they finish."
    ),
    Strategy.SEQUENTIAL: (
        "await chain.ainvoke(x) one cell after another: no overlap, the window stays live."
    ),
    Strategy.SYNC: (
        "chain.invoke(x) one cell after another in a worker thread: the blocking baseline."
    ),
}

_POLICY_TIPS: dict[ErrorPolicy, str] = {
    ErrorPolicy.ISOLATE: "A failed cell shows its error; every other cell carries on.",
    ErrorPolicy.FAIL_FAST: (
        "The first cell that still fails after its retries cancels every cell not yet finished."
    ),
}

_HINT_IDLE = "Limits can change during a run: they apply to cells not yet started."
_HINT_ACTIVE = (
    "Run active: the strategy is fixed until it ends; limits still apply live to cells "
    "not yet started."
)

#: Gauge rows: (key, label, status phase whose colour fills the bar).
_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("in_flight", "In flight", "running"),
    ("waiting", "Waiting", "waiting"),
    ("done", "Done", "done"),
    ("failed", "Failed", "failed"),
    ("cancelled", "Cancelled", "cancelled"),
)


#: The judge lane's gauge rows, as :data:`_GAUGES`.
_JUDGE_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("in_flight", "In flight", "running"),
    ("queued", "Queued", "waiting"),
    ("done", "Done", "done"),
    ("failed", "Failed", "failed"),
)


class _GaugeBar(QWidget):
    """A thin bar painted by hand: cheaper than a QProgressBar, which repaints synchronously."""

    def __init__(self, phase: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._phase = phase
        self._fraction = 0.0
        self.setFixedHeight(5)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    @property
    def fraction(self) -> float:
        """Filled share of the bar, 0..1."""
        return self._fraction

    def set_fraction(self, fraction: float) -> None:
        """Fill ``fraction`` (clamped to 0..1) of the bar; schedules one repaint if it changed."""
        fraction = min(max(fraction, 0.0), 1.0)
        if fraction != self._fraction:
            self._fraction = fraction
            self.update()

    def sizeHint(self) -> QSize:
        return QSize(60, 5)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        rect = QRectF(self.rect())
        radius = rect.height() / 2
        track = QColor(self.palette().color(QPalette.ColorRole.Mid))
        track.setAlphaF(0.35)
        painter.setBrush(track)
        painter.drawRoundedRect(rect, radius, radius)
        if self._fraction > 0:
            _bg, fill = status_colors(self._phase)
            painter.setBrush(fill)
            filled = QRectF(rect)
            filled.setWidth(max(rect.width() * self._fraction, rect.height()))
            painter.drawRoundedRect(filled, radius, radius)
        painter.end()


# A number as typed, possibly incomplete ("-", "1.") or out of range; never letters.
_TYPED_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)?")


def _typed_body(box: QSpinBox | QDoubleSpinBox, text: str) -> str:
    """``text`` of ``box`` without its prefix and suffix."""
    body = text
    if box.prefix() and body.startswith(box.prefix()):
        body = body[len(box.prefix()) :]
    if box.suffix() and body.endswith(box.suffix()):
        body = body[: -len(box.suffix())]
    return body.strip()


def _validate_typed(box: QSpinBox | QDoubleSpinBox, result: Any, text: str, pos: int) -> Any:
    """Qt's verdict on ``text``, except that a number out of range stays as typed.

    Qt calls a number beyond the maximum *Invalid* and drops the keystroke; *Intermediate*
    keeps it on screen, and committing it then goes through :func:`_refuse_typed`.
    """
    state = result[0] if isinstance(result, tuple) else result
    if state == QValidator.State.Invalid and _TYPED_NUMBER.fullmatch(_typed_body(box, text)):
        return (QValidator.State.Intermediate, text, pos)
    return result


def _refuse_typed(box: QSpinBox | QDoubleSpinBox, text: str, signal: Any) -> str:
    """Committing text that is not a value: report the number typed (the box then reverts)."""
    body = _typed_body(box, text).replace(",", ".")
    try:
        value = float(body)
    except ValueError:
        return text
    if not box.minimum() <= value <= box.maximum():
        signal.emit(value)
    return text


#: Largest budget the Concurrency dock takes, US dollars.
BUDGET_MAX_USD = 1_000_000.0


class RangeSpinBox(QSpinBox):
    """A ``QSpinBox`` that refuses an out-of-range number visibly instead of clamping it.

    Signals:
        value_refused(float): a number outside the range was typed and committed; the box
            kept its previous value.
    """

    value_refused = Signal(float)

    def validate(self, text: str, pos: int) -> Any:
        return _validate_typed(self, super().validate(text, pos), text, pos)

    def fixup(self, text: str) -> str:
        return _refuse_typed(self, text, self.value_refused)


class RangeDoubleSpinBox(QDoubleSpinBox):
    """A ``QDoubleSpinBox`` that refuses an out-of-range number visibly (see :class:`RangeSpinBox`)."""

    value_refused = Signal(float)

    def validate(self, text: str, pos: int) -> Any:
        return _validate_typed(self, super().validate(text, pos), text, pos)

    def fixup(self, text: str) -> str:
        return _refuse_typed(self, text, self.value_refused)


class ConcurrencyPanel(QWidget):
    """Strategy, limits and live gauges; the main window docks it.

    Setters (:meth:`set_limits`, :meth:`set_strategy`) never emit: the signals report user
    edits only, so the window can forward them to a live run without echo loops.
    """

    limits_changed = Signal(object)
    """dict of only the Limits fields the user just changed, e.g. ``{"max_concurrency": 12}``."""

    strategy_changed = Signal(object)
    """The :class:`Strategy` the user picked."""

    judge_limit_changed = Signal(int)
    """The judge's calls in flight the user set in the judge lane (issue 13)."""

    cache_clear_requested = Signal()
    """The user pressed "Clear cache" (the window asks the cache service)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base = Limits()  # the fields without a control (back-off delays) come from here
        self._loading = False
        self._run_active = False
        self._gauge_values: tuple[int, ...] = ()
        self._gauge_numbers: dict[str, QLabel] = {}
        self._gauge_bars: dict[str, _GaugeBar] = {}
        self._build_ui()
        self.set_limits(self._base)
        self.set_strategy(Strategy.STREAM)

    # -- construction -------------------------------------------------------------------

    def _build_ui(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        # Scrolls: with the judge's lane under the live gauges the panel was taller than the
        # dock gets in a 600 px window, and set the window's minimum height above it.
        scroll = VerticalScrollArea(self)
        outer.addWidget(scroll)
        content = QWidget(scroll)
        scroll.setWidget(content)
        root = QVBoxLayout(content)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        root.addLayout(form)

        self._strategy = QComboBox(self)
        self._strategy.setObjectName("strategyCombo")
        for strategy, tip in STRATEGY_TIPS.items():
            self._strategy.addItem(strategy.value, strategy)
            self._strategy.setItemData(self._strategy.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self._strategy.currentIndexChanged.connect(self._on_strategy_index_changed)
        form.addRow("Strategy", self._strategy)

        lo, hi = Limits.MAX_CONCURRENCY_RANGE
        self._max_concurrency = RangeSpinBox(self)
        self._max_concurrency.setObjectName("maxConcurrencySpin")
        self._max_concurrency.setRange(int(lo), int(hi))
        self._max_concurrency.setToolTip(
            f"Cells in flight at once ({lo:g} to {hi:g}). Lowering it lets running cells "
            "finish; raising it starts waiting cells at once."
        )
        self._max_concurrency.valueChanged.connect(self._on_max_concurrency_value_changed)
        form.addRow("Max concurrency", self._max_concurrency)

        rps_lo, rps_hi = Limits.RPS_RANGE
        self._rps = RangeDoubleSpinBox(self)
        self._rps.setObjectName("rpsSpin")
        self._rps.setDecimals(2)
        self._rps.setRange(0.0, rps_hi)  # 0 = the special value "no cap"
        self._rps.setSingleStep(1.0)
        self._rps.setSpecialValueText("no cap")
        self._rps.setSuffix(" /s")
        self._rps.setToolTip(
            f"Most requests started per second ({rps_lo:g} to {rps_hi:g}); 0 = no cap. "
            "Use it to stay under a provider's rate limit."
        )
        self._rps.valueChanged.connect(self._on_rps_value_changed)
        form.addRow("Requests per second", self._rps)

        # Three timeouts, as HTTP clients split them: a slow model writing a long answer is
        # never cut while text keeps coming (see Limits).
        t_lo, t_hi = Limits.TIMEOUT_RANGE
        self._ttft = self._seconds_spin(
            "ttftSpin",
            (t_lo, t_hi),
            f"Seconds from the request to its first text, connecting included ({t_lo:g} to "
            f"{t_hi:g}). A whole-answer strategy gets its answer as its first text.",
        )
        self._ttft.valueChanged.connect(self._on_ttft_value_changed)
        form.addRow("First-token timeout", self._ttft)
        self._idle = self._seconds_spin(
            "idleSpin",
            (t_lo, t_hi),
            f"Longest gap between two pieces of a streamed answer ({t_lo:g} to {t_hi:g}).",
        )
        self._idle.valueChanged.connect(self._on_idle_value_changed)
        form.addRow("Idle timeout", self._idle)
        total_lo, total_hi = Limits.TOTAL_TIMEOUT_RANGE
        self._total_timeout = self._seconds_spin(
            "totalTimeoutSpin",
            (0.0, total_hi),  # 0 = the special value "off"
            f"Seconds for one whole request, stream included ({total_lo:g} to {total_hi:g}); "
            "0 = off, the default: the first-token and idle timeouts catch a stalled server.",
        )
        self._total_timeout.setSpecialValueText("off")
        self._total_timeout.valueChanged.connect(self._on_total_timeout_value_changed)
        form.addRow("Total timeout", self._total_timeout)

        r_lo, r_hi = Limits.RETRIES_RANGE
        self._retries = RangeSpinBox(self)
        self._retries.setObjectName("retriesSpin")
        self._retries.setRange(int(r_lo), int(r_hi))
        self._retries.setToolTip(
            f"Extra attempts after a rate limit, server error, timeout or dropped connection, "
            f"with exponential back-off ({r_lo:g} to {r_hi:g})."
        )
        self._retries.valueChanged.connect(self._on_retries_value_changed)
        form.addRow("Retries", self._retries)

        a_lo, a_hi = Limits.ANSWER_CHARS_RANGE
        self._answer_cap = RangeSpinBox(self)
        self._answer_cap.setObjectName("answerCapSpin")
        self._answer_cap.setRange(int(a_lo), int(a_hi))
        self._answer_cap.setSingleStep(100_000)
        self._answer_cap.setSuffix(" chars")
        self._answer_cap.setToolTip(
            f"Longest answer kept, in characters ({a_lo:,.0f} to {a_hi:,.0f}); a longer one is "
            "cut there and its cell fails with what came so far. Guards against a server that "
            "never stops."
        )
        self._answer_cap.valueChanged.connect(self._on_answer_cap_value_changed)
        form.addRow("Answer size cap", self._answer_cap)

        s_lo, s_hi = REPEATS_RANGE
        self.repeats_spin = RangeSpinBox(self)
        self.repeats_spin.setObjectName("repeatsSpin")
        self.repeats_spin.setRange(s_lo, s_hi)
        self.repeats_spin.setAccessibleName("Samples per cell")
        self.repeats_spin.setToolTip(
            f"Run each cell this many times ({s_lo} to {s_hi}); the samples run at once under "
            "the same limits, and each pane says which sample it is."
        )
        self.repeats_spin.value_refused.connect(self._on_repeats_spin_value_refused)
        form.addRow("Samples per cell", self.repeats_spin)
        # Issue 15: the run's cost cap; 0 is "no budget" (a budget of 0 would stop every cell).
        self._budget = RangeDoubleSpinBox(self)
        self._budget.setObjectName("budgetSpin")
        self._budget.setDecimals(2)
        self._budget.setRange(0.0, BUDGET_MAX_USD)
        self._budget.setSingleStep(0.5)
        self._budget.setPrefix("$")
        self._budget.setSpecialValueText("no budget")
        self._budget.setToolTip(
            "Cost cap of the run in US dollars (0 = no budget): no new cell starts when what "
            "was spent plus the worst case of the cells in flight would pass it; the cells "
            'left end cancelled with "budget reached". Only models with a price count.'
        )
        self._budget.valueChanged.connect(self._on_budget_value_changed)
        form.addRow("Budget", self._budget)

        # keyboardTracking off: typing "12" emits 12 once (on Enter or focus out), not 1 then 12.
        for spin in (
            self._max_concurrency,
            self._rps,
            self._ttft,
            self._idle,
            self._total_timeout,
            self._retries,
            self._answer_cap,
            self._budget,
        ):
            spin.setKeyboardTracking(False)
        self._max_concurrency.value_refused.connect(self._on_max_concurrency_value_refused)
        self._rps.value_refused.connect(self._on_rps_value_refused)
        self._ttft.value_refused.connect(self._on_ttft_value_refused)
        self._idle.value_refused.connect(self._on_idle_value_refused)
        self._total_timeout.value_refused.connect(self._on_total_timeout_value_refused)
        self._retries.value_refused.connect(self._on_retries_value_refused)
        self._answer_cap.value_refused.connect(self._on_answer_cap_value_refused)
        self._budget.value_refused.connect(self._on_budget_value_refused)

        policy_row = QHBoxLayout()
        self._policy_group = QButtonGroup(self)
        self._policy_buttons: dict[ErrorPolicy, QRadioButton] = {}
        for policy, text in (
            (ErrorPolicy.ISOLATE, "Isolate"),
            (ErrorPolicy.FAIL_FAST, "Fail fast"),
        ):
            button = QRadioButton(text, self)
            button.setObjectName(f"policy_{policy.value}")
            button.setToolTip(_POLICY_TIPS[policy])
            self._policy_group.addButton(button)
            self._policy_buttons[policy] = button
            policy_row.addWidget(button)
        policy_row.addStretch(1)
        self._policy_group.buttonToggled.connect(self._on_policy_group_toggled)
        form.addRow("On error", policy_row)
        self._build_cache_rows(form)

        # Says why a typed limit was refused, and the accepted range; cleared by the next value.
        self._issue = IssueLabel(self)
        self._issue.setObjectName("limitsIssue")
        root.addWidget(self._issue)

        self._hint = QLabel(_HINT_IDLE, self)
        self._hint.setObjectName("concurrencyHint")
        self._hint.setWordWrap(True)
        self._hint.setEnabled(False)  # the disabled palette is the muted "small print" colour
        root.addWidget(self._hint)

        root.addSpacing(6)
        header = QHBoxLayout()
        title = QLabel("Live", self)
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        header.addWidget(title)
        header.addStretch(1)
        self._total = self._fixed_label("of 888888 cells", Qt.AlignmentFlag.AlignRight)
        self._total.setObjectName("gaugeTotal")
        self._total.setText("no run")
        header.addWidget(self._total)
        root.addLayout(header)

        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        grid.setColumnStretch(2, 1)
        for row, (key, text, phase) in enumerate(_GAUGES):
            name = QLabel(text, self)
            number = self._fixed_label("888888", Qt.AlignmentFlag.AlignRight)
            number.setObjectName(f"gauge_{key}")
            number.setText("0")
            bar = _GaugeBar(phase, self)
            bar.setObjectName(f"gaugeBar_{key}")
            grid.addWidget(name, row, 0)
            grid.addWidget(number, row, 1)
            grid.addWidget(bar, row, 2, Qt.AlignmentFlag.AlignVCenter)
            self._gauge_numbers[key] = number
            self._gauge_bars[key] = bar
        root.addLayout(grid)
        root.addWidget(self._build_judge_lane())
        root.addStretch(1)

    def _build_cache_rows(self, form: QFormLayout) -> None:
        """The response cache (issue 15): the opt-in switch, then "Clear" and the cache's size.

        Two narrow rows: the dock is as wide as its widest row, and a wider dock narrows the
        results beside it.
        """
        self._cache_check = QCheckBox("Reuse answers", self)
        self._cache_check.setObjectName("cacheCheck")
        self._cache_check.setToolTip(
            "Answer a cell from the response cache in the data folder when an earlier run "
            "sent the same messages to the same model, server and parameters (no request, "
            "no cost; the cell is marked cached). Temperature above 0 and repeats bypass it "
            "unless a seed is set."
        )
        self._cache_check.toggled.connect(self._on_cache_check_toggled)
        form.addRow("Cache", self._cache_check)
        row = QWidget(self)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        self._clear_cache = QToolButton(row)
        self._clear_cache.setText("Clear")
        self._clear_cache.setObjectName("clearCacheButton")
        self._clear_cache.setToolTip("Clear cache: forget every cached answer.")
        self._clear_cache.clicked.connect(self._on_clear_cache_clicked)
        layout.addWidget(self._clear_cache)
        self._cache_size = QLabel(row)
        self._cache_size.setObjectName("cacheSize")
        self._cache_size.setWordWrap(True)
        self._cache_size.setEnabled(False)  # the muted "small print" colour
        self._cache_size.hide()
        layout.addWidget(self._cache_size, 1)
        form.addRow("", row)

    def set_cache_size(self, description: str | None) -> None:
        """Show the cache's size under its switch (``None``: not known yet)."""
        if description is None:
            self._cache_size.hide()
            self._clear_cache.setToolTip("Clear cache: forget every cached answer.")
            return
        self._cache_size.setText(f"holds {description}")
        self._cache_size.show()
        self._clear_cache.setToolTip(f"Clear cache ({description}): forget every cached answer.")
        self._clear_cache.setEnabled(not description.startswith("0 "))

    def cache_size_text(self) -> str:
        """What the line under the cache switch says (``""`` while the size is not known)."""
        return self._cache_size.text() if not self._cache_size.isHidden() else ""

    def _on_cache_check_toggled(self, checked: bool) -> None:
        self._emit_limit(cache=checked)

    def _on_clear_cache_clicked(self) -> None:
        self.cache_clear_requested.emit()

    def _build_judge_lane(self) -> QWidget:
        """The LLM judge's lane (issue 13): its calls in flight, queued, done and failed
        under its own limit; shown while the shown run has a judge."""
        self._judge_lane = QWidget(self)
        self._judge_lane.setObjectName("judgeLane")
        lane = QVBoxLayout(self._judge_lane)
        lane.setContentsMargins(0, 6, 0, 0)
        header = QHBoxLayout()
        title = QLabel("Judge", self._judge_lane)
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        header.addWidget(title)
        header.addStretch(1)
        # Editable like Max concurrency above: the run's judge takes it for calls not
        # started yet, and the Judge page (the next run, the workspace) with it.
        header.addWidget(QLabel("at most", self._judge_lane))
        self.judge_limit_spin = RangeSpinBox(self._judge_lane)
        self.judge_limit_spin.setObjectName("judgeLaneLimit")
        self.judge_limit_spin.setRange(1, 1000)
        self.judge_limit_spin.setToolTip(
            "Judge calls at once (1 to 1000), apart from the cells' limit. A change applies "
            "to the calls not started yet."
        )
        self.judge_limit_spin.valueChanged.connect(self._on_judge_limit_spin_value_changed)
        header.addWidget(self.judge_limit_spin)
        self._judge_limit = self._fixed_label("· 888888 calls", Qt.AlignmentFlag.AlignRight)
        self._judge_limit.setObjectName("judgeLimit")
        header.addWidget(self._judge_limit)
        lane.addLayout(header)
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        grid.setColumnStretch(2, 1)
        self._judge_numbers: dict[str, QLabel] = {}
        self._judge_bars: dict[str, _GaugeBar] = {}
        for row, (key, text, phase) in enumerate(_JUDGE_GAUGES):
            name = QLabel(text, self._judge_lane)
            number = self._fixed_label("888888", Qt.AlignmentFlag.AlignRight)
            number.setObjectName(f"judgeGauge_{key}")
            number.setText("0")
            bar = _GaugeBar(phase, self._judge_lane)
            grid.addWidget(name, row, 0)
            grid.addWidget(number, row, 1)
            grid.addWidget(bar, row, 2, Qt.AlignmentFlag.AlignVCenter)
            self._judge_numbers[key] = number
            self._judge_bars[key] = bar
        lane.addLayout(grid)
        self._judge_values: tuple[int, ...] = ()
        self._judge_lane.hide()
        return self._judge_lane

    def _seconds_spin(self, name: str, bounds: tuple[float, float], tip: str) -> RangeDoubleSpinBox:
        spin = RangeDoubleSpinBox(self)
        spin.setObjectName(name)
        spin.setDecimals(2)
        spin.setRange(*bounds)
        spin.setSingleStep(5.0)
        spin.setSuffix(" s")
        spin.setToolTip(tip)
        return spin

    def _fixed_label(self, widest: str, align: Qt.AlignmentFlag) -> QLabel:
        # A fixed size (min == max) keeps QLabel.setText from asking the parent to relayout.
        label = QLabel(self)
        metrics = label.fontMetrics()
        label.setFixedSize(metrics.horizontalAdvance(widest) + 2, metrics.height())
        label.setAlignment(align | Qt.AlignmentFlag.AlignVCenter)
        return label

    # -- public API ---------------------------------------------------------------------

    @property
    def issue_label(self) -> IssueLabel:
        """The line that says why a typed limit was refused (hidden when none was)."""
        return self._issue

    def limits(self) -> Limits:
        """The limits the controls show (requests per second 0 -> ``None``)."""
        rps = self._rps.value()
        return replace(
            self._base,
            max_concurrency=self._max_concurrency.value(),
            requests_per_second=rps if rps > 0 else None,
            ttft_timeout=self._ttft.value(),
            idle_timeout=self._idle.value(),
            total_timeout=self._total_timeout.value() or None,
            retries=self._retries.value(),
            max_answer_chars=self._answer_cap.value(),
            error_policy=self._policy(),
            budget_usd=self._budget.value() or None,
            cache=self._cache_check.isChecked(),
        )

    def set_limits(self, limits: Limits) -> None:
        """Show ``limits``; does not emit :attr:`limits_changed`.

        A first-token or idle timeout of ``None`` shows (and :meth:`limits` then returns) the
        longest accepted timeout, since those controls have no "none" value; a total timeout
        of ``None`` shows "off".
        """
        self._base = limits
        self._loading = True
        try:
            self._max_concurrency.setValue(limits.max_concurrency)
            self._rps.setValue(limits.requests_per_second or 0.0)
            longest = Limits.TIMEOUT_RANGE[1]
            self._ttft.setValue(limits.ttft_timeout if limits.ttft_timeout is not None else longest)
            self._idle.setValue(limits.idle_timeout if limits.idle_timeout is not None else longest)
            self._total_timeout.setValue(limits.total_timeout or 0.0)
            self._retries.setValue(limits.retries)
            self._answer_cap.setValue(limits.max_answer_chars)
            self._budget.setValue(limits.budget_usd or 0.0)
            self._policy_buttons[ErrorPolicy(limits.error_policy)].setChecked(True)
            self._cache_check.setChecked(limits.cache)
        finally:
            self._loading = False

    def strategy(self) -> Strategy:
        """The selected strategy."""
        return Strategy(self._strategy.currentData())

    def set_strategy(self, strategy: Strategy | str) -> None:
        """Select ``strategy``; does not emit :attr:`strategy_changed`."""
        index = self._strategy.findData(Strategy(strategy))
        self._loading = True
        try:
            self._strategy.setCurrentIndex(index)
        finally:
            self._loading = False
        self._strategy.setToolTip(STRATEGY_TIPS[self.strategy()])

    def set_run_active(self, active: bool) -> None:
        """Freeze the strategy during a run; limits stay editable (they apply live)."""
        self._run_active = active
        self._strategy.setEnabled(not active)
        self._hint.setText(_HINT_ACTIVE if active else _HINT_IDLE)

    def set_gauges(
        self, in_flight: int, waiting: int, done: int, failed: int, cancelled: int, total: int
    ) -> None:
        """Show live counts; each bar is relative to ``total``. Cheap: no relayout."""
        values = (in_flight, waiting, done, failed, cancelled, total)
        if values == self._gauge_values:
            return
        self._gauge_values = values
        self._total.setText(f"of {total} cells")
        denominator = max(total, 1)
        for (key, _text, _phase), value in zip(_GAUGES, values, strict=False):
            self._gauge_numbers[key].setText(str(value))
            self._gauge_bars[key].set_fraction(value / denominator)

    def set_judge_lane(
        self, in_flight: int, queued: int, done: int, failed: int, limit: int
    ) -> None:
        """Show the judge lane's live counts under its own ``limit``. Cheap: no relayout."""
        values = (in_flight, queued, done, failed, limit)
        self._judge_lane.show()
        if values == self._judge_values:
            return
        self._judge_values = values
        calls = queued + in_flight + done + failed
        self._judge_limit.setText(f"· {calls} calls")
        spin = self.judge_limit_spin
        if spin.value() != limit and not spin.hasFocus():  # never under the user's typing
            spin.blockSignals(True)
            spin.setValue(limit)
            spin.blockSignals(False)
        denominator = max(calls, 1)
        for (key, _text, _phase), value in zip(_JUDGE_GAUGES, values, strict=False):
            self._judge_numbers[key].setText(str(value))
            self._judge_bars[key].set_fraction(value / denominator)

    def hide_judge_lane(self) -> None:
        """The shown run has no judge."""
        self._judge_lane.hide()
        self._judge_values = ()

    def judge_lane_values(self) -> dict[str, int] | None:
        """The judge lane's numbers as shown (``None`` when hidden): for tests."""
        if self._judge_lane.isHidden():
            return None
        return {key: int(self._judge_numbers[key].text()) for key, _t, _p in _JUDGE_GAUGES}

    # -- slots --------------------------------------------------------------------------

    def _on_judge_limit_spin_value_changed(self, value: int) -> None:
        self.judge_limit_changed.emit(value)

    def _policy(self) -> ErrorPolicy:
        if self._policy_buttons[ErrorPolicy.FAIL_FAST].isChecked():
            return ErrorPolicy.FAIL_FAST
        return ErrorPolicy.ISOLATE

    def _emit_limit(self, **change: Any) -> None:
        if self._loading:
            return
        self._issue.show_message(None)  # a value was accepted: the refusal is history
        self.limits_changed.emit(dict(change))

    def _refused(
        self, name: str, value: float, bounds: tuple[float, float], note: str = ""
    ) -> None:
        message = range_problem(name, value, bounds) or f"{name} {value:g} is out of range."
        if note:
            message = f"{message[:-1]} {note}."
        self._issue.show_message(message, "error")

    def _on_max_concurrency_value_refused(self, value: float) -> None:
        self._refused("Max concurrency", value, Limits.MAX_CONCURRENCY_RANGE)

    def _on_rps_value_refused(self, value: float) -> None:
        self._refused("Requests per second", value, Limits.RPS_RANGE, "(or 0 for no cap)")

    def _on_ttft_value_refused(self, value: float) -> None:
        self._refused("First-token timeout", value, Limits.TIMEOUT_RANGE)

    def _on_idle_value_refused(self, value: float) -> None:
        self._refused("Idle timeout", value, Limits.TIMEOUT_RANGE)

    def _on_total_timeout_value_refused(self, value: float) -> None:
        self._refused("Total timeout", value, Limits.TOTAL_TIMEOUT_RANGE, "(or 0 for off)")

    def _on_retries_value_refused(self, value: float) -> None:
        self._refused("Retries", value, Limits.RETRIES_RANGE)

    def _on_answer_cap_value_refused(self, value: float) -> None:
        self._refused("Answer size cap", value, Limits.ANSWER_CHARS_RANGE)

    def repeats(self) -> int:
        """Samples per cell (issue 15)."""
        return self.repeats_spin.value()

    def set_repeats(self, repeats: int) -> None:
        """Show ``repeats`` samples per cell (clamped to the accepted range)."""
        lo, hi = REPEATS_RANGE
        self.repeats_spin.setValue(min(max(repeats, lo), hi))

    def _on_repeats_spin_value_refused(self, value: float) -> None:
        self._refused("Samples per cell", value, REPEATS_RANGE)

    def _on_budget_value_refused(self, value: float) -> None:
        self._refused("Budget", value, (0.01, BUDGET_MAX_USD), "(or 0 for no budget)")

    def _on_budget_value_changed(self, value: float) -> None:
        self._emit_limit(budget_usd=value if value > 0 else None)

    def _on_strategy_index_changed(self, _index: int) -> None:
        strategy = self.strategy()
        self._strategy.setToolTip(STRATEGY_TIPS[strategy])
        if not self._loading:
            self.strategy_changed.emit(strategy)

    def _on_max_concurrency_value_changed(self, value: int) -> None:
        self._emit_limit(max_concurrency=value)

    def _on_rps_value_changed(self, value: float) -> None:
        self._emit_limit(requests_per_second=value if value > 0 else None)

    def _on_ttft_value_changed(self, value: float) -> None:
        self._emit_limit(ttft_timeout=value)

    def _on_idle_value_changed(self, value: float) -> None:
        self._emit_limit(idle_timeout=value)

    def _on_total_timeout_value_changed(self, value: float) -> None:
        self._emit_limit(total_timeout=value if value > 0 else None)

    def _on_retries_value_changed(self, value: int) -> None:
        self._emit_limit(retries=value)

    def _on_answer_cap_value_changed(self, value: int) -> None:
        self._emit_limit(max_answer_chars=value)

    def _on_policy_group_toggled(self, button: QRadioButton, checked: bool) -> None:
        if checked:  # the group also reports the button that was unchecked
            self._emit_limit(error_policy=self._policy())

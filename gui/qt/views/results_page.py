"""The Results tab: the grid of answers, under a banner when it shows a past run read-only.

It applies the session's frames to the grid itself (:meth:`ResultsPage.apply_frame`), as the
timeline does with :meth:`~gui.qt.widgets.timeline.TimelineWidget.apply_events`: the window
hands every frame to both and translates no event. The grid widget stays app-agnostic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gui.core import events as ev
from gui.core.ports import PastRun
from gui.core.runner import CANCELLED_BEFORE_START, Phase, Run
from gui.core.session import Counts
from gui.core.spec import CellId, RunSpec, Strategy
from gui.qt.resources import status_colors
from gui.qt.widgets.cell_store import CellStore
from gui.qt.widgets.results_grid import ResultsGrid

__all__ = ["ResultsPage"]


def _row_labels(spec: RunSpec) -> list[str]:
    return [" / ".join(str(v) for v in row.values()) or "prompt" for row in spec.rows]


def _phase(status: str) -> Phase:
    """A stored cell's status as a phase (an unknown one, from a newer version, as failed)."""
    try:
        return Phase(status)
    except ValueError:
        return Phase.FAILED


class ResultsPage(QWidget):
    """The results grid and the past-run banner.

    Signals:
        again_requested: "Run again" on the past-run banner.
        close_requested: "Close" on the past-run banner.
    """

    again_requested = Signal()
    close_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._build_ui()

    def _build_ui(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.past_banner = QWidget(self)
        self.past_banner.setObjectName("pastRunBanner")
        # Tinted like a "not live" chip, so a past run is never mistaken for the current one.
        bg, fg = status_colors(Phase.QUEUED)
        self.past_banner.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.past_banner.setStyleSheet(
            f"QWidget#pastRunBanner {{ background: {bg.name()}; }}"
            f" QLabel#pastRunLabel {{ color: {fg.name()}; font-weight: bold; }}"
        )
        bar = QHBoxLayout(self.past_banner)
        bar.setContentsMargins(8, 4, 8, 4)
        self.past_label = QLabel(self.past_banner)
        self.past_label.setObjectName("pastRunLabel")
        bar.addWidget(self.past_label, 1)
        again = QPushButton("Run again", self.past_banner)
        again.setToolTip("Load this run's template, inputs, models and limits, and run them")
        again.clicked.connect(self.again_requested)
        close = QPushButton("Close", self.past_banner)
        close.setToolTip("Leave the past run; the grid is empty until the next run")
        close.clicked.connect(self.close_requested)
        bar.addWidget(again)
        bar.addWidget(close)
        self.past_banner.hide()
        layout.addWidget(self.past_banner)
        #: The shown run's cells, shared by every layout.
        self.store = CellStore(self)
        self.grid = ResultsGrid(self, store=self.store)
        layout.addWidget(self.grid, 1)
        # For the window's View menu: every answer as its Markdown source, or rendered.
        self.raw_action = QAction("Raw text", self)
        self.raw_action.setCheckable(True)
        self.raw_action.setToolTip("Show every answer's Markdown source instead of rendering it")
        self.raw_action.toggled.connect(self.grid.set_raw)

    # ------------------------------------------------------------------ showing a run

    def show_run(self, run: Run) -> list[tuple[str, str]]:
        """Lay the grid out for ``run``, every cell queued; returns the timeline's rows."""
        self.leave_past()
        spec = run.spec
        cols = [m.display_name for m in spec.models]
        # Pane titles are "<row> × <model>", made by the grid for the panes it shows.
        store = self.store
        store.set_shape(_row_labels(spec), cols, CellId.grid(len(spec.rows), len(cols)))
        waiting = "waiting for a slot" if spec.strategy.concurrent else "queued"
        store.set_all_status(Phase.QUEUED, waiting)
        row_label = store.row_label  # numbered when a row repeats
        return [(c.id, f"{row_label(c.row)} × {cols[c.col]}") for c in run.cells]

    def show_past(self, past: PastRun, counts: Counts) -> None:
        """Show a stored run read-only, each cell as it ended."""
        spec = past.spec
        cols = [m.display_name for m in spec.models] or list(past.models)
        ids = CellId.grid(len(spec.rows), len(cols))
        store = self.store
        store.set_shape(_row_labels(spec), cols, ids)
        store.set_read_only(True)
        ended = {c.cell_id: c for c in past.cells}
        for row in ids:
            for cell_id in row:
                cell = ended.get(cell_id)
                if cell is None:  # an interrupted run: this cell never ended
                    store.set_status(cell_id, Phase.CANCELLED, "never ended")
                    store.set_error(cell_id, "The app stopped before this cell ended.")
                    continue
                done = cell.status == Phase.DONE
                error = "" if done else cell.error or ""
                never_started = cell.metrics is not None and cell.metrics.started_at is None
                if cell.status == Phase.CANCELLED and never_started:
                    # Stored by an older version as "partial text kept": there was none.
                    error = CANCELLED_BEFORE_START
                store.set_final_text(cell_id, cell.text, markdown=done)
                store.set_error(cell_id, error)
                store.set_status(cell_id, _phase(cell.status))
                store.set_metrics(cell_id, cell.metrics)
                # The stored text was cleaned when it was saved: only the notice says so.
                store.set_notice(cell_id, cell.notice or "")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(past.created_at))
        self.past_label.setText(
            f"Past run {past.id} from {when} · {past.status} · {counts.done}/{counts.total}"
            f" done · {spec.strategy} · read-only"
        )
        self.past_banner.show()

    def leave_past(self) -> None:
        """Back to live: no banner, panes offer Cancel and Retry again."""
        if self.past_banner.isVisible() or self.store.is_read_only():
            self.past_banner.hide()
            self.store.set_read_only(False)

    def retry_queued(self, cell_id: str) -> None:
        """``cell_id`` starts again: its old answer goes."""
        self.store.reset_cell(cell_id)
        self.store.set_status(cell_id, Phase.QUEUED, "retrying")

    # ------------------------------------------------------------------ one frame

    def apply_frame(
        self,
        texts: dict[str, str],
        events: Iterable[object],
        strategy_of: Callable[[str], Strategy],
    ) -> None:
        """Draw one frame: new text per cell first, then the cell events in order."""
        store = self.store
        if texts:
            store.append_texts(texts)
        for event in events:
            if isinstance(event, ev.CellStarted):
                streaming = strategy_of(event.run_id).streams
                detail = "waiting for first token" if streaming else "waiting for response"
                if event.attempt > 1:
                    detail = f"{detail} (attempt {event.attempt})"
                store.set_status(event.cell_id, Phase.RUNNING, detail)
            elif isinstance(event, ev.FirstToken):
                store.set_status(event.cell_id, Phase.STREAMING)
            elif isinstance(event, ev.CellRetrying):
                store.set_status(
                    event.cell_id,
                    Phase.RETRYING,
                    f"retrying {event.attempt}/{event.max_attempts} in {event.delay:.1f} s",
                )
                store.set_error(event.cell_id, event.reason)
            elif isinstance(event, ev.CellFinished):
                store.set_final_text(event.cell_id, event.text, markdown=True)
                store.set_error(event.cell_id, "")
                store.set_status(event.cell_id, Phase.DONE)
                store.set_metrics(event.cell_id, event.metrics)
            elif isinstance(event, ev.CellFailed):
                store.set_error(event.cell_id, event.message)
                store.set_status(event.cell_id, Phase.FAILED)
                store.set_metrics(event.cell_id, event.metrics)
            elif isinstance(event, ev.CellCancelled):
                store.set_error(event.cell_id, event.reason)
                store.set_status(event.cell_id, Phase.CANCELLED)
                store.set_metrics(event.cell_id, event.metrics)

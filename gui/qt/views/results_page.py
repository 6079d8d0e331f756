"""The Results tab: the grid of answers, under a banner when it shows a past run read-only.

It applies the session's frames to the grid itself (:meth:`ResultsPage.apply_frame`), as the
timeline does with :meth:`~gui.qt.widgets.timeline.TimelineWidget.apply_events`: the window
hands every frame to both and translates no event. The grid widget stays app-agnostic.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterable, Iterator

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gui.core import events as ev
from gui.core.ports import PastRun
from gui.core.runner import CANCELLED_BEFORE_START, Phase, Run
from gui.core.session import Counts
from gui.core.spec import CellId, RunSpec, Strategy
from gui.qt.resources import status_colors
from gui.qt.widgets.results_grid import ResultsGrid

__all__ = ["ResultsPage"]


def _row_labels(spec: RunSpec) -> list[str]:
    rows = spec.rows
    keys = list(rows[0]) if rows else []
    if len(keys) == 1 and set(map(len, rows)) == {1}:
        # One variable (the usual case): no join per row, the checks in C; at 10,000 rows
        # a Python loop per row showed at the press of Run.
        try:
            values = list(map(str, map(operator.itemgetter(keys[0]), rows)))
        except KeyError:  # another row names its one value differently
            values = [" / ".join(map(str, row.values())) for row in rows]
        return [value or "prompt" for value in values]
    return [" / ".join(map(str, row.values())) or "prompt" for row in rows]


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
        self.grid = ResultsGrid(self)
        layout.addWidget(self.grid, 1)

    # ------------------------------------------------------------------ showing a run

    def show_run(self, run: Run) -> Iterator[tuple[str, str]]:
        """Lay the grid out for ``run``, every cell queued; returns the timeline's rows.

        The rows (cell id, label) come lazily, in the run's cell order: the timeline reads
        them a slice at a time, so a 20,000-cell run start does not make them all at once.
        """
        self.leave_past()
        spec = run.spec
        cols = [m.display_name for m in spec.models]
        # Pane titles are "<row> × <model>", made by the grid for the panes it shows.
        self.grid.set_grid(_row_labels(spec), cols, CellId.grid(len(spec.rows), len(cols)))
        waiting = "waiting for a slot" if spec.strategy.concurrent else "queued"
        self.grid.set_all_status(Phase.QUEUED, waiting)
        row_label = self.grid.row_label  # numbered when a row repeats
        # Taken now: the grid may show another run before the timeline has read them all.
        rows = [row_label(r) for r in range(len(spec.rows))]
        text = CellId.text
        return (
            (text(r, c), f"{label} × {col}")
            for r, label in enumerate(rows)
            for c, col in enumerate(cols)
        )

    def show_past(self, past: PastRun, counts: Counts) -> None:
        """Show a stored run read-only, each cell as it ended."""
        spec = past.spec
        cols = [m.display_name for m in spec.models] or list(past.models)
        ids = CellId.grid(len(spec.rows), len(cols))
        grid = self.grid
        grid.set_grid(_row_labels(spec), cols, ids)
        grid.set_read_only(True)
        ended = {c.cell_id: c for c in past.cells}
        for row in ids:
            for cell_id in row:
                cell = ended.get(cell_id)
                if cell is None:  # an interrupted run: this cell never ended
                    grid.set_status(cell_id, Phase.CANCELLED, "never ended")
                    grid.set_error(cell_id, "The app stopped before this cell ended.")
                    continue
                done = cell.status == Phase.DONE
                error = "" if done else cell.error or ""
                never_started = cell.metrics is not None and cell.metrics.started_at is None
                if cell.status == Phase.CANCELLED and never_started:
                    # Stored by an older version as "partial text kept": there was none.
                    error = CANCELLED_BEFORE_START
                grid.set_final_text(cell_id, cell.text, markdown=done)
                grid.set_error(cell_id, error)
                grid.set_status(cell_id, _phase(cell.status))
                grid.set_metrics(cell_id, cell.metrics)
                # The stored text was cleaned when it was saved: only the notice says so.
                grid.set_notice(cell_id, cell.notice or "")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(past.created_at))
        self.past_label.setText(
            f"Past run {past.id} from {when} · {past.status} · {counts.done}/{counts.total}"
            f" done · {spec.strategy} · read-only"
        )
        self.past_banner.show()

    def leave_past(self) -> None:
        """Back to live: no banner, panes offer Cancel and Retry again."""
        if self.past_banner.isVisible() or self.grid.is_read_only():
            self.past_banner.hide()
            self.grid.set_read_only(False)

    def retry_queued(self, cell_id: str) -> None:
        """``cell_id`` starts again: its old answer goes."""
        self.grid.reset_cell(cell_id)
        self.grid.set_status(cell_id, Phase.QUEUED, "retrying")

    # ------------------------------------------------------------------ one frame

    def apply_frame(
        self,
        texts: dict[str, str],
        events: Iterable[object],
        strategy_of: Callable[[str], Strategy],
    ) -> None:
        """Draw one frame: new text per cell first, then the cell events in order."""
        grid = self.grid
        if texts:
            grid.append_texts(texts)
        for event in events:
            if isinstance(event, ev.CellStarted):
                streaming = strategy_of(event.run_id).streams
                detail = "waiting for first token" if streaming else "waiting for response"
                if event.attempt > 1:
                    detail = f"{detail} (attempt {event.attempt})"
                grid.set_status(event.cell_id, Phase.RUNNING, detail)
            elif isinstance(event, ev.FirstToken):
                grid.set_status(event.cell_id, Phase.STREAMING)
            elif isinstance(event, ev.CellRetrying):
                grid.set_status(
                    event.cell_id,
                    Phase.RETRYING,
                    f"retrying {event.attempt}/{event.max_attempts} in {event.delay:.1f} s",
                )
                grid.set_error(event.cell_id, event.reason)
            elif isinstance(event, ev.CellFinished):
                grid.set_final_text(event.cell_id, event.text, markdown=True)
                grid.set_error(event.cell_id, "")
                grid.set_status(event.cell_id, Phase.DONE)
                grid.set_metrics(event.cell_id, event.metrics)
            elif isinstance(event, ev.CellFailed):
                grid.set_error(event.cell_id, event.message)
                grid.set_status(event.cell_id, Phase.FAILED)
                grid.set_metrics(event.cell_id, event.metrics)
            elif isinstance(event, ev.CellCancelled):
                grid.set_error(event.cell_id, event.reason)
                grid.set_status(event.cell_id, Phase.CANCELLED)
                grid.set_metrics(event.cell_id, event.metrics)

"""The cost estimate next to Run: recomputed in a worker thread when the plan changes.

A change to the prompt, the inputs, the models or the limits starts a short timer; when it
fires, the editors' plan is built (a plan that cannot run shows no estimate) and the price
service counts it in a worker thread (:meth:`gui.qt.services.PriceService.estimate`). The
newest request wins: a change while one is counted cancels the wait for it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from gui.core.errors import SpecError, TemplateError
from gui.core.tasks import TaskOwner

if TYPE_CHECKING:
    from gui.compat.imports import BusyGate
    from gui.core.spec import RunSpec
    from gui.qt.services import HistoryService, PriceService
    from gui.qt.views.run_controls import RunControls
    from gui.qt.views.run_editors import RunEditors

__all__ = ["ESTIMATE_DELAY_MS", "RUN_SETTLE_MS", "EstimateBinding"]

#: Quiet time after the last edit before the estimate is recomputed: typing costs nothing.
ESTIMATE_DELAY_MS = 400

#: How long after Run an estimate that fell due waits: a big run's first second lays out
#: its grid and timeline and records thousands of cells, and the count's worker thread
#: beside it took the GIL from those turns (a 15 ms step of the GUI thread came 60-99 ms
#: late while a 20,000-cell plan was counted).
RUN_SETTLE_MS = 1500


class EstimateBinding(QObject):
    """Keeps the Run toolbar's estimate in step with the editors.

    Args:
        editors: The run's editors (the plan).
        controls: Where the estimate shows.
        prices: The price service that counts it.
        parent: The Qt parent (the window).
        history: Where each column's recent answer length is read (for columns without
            max tokens); ``None``: not used.
        gate: Whether the GUI thread is busy (the window's heartbeat): the count waits
            while it is; ``None``: it only hands the GIL over now and then.
    """

    def __init__(
        self,
        editors: RunEditors,
        controls: RunControls,
        prices: PriceService,
        parent: QObject | None = None,
        history: HistoryService | None = None,
        gate: BusyGate | None = None,
    ) -> None:
        super().__init__(parent)
        self._history = history
        self._gate = gate
        self._editors = editors
        self._controls = controls
        self._prices = prices
        self._tasks = TaskOwner()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(ESTIMATE_DELAY_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        editors.prompt.template_changed.connect(self.schedule)
        editors.inputs.rows_changed.connect(self.schedule)
        editors.models.profiles_changed.connect(self.schedule)
        editors.limits.limits_changed.connect(self.schedule)
        #: The last estimate's line, ``""`` when none shows.
        self.text = ""
        # Edits seen (schedule() calls), and the plan a run started with at edit number n.
        self._edits = 0
        self._started: tuple[RunSpec, int] | None = None
        # Held while a run is cancelled (hold/let_go), and whether an estimate fell due then.
        self._held = False
        self._due = False
        # Whether the tokenizer process has been asked for (once per window).
        self._tokenizer_asked = False

    def schedule(self, *_args: object) -> None:
        """Recompute the estimate once the user has stopped editing for a moment."""
        self._edits += 1
        self._timer.start(ESTIMATE_DELAY_MS)
        if not self._tokenizer_asked:
            self._start_tokenizer()

    def _start_tokenizer(self) -> None:
        """Start the tokenizer process now if the plan has a model it counts for: it gets
        ready (about 0.4 s, loading its encoding) while the estimate's timer runs, and the
        first count does not wait for all of it."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop runs the window (a plain Qt test)
            return
        self._tokenizer_asked = True
        self._tasks.spawn(self._ask_tokenizer(), "fanout-tokenizer-start", group="tokenizer")

    async def _ask_tokenizer(self) -> None:
        # The models are read in the task's first step, after the edit's: a plan loaded
        # whole sets its prompt (which schedules this) before its models.
        try:
            profiles = self._editors.models.profiles()
            self._tokenizer_asked = await self._prices.start_tokenizer(profiles)
        except Exception:  # the estimate starts it, or counts here, when its turn comes
            self._tokenizer_asked = False

    def run_started(self, spec: RunSpec) -> None:
        """Run started ``spec``, the editors' plan as they show it: the estimate that falls
        due counts it instead of building the plan again, unless an edit comes first.

        Building a 10,000-row plan takes milliseconds of the GUI thread; Run has just spent
        them, and the estimate's timer (pasted rows, then Run) fell due in the busy turns
        right after the run's start. An estimate due is put off to :data:`RUN_SETTLE_MS`
        after Run, so that its count does not share the GIL with the run's first turns.
        """
        self._started = (spec, self._edits)
        if self._timer.isActive():
            self._timer.start(max(self._timer.remainingTime(), RUN_SETTLE_MS))

    def hold(self) -> None:
        """Count nothing until :meth:`let_go`: a run is being cancelled, and its cells are
        drawn and recorded meanwhile (the count's worker thread would share the GIL with
        those turns, as with a run's first ones)."""
        self._held = True

    def let_go(self) -> None:
        """The cancelled run has ended: an estimate that fell due meanwhile, or falls due
        soon, comes :data:`RUN_SETTLE_MS` from now (past the turns right after the end)."""
        if not self._held:
            return
        self._held = False
        if self._due or self._timer.isActive():
            self._due = False
            self._timer.start(max(self._timer.remainingTime(), RUN_SETTLE_MS))

    def stop(self) -> None:
        """Stop for good (the window closes)."""
        self._timer.stop()
        self._tasks.cancel_all()

    def _on_timer_timeout(self) -> None:
        if self._held:
            self._due = True
            return
        started, self._started = self._started, None
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop runs the window (a plain Qt test): nothing to count on
            return
        if started is not None and started[1] == self._edits:
            self._count(started[0])
            return
        if self._editors.prompt.parse_pending:
            # The user is typing: building the plan would force the template's parse now.
            # Its template_changed, after the pause, schedules the estimate again.
            return
        try:
            spec = self._editors.build_spec()
        except (TemplateError, SpecError):
            # The plan cannot run as it is (the editors say why when Run is pressed).
            self._show("")
            return
        self._count(spec)

    def _count(self, spec: RunSpec) -> None:
        self._tasks.spawn(
            self._estimate(spec), "fanout-cost-estimate", group="estimate", exclusive=True
        )

    async def _estimate(self, spec: RunSpec) -> None:
        try:
            estimate = await self._prices.estimate(spec, await self._recent(spec), self._gate)
        except Exception:
            # A count never blocks or fails anything: no estimate is shown instead.
            self._show("")
            return
        self._show(estimate.line())

    async def _recent(self, spec: RunSpec) -> dict[int, float]:
        """Per column without max tokens, its recent answers' mean length from the history."""
        if self._history is None:
            return {}
        wanted = [m.display_name for m in spec.models if m.max_tokens is None]
        if not wanted:
            return {}
        try:
            by_title = await self._history.recent_output_tokens(wanted)
        except Exception:  # an unreadable history: the estimate guesses instead
            return {}
        return {
            col: by_title[m.display_name]
            for col, m in enumerate(spec.models)
            if m.max_tokens is None and m.display_name in by_title
        }

    def _show(self, text: str) -> None:
        self.text = text
        self._controls.show_estimate(text)

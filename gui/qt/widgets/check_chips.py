"""A cell's check results as a row of chips: ✓/✗ and the check's name, hover for why.

One painted widget (no label per chip): a Grid of hundreds of panes gets one widget more per
pane, not one per check. Chips that do not fit are summed up in a last ``+N`` chip whose
tooltip lists them. The pass-rate colour (:func:`pass_rate_color`) is shared with the Tiles,
which paint it on each tile's border, and the pane's painted outline (its ``checks``
property).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QHelpEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from gui.core.checks import CheckResult, pass_rate
from gui.core.runner import Phase
from gui.qt.resources import status_colors

__all__ = ["CheckChips", "checks_summary", "pass_rate_color", "pass_rate_level"]

_PAD_X = 6
_GAP = 4
_RADIUS = 7


def pass_rate_level(results: Sequence[CheckResult]) -> str:
    """``pass`` (all passed), ``fail`` (none), ``mixed``, or ``""`` with no results: the
    ``checks`` property a pane paints its outline by."""
    rate = pass_rate(results)
    if rate is None:
        return ""
    return "pass" if rate >= 1 else "fail" if rate <= 0 else "mixed"


def pass_rate_color(rate: float) -> QColor:
    """The colour of a pass rate: the done chip's green at 1, the failed chip's red at 0,
    amber between (the stronger the more passed)."""
    if rate >= 1:
        return status_colors(Phase.DONE)[1]
    if rate <= 0:
        return status_colors(Phase.FAILED)[1]
    return QColor.fromHsvF(0.08 + 0.12 * rate, 0.85, 0.85)


def checks_summary(results: Sequence[CheckResult]) -> str:
    """``2/3 checks`` (passed of all), or ``""`` with no results."""
    if not results:
        return ""
    return f"{sum(r.passed for r in results)}/{len(results)} checks"


class CheckChips(QWidget):
    """The chips of one cell's check results; hidden while there are none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._results: tuple[CheckResult, ...] = ()
        self._rects: list[QRect] = []
        self._hidden_from = 0  # index of the first result not drawn as its own chip
        self._build_ui()

    def _build_ui(self) -> None:
        self.setObjectName("checkChips")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)
        self.hide()

    # ------------------------------------------------------------------ data

    def set_results(self, results: Sequence[CheckResult]) -> None:
        """Show ``results`` (``()`` hides the row)."""
        self._results = tuple(results)
        self.setVisible(bool(self._results))
        rate = pass_rate(self._results)
        self.setAccessibleName(
            f"{checks_summary(self._results)}, pass rate {rate:.0%}" if rate is not None else ""
        )
        self.updateGeometry()
        self.update()

    def results(self) -> tuple[CheckResult, ...]:
        """The results shown."""
        return self._results

    def chip_texts(self) -> list[str]:
        """Each chip's text as drawn, the ``+N`` chip included (tests read it)."""
        self._layout_chips()
        texts = [self._chip_text(r) for r in self._results[: self._hidden_from]]
        if self._hidden_from < len(self._results):
            texts.append(f"+{len(self._results) - self._hidden_from}")
        return texts

    def tooltip_at(self, pos: QPoint) -> str:
        """The tooltip of the chip under ``pos`` (its name, verdict and detail), or ``""``."""
        self._layout_chips()
        for index, rect in enumerate(self._rects):
            if rect.contains(pos):
                if index >= self._hidden_from:
                    return "\n".join(self._tip(r) for r in self._results[self._hidden_from :])
                return self._tip(self._results[index])
        return ""

    @staticmethod
    def _tip(result: CheckResult) -> str:
        verdict = "passed" if result.passed else "failed"
        weight = f" (weight {result.weight:g})" if result.weight != 1 else ""
        return f"{result.name}{weight}: {verdict}: {result.detail}"

    @staticmethod
    def _chip_text(result: CheckResult) -> str:
        return f"{'✓' if result.passed else '✗'} {result.name}"

    # ------------------------------------------------------------------ geometry

    def sizeHint(self) -> QSize:
        return QSize(120, QFontMetrics(self.font()).height() + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(40, QFontMetrics(self.font()).height() + 4)

    def chip_rects(self) -> list[QRect]:
        """Where each chip is drawn (tests hover them)."""
        self._layout_chips()
        return list(self._rects)

    def _layout_chips(self) -> None:
        """Chip rectangles left to right; what does not fit goes into a ``+N`` chip."""
        metrics = QFontMetrics(self.font())
        height = metrics.height() + 2
        width = max(self.width(), 1)
        rects: list[QRect] = []
        x = 0
        n = len(self._results)
        self._hidden_from = n
        for index, result in enumerate(self._results):
            text = self._chip_text(result)
            w = min(metrics.horizontalAdvance(text) + 2 * _PAD_X, 160)
            rest = n - index - 1
            more = metrics.horizontalAdvance(f"+{rest + 1}") + 2 * _PAD_X + _GAP if rest else 0
            if x + w + more > width and index > 0:
                self._hidden_from = index
                plus = metrics.horizontalAdvance(f"+{n - index}") + 2 * _PAD_X
                rects.append(QRect(x, 1, plus, height))
                break
            rects.append(QRect(x, 1, w, height))
            x += w + _GAP
        self._rects = rects

    # ------------------------------------------------------------------ painting

    def paintEvent(self, event: QPaintEvent) -> None:
        if not self._results:
            return
        # Laid out here, with the font and width the widget paints with (a pane's font is
        # settled by its style only once it is shown).
        self._layout_chips()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        metrics = QFontMetrics(self.font())
        ok_bg, ok_fg = status_colors(Phase.DONE)
        bad_bg, bad_fg = status_colors(Phase.FAILED)
        more_bg, more_fg = status_colors(Phase.QUEUED)
        for index, rect in enumerate(self._rects):
            if index >= self._hidden_from:
                bg, fg, text = more_bg, more_fg, f"+{len(self._results) - index}"
            else:
                result = self._results[index]
                bg, fg = (ok_bg, ok_fg) if result.passed else (bad_bg, bad_fg)
                text = self._chip_text(result)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(bg)
            painter.drawRoundedRect(rect, _RADIUS, _RADIUS)
            painter.setPen(fg)
            inner = rect.adjusted(_PAD_X, 0, -_PAD_X, 0)
            shown = text
            if metrics.horizontalAdvance(text) > inner.width():  # only a chip at its cap:
                # elidedText cuts a text exactly as wide as the width it is given.
                shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, inner.width())
            painter.drawText(
                inner, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, shown
            )
        painter.end()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            tip = self.tooltip_at(event.pos())
            if tip:
                QToolTip.showText(event.globalPos(), tip, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

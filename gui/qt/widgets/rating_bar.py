"""Rating controls every layout shares: a bar of buttons (Focus, the arena) and a Rate menu
(Grid panes, Tiles).

Both only say what the user asked for, as ``(action, stars)`` with an action of
:class:`gui.core.ratings.RatingAction`; whoever owns the run applies it
(:func:`gui.core.ratings.edit_rating`), keeps best-in-row unique and stores it. The keys the
layouts bind are in :data:`RATING_KEYS`, shown in every tooltip.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QMenu, QToolButton, QWidget

from gui.core.ratings import MAX_STARS, Rating, RatingAction

__all__ = ["RATING_KEYS", "RatingBar", "add_rating_menu", "rating_key_actions"]

#: Keys of the Focus view and the arena: 1-5 stars, 0 clears, U/+ and D/- thumbs, B best.
RATING_KEYS: dict[str, tuple[RatingAction, int]] = {
    **{str(n): (RatingAction.STARS, n) for n in range(1, MAX_STARS + 1)},
    "0": (RatingAction.CLEAR, 0),
    "U": (RatingAction.THUMB_UP, 0),
    "+": (RatingAction.THUMB_UP, 0),
    "D": (RatingAction.THUMB_DOWN, 0),
    "-": (RatingAction.THUMB_DOWN, 0),
    "B": (RatingAction.BEST, 0),
}


def rating_key_actions() -> list[tuple[str, RatingAction, int]]:
    """Every rating key with what it does, for binding as shortcuts."""
    return [(key, action, stars) for key, (action, stars) in RATING_KEYS.items()]


def _star_tip(n: int) -> str:
    return f"{n} star{'s' if n > 1 else ''} ({n}; press again to keep, 0 clears)"


class RatingBar(QWidget):
    """Five stars, thumbs up and down, Best in row and Clear, as small toggle buttons.

    Signals:
        rating_requested(str, int): a button was pressed: a :class:`RatingAction` value and
            the stars (for ``stars``).
    """

    rating_requested = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rating: Rating | None = None
        self._build_ui()
        self.set_rating(None)

    def _build_ui(self) -> None:
        self.setObjectName("ratingBar")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.stars: list[QToolButton] = []
        for n in range(1, MAX_STARS + 1):
            button = self._tool("☆", _star_tip(n), RatingAction.STARS, n)
            button.setObjectName(f"ratingStar{n}")
            self.stars.append(button)
            row.addWidget(button)
        row.addSpacing(4)
        self.up = self._tool("✓", "Thumbs up (U or +; again removes it)", RatingAction.THUMB_UP)
        self.down = self._tool(
            "✗", "Thumbs down (D or -; again removes it)", RatingAction.THUMB_DOWN
        )
        self.best = self._tool(
            "Best", "The best answer of this input (B; one per input)", RatingAction.BEST
        )
        self.clear = self._tool("Clear", "Remove this answer's rating (0)", RatingAction.CLEAR)
        for button in (self.up, self.down, self.best):
            button.setCheckable(True)
            row.addWidget(button)
        row.addWidget(self.clear)

    def _tool(self, text: str, tip: str, action: RatingAction, stars: int = 0) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        # Tab focus only: a clicked button keeps no focus, so the layout's keys stay its own.
        button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        button.clicked.connect(lambda _=False: self._on_button_clicked(action, stars))
        return button

    def set_rating(self, rating: Rating | None) -> None:
        """Show ``rating`` (``None``: nothing rated)."""
        self._rating = rating
        stars = (rating.stars or 0) if rating is not None else 0
        for n, button in enumerate(self.stars, start=1):
            button.setText("★" if n <= stars else "☆")
        thumb = rating.thumb if rating is not None else 0
        self.up.setChecked(thumb > 0)
        self.down.setChecked(thumb < 0)
        self.best.setChecked(rating is not None and rating.best)
        self.clear.setEnabled(rating is not None)

    def rating(self) -> Rating | None:
        """The rating shown."""
        return self._rating

    def _on_button_clicked(self, action: RatingAction, stars: int) -> None:
        # A checkable button toggles itself; the shown state comes back with set_rating.
        self.set_rating(self._rating)
        self.rating_requested.emit(str(action), stars)


def add_rating_menu(
    menu: QMenu,
    rating: Rating | None,
    enabled: bool,
    request: Callable[[str, int], None],
) -> QMenu:
    """Add a "Rate" submenu to ``menu`` (disabled while ``enabled`` is false: a cell that
    has not ended yet); each entry calls ``request(action, stars)``."""
    sub = menu.addMenu("Rate")
    sub.setEnabled(enabled)
    stars = rating.stars if rating is not None else None
    for n in range(1, MAX_STARS + 1):
        entry = sub.addAction(f"{'★' * n}{'☆' * (MAX_STARS - n)}\t{n}")
        entry.setCheckable(True)
        entry.setChecked(stars == n)
        entry.triggered.connect(lambda _=False, n=n: request(str(RatingAction.STARS), n))
    sub.addSeparator()
    thumb = rating.thumb if rating is not None else 0
    for text, action, on in (
        ("✓ Thumbs up\tU", RatingAction.THUMB_UP, thumb > 0),
        ("✗ Thumbs down\tD", RatingAction.THUMB_DOWN, thumb < 0),
        ("Best in row\tB", RatingAction.BEST, rating is not None and rating.best),
    ):
        entry = sub.addAction(text)
        entry.setCheckable(True)
        entry.setChecked(on)
        entry.triggered.connect(lambda _=False, a=action: request(str(a), 0))
    sub.addSeparator()
    clear = sub.addAction("Clear rating\t0")
    clear.setEnabled(rating is not None)
    clear.triggered.connect(lambda _=False: request(str(RatingAction.CLEAR), 0))
    return sub

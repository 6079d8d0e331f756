"""The user's price table, ``prices.json`` in the data folder.

The file holds only what the user set (added models, changed prices); the starter table
(:data:`gui.core.pricing.STARTER_PRICES`, dated) comes with the app and lies under it, so a
newer app's starter prices reach users who never edited a price. An unreadable file is set
aside and the table starts from the starter prices, with a one-line notice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from gui.core.pricing import (
    STARTER_PRICES,
    PriceEntry,
    PriceTable,
    entries_from_list,
    entries_to_list,
)
from gui.storage import paths
from gui.storage.jsonfile import set_aside, write_atomic

log = logging.getLogger(__name__)

_FORMAT = 1
FILE_NAME = "prices.json"


class PriceStore:
    """Reads and writes the user's price entries.

    Args:
        path: The JSON file; default ``prices.json`` in the data directory.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        #: One line for the user when the last :meth:`load` had to set a broken file aside.
        self.notice: str | None = None

    @property
    def path(self) -> Path:
        """The file (resolving the data folder may raise ``OSError``: it is made on first use)."""
        if self._path is None:
            self._path = paths.home() / FILE_NAME
        return self._path

    def load(self) -> tuple[PriceEntry, ...]:
        """The user's own entries, in the order saved; ``()`` when there is no file yet (or
        no usable data folder: the history says so already)."""
        self.notice = None
        try:
            path = self.path
        except OSError:
            return ()
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ()
        except OSError as exc:
            self.notice = f"Prices could not be read ({exc.strerror}): {self.path}"
            return ()
        try:
            data = json.loads(raw)
            items = data["prices"]
            if not isinstance(items, list):
                raise TypeError("'prices' is not a list")
        except Exception as exc:
            where = set_aside(self.path)
            log.warning("unreadable price file %s: %s", self.path, exc)
            self.notice = (
                f"Prices were unreadable ({type(exc).__name__}); the file was {where} and the "
                "starter prices apply."
            )
            return ()
        return entries_from_list(items)

    def table(self) -> PriceTable:
        """The starter prices with the user's entries on top."""
        return PriceTable(STARTER_PRICES).with_entries(self.load())

    def save(self, entries: Sequence[PriceEntry]) -> None:
        """Replace the file with ``entries`` (atomically, readable by the user only).

        Raises:
            OSError: the data directory is not writable.
        """
        text = json.dumps({"format": _FORMAT, "prices": entries_to_list(entries)}, indent=2) + "\n"
        write_atomic(self.path, text)

"""A collapsible tree of one JSON value: a structured answer's fields, nested as they came.

A ``QTreeView`` over a ``QStandardItemModel``, two columns (field, value): an object or a list
is a node that says how many fields or items it holds and opens to them; a scalar shows its
JSON (strings without quotes). Built once per answer (when the cell ends or is shown), never
per token; an answer with more than :data:`MAX_NODES` nodes shows the first ones and says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeView, QWidget

__all__ = ["MAX_NODES", "JsonTree"]

#: Most nodes one tree builds (a pathological answer must not freeze the window).
MAX_NODES = 5_000


class JsonTree(QTreeView):
    """The parsed JSON of a structured answer as a tree (read-only)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = QStandardItemModel(0, 2, self)
        self._model.setHorizontalHeaderLabels(["Field", "Value"])
        self._nodes = 0
        self._build_ui()

    def _build_ui(self) -> None:
        self.setObjectName("jsonTree")
        self.setModel(self._model)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setStretchLastSection(True)

    def set_value(self, value: Any) -> None:
        """Show ``value`` (any JSON value); the first level opens, deeper ones stay closed."""
        self._model.removeRows(0, self._model.rowCount())
        self._nodes = 0
        root = self._model.invisibleRootItem()
        if isinstance(value, Mapping | list):
            self._add_children(root, value)
        else:
            root.appendRow(self._row("(value)", value))
        self.expandToDepth(0)

    def clear_value(self) -> None:
        """Show nothing."""
        self._model.removeRows(0, self._model.rowCount())
        self._nodes = 0

    def node_count(self) -> int:
        """Rows built, all levels (tests and the cap read it)."""
        return self._nodes

    def _add_children(self, parent: QStandardItem, value: Mapping[str, Any] | list[Any]) -> None:
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        for key, child in items:
            if self._nodes >= MAX_NODES:
                parent.appendRow(
                    [QStandardItem("…"), QStandardItem(f"more than {MAX_NODES:,} fields")]
                )
                return
            row = self._row(f"[{key}]" if isinstance(key, int) else str(key), child)
            parent.appendRow(row)
            if isinstance(child, Mapping | list):
                self._add_children(row[0], child)

    def _row(self, name: str, value: Any) -> list[QStandardItem]:
        self._nodes += 1
        return [QStandardItem(name), QStandardItem(_summary(value))]


def _summary(value: Any) -> str:
    """What a node's value column says: a count for containers, the JSON of a scalar."""
    if isinstance(value, Mapping):
        n = len(value)
        return f"{{{n} field{'' if n == 1 else 's'}}}"
    if isinstance(value, list):
        n = len(value)
        return f"[{n} item{'' if n == 1 else 's'}]"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)

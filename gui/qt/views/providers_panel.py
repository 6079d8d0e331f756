"""Saved provider profiles: a list, an inline editor, and the API key kept in the system keyring.

A saved profile is a name plus a model profile (``profiles.json`` in the data directory,
without the key). Its key, when the user gives one, goes to the OS keyring and is held in
memory by name for runs; the key field never shows a saved key back. Files and the keyring
are reached through the profile and key services (:mod:`gui.qt.services`), which do their
work off the GUI thread: a keyring may block on D-Bus or an unlock prompt, and nothing here
may freeze the window. Nothing opens a modal dialog.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse

import shiboken6
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.core.runner import Phase
from gui.core.spec import ModelProfile, ProviderKind
from gui.core.tasks import TaskOwner
from gui.qt.resources import status_colors
from gui.qt.services import KeyService, ProfileService
from gui.qt.views.models_panel import ModelCard
from gui.qt.widgets.vertical_scroll import VerticalScrollArea
from gui.storage.profiles import PROVIDER_PRESETS, SavedProfile
from gui.storage.secrets import KeyStoreError

__all__ = ["ProvidersPanel"]

log = logging.getLogger(__name__)


def _subtitle(profile: ModelProfile) -> str:
    if profile.provider is ProviderKind.SIMULATED:
        return f"{profile.model} · simulated"
    host = urlparse(profile.base_url).netloc if profile.base_url else "api.openai.com"
    return f"{profile.model} · {host}"


class ProvidersPanel(QWidget):
    """The saved provider profiles, edited inline.

    Args:
        profiles: Where profiles are saved.
        keys: The keyring and the keys held for runs.

    Signals:
        profiles_saved(list[SavedProfile]): the list changed (loaded, saved or deleted).
        use_requested(SavedProfile): the user wants this profile as a grid column.
        notice(str): something the status bar should say (a recovered file).
    """

    profiles_saved = Signal(object)
    use_requested = Signal(object)
    notice = Signal(str)

    def __init__(
        self,
        profiles: ProfileService | None = None,
        keys: KeyService | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._profiles = profiles or ProfileService()
        self._keys = keys or KeyService()
        self._saved: list[SavedProfile] = []
        self._editing: str | None = None  # name of the saved profile in the editor; None = new
        self._card: ModelCard | None = None
        self._tasks = TaskOwner()
        self._build_ui()
        self._show_editor(None)

    # ------------------------------------------------------------------ construction

    def _build_ui(self) -> None:
        # The whole panel scrolls as one column: in a short window the editor keeps its
        # natural height (it used to be squeezed into a small inner scroll box).
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        content = QWidget(self)
        root = QVBoxLayout(content)
        root.setContentsMargins(6, 6, 6, 6)
        root.setSpacing(6)

        header = QHBoxLayout()
        title = QLabel("Saved profiles", self)
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        header.addWidget(title)
        header.addStretch(1)
        self._new_menu = QMenu("New profile", self)
        for preset in PROVIDER_PRESETS:
            action = self._new_menu.addAction(preset.text)
            action.setData(preset.key)
        self._new_menu.triggered.connect(self._on_new_menu_triggered)
        self.new_button = QToolButton(self)
        self.new_button.setObjectName("newProfileButton")
        self.new_button.setText("New ▾")
        self.new_button.setToolTip("A new profile from a kind of server")
        # popup(), not setMenu(): QToolButton opens its menu with exec(), a nested loop.
        self.new_button.clicked.connect(self._on_new_button_clicked)
        header.addWidget(self.new_button)
        root.addLayout(header)

        # The list and its "none yet" note share one slot of one height, so the editor
        # below does not jump when the first profile is saved.
        self._list_stack = QStackedWidget(content)
        self.list = QListWidget(self._list_stack)
        self.list.setObjectName("profilesList")
        self.list.currentItemChanged.connect(self._on_list_current_item_changed)
        self.list.itemDoubleClicked.connect(self._on_list_item_double_clicked)
        self.empty_label = QLabel(
            "No saved profiles yet. New ▾ starts one for OpenAI, Ollama, LM Studio, vLLM or "
            "a llama.cpp server.",
            self._list_stack,
        )
        self.empty_label.setWordWrap(True)
        self.empty_label.setEnabled(False)  # muted
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self._list_stack.addWidget(self.list)
        self._list_stack.addWidget(self.empty_label)
        self._list_stack.setCurrentWidget(self.empty_label)
        rows = 5  # about five profiles in view; more scroll inside the list
        self._list_stack.setFixedHeight(
            rows * self.list.fontMetrics().lineSpacing() + 2 * self.list.frameWidth() + 8
        )
        root.addWidget(self._list_stack)

        self.editor = QWidget(content)
        editor = QVBoxLayout(self.editor)
        editor.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.name_edit = QLineEdit(self.editor)
        self.name_edit.setObjectName("profileNameEdit")
        self.name_edit.setPlaceholderText("e.g. work OpenAI, home Ollama")
        self.name_edit.setToolTip("What menus show; also the name of the key in the keyring")
        form.addRow("Name", self.name_edit)
        editor.addLayout(form)

        self._card_slot = QVBoxLayout()
        editor.addLayout(self._card_slot)

        self.key_box = QWidget(self.editor)
        key_form = QFormLayout(self.key_box)
        key_form.setContentsMargins(0, 0, 0, 0)
        key_row = QHBoxLayout()
        self.key_edit = QLineEdit(self.key_box)
        self.key_edit.setObjectName("apiKeyEdit")
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setToolTip(
            "Saved in the system keyring when you press Save; never written to a file"
        )
        key_row.addWidget(self.key_edit, 1)
        self.forget_key_button = QToolButton(self.key_box)
        self.forget_key_button.setText("Forget")
        self.forget_key_button.setToolTip("Delete this profile's key from the keyring")
        self.forget_key_button.clicked.connect(self._on_forget_key_button_clicked)
        key_row.addWidget(self.forget_key_button)
        key_form.addRow("API key", key_row)
        self.keyring_label = QLabel("checking the system keyring…", self.key_box)
        self.keyring_label.setObjectName("keyringStatus")
        self.keyring_label.setWordWrap(True)
        self.keyring_label.setEnabled(False)  # muted
        key_form.addRow("", self.keyring_label)
        editor.addWidget(self.key_box)

        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save", self.editor)
        self.save_button.setObjectName("saveProfileButton")
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.use_button = QPushButton("Add to grid", self.editor)
        self.use_button.setObjectName("useProfileButton")
        self.use_button.setToolTip("Save, then add a grid column with this profile")
        self.use_button.clicked.connect(self._on_use_button_clicked)
        self.delete_button = QPushButton("Delete", self.editor)
        self.delete_button.setObjectName("deleteProfileButton")
        self.delete_button.setToolTip("Delete this saved profile and its key")
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.use_button)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        editor.addLayout(buttons)
        self.status_label = QLabel(self.editor)
        self.status_label.setObjectName("profileStatus")
        self.status_label.setWordWrap(True)
        editor.addWidget(self.status_label)
        root.addWidget(self.editor)
        root.addStretch(1)

        scroll = VerticalScrollArea(self)
        scroll.setWidget(content)
        outer.addWidget(scroll)

    # ------------------------------------------------------------------ public API

    def saved(self) -> list[SavedProfile]:
        """The saved profiles, in order."""
        return list(self._saved)

    def load(self) -> asyncio.Task[Any]:
        """Read the saved profiles and their keys (off the GUI thread)."""
        return self._spawn(self._load(), "fanout-profiles-load")

    def start_from(self, profile: ModelProfile) -> None:
        """Open the editor on a new profile copied from ``profile`` (a grid column)."""
        self._show_editor(None, replace(profile, key_ref=None, label=""))
        self.name_edit.setText(profile.display_name)
        self.name_edit.setFocus()
        self.name_edit.selectAll()

    def select(self, name: str) -> None:
        """Show the saved profile ``name`` in the editor."""
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(row)
                return

    async def wait_idle(self) -> None:
        """Wait for loads and saves in progress (tests and shutdown)."""
        await self._tasks.wait_idle()

    def shutdown(self) -> None:
        """Cancel work in progress (the window is closing)."""
        self._tasks.cancel_all()

    # ------------------------------------------------------------------ internals

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        return self._tasks.spawn(coro, name)

    async def _load(self) -> None:
        try:
            saved, notice = await self._profiles.load()
            await self._keys.load([p.profile.key_ref for p in saved if p.profile.key_ref])
        except Exception as exc:
            log.exception("loading saved profiles failed")
            self.notice.emit(f"Saved profiles could not be loaded: {type(exc).__name__}: {exc}")
            return
        if not shiboken6.isValid(self):
            return
        if notice:
            self.notice.emit(notice)
        self._set_saved(saved)
        self._refresh_key_row()

    def _set_saved(self, saved: list[SavedProfile], select: str | None = None) -> None:
        self._saved = saved
        self.list.blockSignals(True)
        self.list.clear()
        for item in saved:
            entry = QListWidgetItem(f"{item.name}  —  {_subtitle(item.profile)}")
            entry.setData(Qt.ItemDataRole.UserRole, item.name)
            entry.setToolTip(item.profile.provider_name)
            self.list.addItem(entry)
        # Entries this version cannot use are listed, greyed out, and kept in the file.
        unsupported = self._profiles.unsupported
        for bad in unsupported:
            entry = QListWidgetItem(f"{bad.name}  —  unsupported: {bad.reason}")
            entry.setFlags(Qt.ItemFlag.NoItemFlags)
            entry.setToolTip(
                "Saved by another version of Fanout Studio, or edited by hand: "
                "kept in the file as it is."
            )
            self.list.addItem(entry)
        self.list.blockSignals(False)
        shown = saved or unsupported
        self._list_stack.setCurrentWidget(self.list if shown else self.empty_label)
        self.profiles_saved.emit(list(saved))
        if select is not None:
            self.select(select)

    def _find(self, name: str | None) -> SavedProfile | None:
        return next((p for p in self._saved if p.name == name), None)

    def _show_editor(self, name: str | None, profile: ModelProfile | None = None) -> None:
        """Put a saved profile (or a new one from ``profile``) in the editor."""
        saved = self._find(name)
        self._editing = saved.name if saved else None
        if self._card is not None:
            self._card_slot.removeWidget(self._card)
            self._card.dispose()
        base = saved.profile if saved else profile
        self.editor.setVisible(base is not None)
        if base is None:
            self._card = None
            return
        self._card = ModelCard(base, self.editor, editor_only=True, keys=self._keys)
        self._card.label_edit.setPlaceholderText("empty = the profile's name")
        self._card.changed.connect(self._on_card_changed)
        self._card_slot.addWidget(self._card)
        self.name_edit.setText(saved.name if saved else "")
        self.key_edit.clear()
        self.delete_button.setEnabled(saved is not None)
        self._set_status("")
        self._refresh_key_row()

    def _refresh_key_row(self) -> None:
        card = self._card
        if card is None:
            return
        profile = card.profile()
        self.key_box.setVisible(profile.provider is ProviderKind.OPENAI)
        has_key = bool(self._editing and self._keys.held(self._editing))
        self.key_edit.setPlaceholderText(
            "saved in the system keyring (type to replace)"
            if has_key
            else "paste a key to save it in the system keyring"
        )
        self.forget_key_button.setEnabled(has_key)
        store = self._keys
        if not store.ready:
            self.keyring_label.setText("checking the system keyring…")
        elif store.available:
            self.keyring_label.setText(f"Keys are kept in the system keyring ({store.detail}).")
        else:
            self.keyring_label.setText(store.reason)
        self.key_edit.setEnabled(store.available)

    def _set_status(self, text: str, ok: bool = True) -> None:
        if text:
            _bg, color = status_colors(Phase.DONE if ok else Phase.FAILED)
            self.status_label.setStyleSheet(f"color: {color.name()};")
        self.status_label.setText(text)

    def _problem(self) -> str | None:
        name = self.name_edit.text().strip()
        if not name:
            return "Give the profile a name."
        if name != self._editing and self._find(name) is not None:
            return f"A profile called {name!r} exists already: pick another name."
        card = self._card
        return None if card is None else card.problem()

    async def _save(self) -> SavedProfile | None:
        problem = self._problem()
        card = self._card
        if problem is not None or card is None:
            self._set_status(f"Cannot save: {problem}", ok=False)
            return None
        name = self.name_edit.text().strip()
        old = self._editing
        typed_key = self.key_edit.text().strip()
        profile = card.profile()
        had_key = bool(old and self._keys.held(old))
        self.save_button.setEnabled(False)
        try:
            await self._keys.open()
            key_ref: str | None = None
            if profile.provider is ProviderKind.OPENAI and (typed_key or had_key):
                # A typed key replaces the saved one; a rename moves the saved one.
                key = typed_key or (await self._keys.get(old) if old else None)
                if key and (typed_key or old != name):
                    await self._keys.set(name, key)
                key_ref = name if key else None
                if old is not None and old != name and had_key:
                    await self._drop_key(old)
            saved = SavedProfile(name, replace(profile, key_ref=key_ref))
            current = [p for p in self._saved if p.name not in (old, name)]
            position = next(
                (i for i, p in enumerate(self._saved) if p.name == old), len(self._saved)
            )
            current.insert(min(position, len(current)), saved)
            await self._profiles.save(current)
        except KeyStoreError as exc:
            self._set_status(f"Cannot save the key: {exc}", ok=False)
            return None
        except OSError as exc:
            where = f" ({self._profiles.path})" if self._profiles.path else ""
            self._set_status(f"Cannot save: {exc.strerror or exc}{where}", ok=False)
            return None
        finally:
            if shiboken6.isValid(self.save_button):
                self.save_button.setEnabled(True)
        if not shiboken6.isValid(self):
            return saved
        self.key_edit.clear()
        self._set_saved(current)
        self._editing = name
        self.select(name)
        self._set_status(f"Saved {name!r}." + (" Its key is in the keyring." if key_ref else ""))
        self._refresh_key_row()
        return saved

    async def _use(self) -> None:
        saved = await self._save()
        if saved is not None:
            self.use_requested.emit(saved)

    async def _drop_key(self, name: str) -> None:
        """Delete ``name``'s key from the keyring and from memory."""
        await self._keys.delete(name)

    async def _delete(self) -> None:
        name = self._editing
        if name is None:
            return
        try:
            await self._drop_key(name)
            current = [p for p in self._saved if p.name != name]
            await self._profiles.save(current)
        except (KeyStoreError, OSError) as exc:
            self._set_status(f"Cannot delete: {exc}", ok=False)
            return
        if not shiboken6.isValid(self):
            return
        self._set_saved(current)
        self._show_editor(None)
        self.notice.emit(f"Deleted profile {name!r} and its key.")

    async def _forget_key(self) -> None:
        name = self._editing
        saved = self._find(name)
        if name is None or saved is None:
            return
        try:
            await self._drop_key(name)
            current = [
                SavedProfile(p.name, replace(p.profile, key_ref=None)) if p.name == name else p
                for p in self._saved
            ]
            await self._profiles.save(current)
        except (KeyStoreError, OSError) as exc:
            self._set_status(f"Cannot forget the key: {exc}", ok=False)
            return
        if not shiboken6.isValid(self):
            return
        self._set_saved(current, select=name)
        self._set_status(f"The key of {name!r} was deleted from the keyring.")
        self._refresh_key_row()

    # ------------------------------------------------------------------ slots

    def _on_new_button_clicked(self) -> None:
        below = self.new_button.mapToGlobal(QPoint(0, self.new_button.height()))
        self._new_menu.popup(below)

    def _on_new_menu_triggered(self, action: QAction) -> None:
        preset = next(p for p in PROVIDER_PRESETS if p.key == action.data())
        self.list.setCurrentRow(-1)
        self._show_editor(None, preset.profile())
        self.name_edit.setText(preset.text.split(" (")[0])
        self.name_edit.setFocus()
        self.name_edit.selectAll()

    def _on_list_current_item_changed(self, current: QListWidgetItem | None, _prev: Any) -> None:
        if current is not None:
            self._show_editor(current.data(Qt.ItemDataRole.UserRole))

    def _on_list_item_double_clicked(self, item: QListWidgetItem) -> None:
        saved = self._find(item.data(Qt.ItemDataRole.UserRole))
        if saved is not None:
            self.use_requested.emit(saved)

    def _on_card_changed(self) -> None:
        self._refresh_key_row()
        self._set_status("")

    def _on_save_button_clicked(self) -> None:
        self._spawn(self._save(), "fanout-profile-save")

    def _on_use_button_clicked(self) -> None:
        self._spawn(self._use(), "fanout-profile-use")

    def _on_delete_button_clicked(self) -> None:
        self._spawn(self._delete(), "fanout-profile-delete")

    def _on_forget_key_button_clicked(self) -> None:
        self._spawn(self._forget_key(), "fanout-profile-forget-key")

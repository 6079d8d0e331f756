"""The workspace file: what the window was editing, so the next start opens where the user left.

One JSON file in the data folder (:func:`gui.storage.paths.workspace_path`) holds the
template, the system message, the input table, the model columns, the strategy and limits,
and the window's layout (geometry, dock state and splitter sizes as the window reports them,
and the theme). Writes are atomic: a temporary file in the same folder, flushed, then
``os.replace``, so a crash mid-write leaves the previous file whole. A file this version
cannot read (corrupt JSON, a newer format, wrong shapes) is moved aside with a one-line
notice and the app starts with its defaults: a workspace file never stops the app.

No secret is ever written: profiles hold no key (see :attr:`gui.core.spec.ModelProfile.key_ref`)
and a password inside a base URL (``http://user:password@host``) is dropped before writing.

Qt-free and I/O-only on request: the window calls :meth:`WorkspaceStore.load` and
:meth:`WorkspaceStore.save` from a worker thread.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gui.core.checks import KINDS, Check, check_to_dict
from gui.core.spec import (
    JudgeSettings,
    Limits,
    ModelProfile,
    Strategy,
    judge_from_dict,
    judge_to_dict,
    limits_from_dict,
    limits_to_dict,
    profile_from_dict,
    profile_to_dict,
)
from gui.storage import paths
from gui.storage.jsonfile import set_aside, write_atomic

__all__ = ["FORMAT", "THEMES", "WindowLayout", "Workspace", "WorkspaceStore", "without_password"]

log = logging.getLogger(__name__)

#: The file format this version writes; a file with a higher number is set aside, not guessed.
FORMAT = 1

#: Themes the window knows (``system`` follows the platform).
THEMES = ("system", "light", "dark")


@dataclass(frozen=True, slots=True)
class WindowLayout:
    """How the window was laid out; opaque blobs come from Qt and go back to it unread.

    Attributes:
        geometry: ``QWidget.saveGeometry()`` as hex, or ``None``.
        state: ``QMainWindow.saveState()`` (docks, toolbars) as hex, or ``None``.
        splitters: Sizes of each named splitter, in pixels.
        theme: ``system``, ``light`` or ``dark``.
        results_layout: The Results tab's layout (``tiles``, ``grid``...); a name the
            window no longer offers is ignored there.
        scoreboard_measure: The measure the Scoreboard colours by (``""``: its default); a
            name the window no longer offers is ignored there.
        scoreboard_sort: The measure the Scoreboard sorts the models by (``""``: run order).
        scoreboard_stat: The statistic it sorts by (``mean``, ``median``, ``p95``...).
    """

    geometry: str | None = None
    state: str | None = None
    splitters: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    theme: str = "system"
    results_layout: str = "tiles"
    scoreboard_measure: str = ""
    scoreboard_sort: str = ""
    scoreboard_stat: str = "mean"


@dataclass(frozen=True, slots=True)
class Workspace:
    """Everything the window restores on the next start.

    Attributes:
        template: The prompt template.
        system: The system message (``""`` for none).
        columns: The input table's columns (template variables first, then kept extras).
        rows: The input rows, each aligned with ``columns``.
        models: The model columns, in order.
        strategy: The strategy chosen in the Concurrency dock.
        limits: The limits set in the Concurrency dock.
        layout: Window geometry, docks, splitters and theme.
        checks: The checks on the Checks page (as typed: one may be invalid).
        judge: The Judge page's settings (kept while judging is off, so a rubric written
            then is not lost), or ``None`` for the page's defaults.
        judge_on: Whether judging is on.
        chat_models: The Chat tab's model set (its last chat's columns), for the next chat.
        template_variants: The prompt variants after A (issue 15).
        system_variants: The system messages after A.
        repeats: Samples per cell.
        schema_text: The Schema page's JSON schema as typed (issue 15; may be invalid).
        schema_on: Whether structured output is on.
    """

    template: str = ""
    system: str = ""
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    models: tuple[ModelProfile, ...] = ()
    strategy: Strategy = Strategy.STREAM
    limits: Limits = field(default_factory=Limits)
    layout: WindowLayout = field(default_factory=WindowLayout)
    checks: tuple[Check, ...] = ()
    judge: JudgeSettings | None = None
    judge_on: bool = True
    chat_models: tuple[ModelProfile, ...] = ()
    template_variants: tuple[str, ...] = ()
    system_variants: tuple[str, ...] = ()
    repeats: int = 1

    schema_text: str = ""
    schema_on: bool = False


def _columns_dict(workspace: Workspace) -> dict[str, Any]:
    """The variants and repeats (issue 15), only when set: older versions see nothing new."""
    out: dict[str, Any] = {}
    if workspace.template_variants:
        out["template_variants"] = list(workspace.template_variants)
    if workspace.system_variants:
        out["system_variants"] = list(workspace.system_variants)
    if workspace.repeats != 1:
        out["repeats"] = workspace.repeats
    return out


def _columns_from(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields :func:`_columns_dict` wrote; an unreadable one is left at its default."""
    out: dict[str, Any] = {}
    for name in ("template_variants", "system_variants"):
        value = data.get(name)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[name] = tuple(value)
    repeats = data.get("repeats")
    if isinstance(repeats, int) and not isinstance(repeats, bool) and 1 <= repeats <= 20:
        out["repeats"] = repeats
    return out


def without_password(url: str | None) -> str | None:
    """``url`` without the password of its ``user:password@`` part (the user name stays)."""
    if not url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))


def to_dict(workspace: Workspace) -> dict[str, Any]:
    """``workspace`` as JSON-ready data (passwords in base URLs dropped)."""
    layout = workspace.layout
    return {
        "format": FORMAT,
        "template": workspace.template,
        "system": workspace.system,
        "columns": list(workspace.columns),
        "rows": [list(r) for r in workspace.rows],
        "models": [
            profile_to_dict(replace(m, base_url=without_password(m.base_url)))
            for m in workspace.models
        ],
        "strategy": str(workspace.strategy),
        "limits": limits_to_dict(workspace.limits),
        "layout": {
            "geometry": layout.geometry,
            "state": layout.state,
            "splitters": {k: list(v) for k, v in layout.splitters.items()},
            "theme": layout.theme,
            "results_layout": layout.results_layout,
            "scoreboard_measure": layout.scoreboard_measure,
            "scoreboard_sort": layout.scoreboard_sort,
            "scoreboard_stat": layout.scoreboard_stat,
        },
        **({"checks": [check_to_dict(c) for c in workspace.checks]} if workspace.checks else {}),
        **_columns_dict(workspace),
        **_judge_dict(workspace),
        **_schema_dict(workspace),
        **(
            {
                "chat_models": [
                    profile_to_dict(replace(m, base_url=without_password(m.base_url)))
                    for m in workspace.chat_models
                ]
            }
            if workspace.chat_models
            else {}
        ),
    }


def _chat_models(data: object) -> tuple[ModelProfile, ...]:
    """The Chat tab's model set from a workspace file; an unreadable one is dropped alone."""
    if not isinstance(data, list):
        return ()
    try:
        models = tuple(profile_from_dict(m) for m in data)
        for model in models:
            model.validate()
    except Exception:
        log.warning("the workspace's chat models are unreadable: dropped")
        return ()
    return models


def _schema_dict(workspace: Workspace) -> dict[str, Any]:
    """The Schema page's part of a workspace file (issue 15), when it holds a schema."""
    if not workspace.schema_text:
        return {}
    return {"schema": {"text": workspace.schema_text, "on": workspace.schema_on}}


def _schema_from(data: Any) -> tuple[str, bool]:
    """The Schema page's text and switch :func:`_schema_dict` wrote (unreadable: none, off)."""
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return "", False
    return data["text"], data.get("on") is True


def _judge_dict(workspace: Workspace) -> dict[str, Any]:
    """The judge's part of a workspace file (issue 13), base URL without its password."""
    judge = workspace.judge
    if judge is None:
        return {}
    model = replace(judge.model, base_url=without_password(judge.model.base_url))
    # "judge_on" only when off: a file without it (older, or judging on) means on.
    off = {} if workspace.judge_on else {"judge_on": False}
    return {"judge": judge_to_dict(replace(judge, model=model)), **off}


class UnreadableWorkspace(ValueError):
    """The file is not a workspace this version can read; ``str()`` says why in a few words."""


def _str(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise UnreadableWorkspace(f"{key!r} is not text")
    return value


def _hex_or_none(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise UnreadableWorkspace(f"{key!r} is not text")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise UnreadableWorkspace(f"{key!r} is not hex") from None
    return value


def from_dict(data: Any) -> Workspace:
    """The workspace :func:`to_dict` wrote.

    Raises:
        UnreadableWorkspace: wrong shapes, an unknown format or out-of-range values.
    """
    if not isinstance(data, dict):
        raise UnreadableWorkspace("not a JSON object")
    fmt = data.get("format")
    if fmt != FORMAT:
        raise UnreadableWorkspace(f"format {fmt!r} (this version reads {FORMAT})")
    columns = data.get("columns", [])
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise UnreadableWorkspace("'columns' is not a list of names")
    rows = data.get("rows", [])
    if not isinstance(rows, list) or not all(
        isinstance(r, list) and len(r) == len(columns) and all(isinstance(v, str) for v in r)
        for r in rows
    ):
        raise UnreadableWorkspace("'rows' do not match 'columns'")
    models_data = data.get("models", [])
    layout_data = data.get("layout", {})
    if not isinstance(models_data, list) or not isinstance(layout_data, dict):
        raise UnreadableWorkspace("'models' or 'layout' has the wrong shape")
    splitters_data = layout_data.get("splitters", {})
    if not isinstance(splitters_data, dict) or not all(
        isinstance(v, list) and all(isinstance(n, int) and n >= 0 for n in v)
        for v in splitters_data.values()
    ):
        raise UnreadableWorkspace("'splitters' are not lists of sizes")
    theme = _str(layout_data, "theme", "system")
    results_layout = _str(layout_data, "results_layout", "tiles")
    try:
        models = tuple(profile_from_dict(m) for m in models_data)
        for model in models:
            model.validate()
        limits = limits_from_dict(data.get("limits") or {})
        limits.validate()
        strategy = Strategy(data.get("strategy", Strategy.STREAM))
    except Exception as exc:  # any bad field: the whole file is set aside, never half-loaded
        raise UnreadableWorkspace(f"{type(exc).__name__}: {exc}") from None
    return Workspace(
        judge=judge_from_dict(data.get("judge")),  # unreadable: off, not the whole file lost
        judge_on=data.get("judge_on", True) is not False,
        chat_models=_chat_models(data.get("chat_models")),  # unreadable: none
        template=_str(data, "template"),
        system=_str(data, "system"),
        columns=tuple(columns),
        rows=tuple(tuple(r) for r in rows),
        models=models,
        strategy=strategy,
        limits=limits,
        layout=WindowLayout(
            geometry=_hex_or_none(layout_data, "geometry"),
            state=_hex_or_none(layout_data, "state"),
            splitters={str(k): tuple(v) for k, v in splitters_data.items()},
            theme=theme if theme in THEMES else "system",
            results_layout=results_layout or "tiles",
            scoreboard_measure=_str(layout_data, "scoreboard_measure"),
            scoreboard_sort=_str(layout_data, "scoreboard_sort"),
            scoreboard_stat=_str(layout_data, "scoreboard_stat", "mean") or "mean",
        ),
        checks=_checks(data),
        **_columns_from(data),
        schema_text=_schema_from(data.get("schema"))[0],
        schema_on=_schema_from(data.get("schema"))[1],
    )


def _checks(data: Mapping[str, Any]) -> tuple[Check, ...]:
    """The saved checks, as typed: a value is kept even if it is invalid now (the Checks page
    shows why); an entry this version cannot read at all is dropped."""
    out = []
    for item in data.get("checks") or ():
        if isinstance(item, Mapping) and str(item.get("kind", "")) in KINDS:
            weight = item.get("weight", 1.0)
            out.append(
                Check(
                    kind=str(item["kind"]),
                    value=str(item.get("value", "")),
                    name=str(item.get("name") or ""),
                    weight=float(weight) if isinstance(weight, int | float) and weight > 0 else 1.0,
                    ignore_case=bool(item.get("ignore_case", False)),
                    flags=str(item.get("flags") or ""),
                )
            )
    return tuple(out)


class WorkspaceStore:
    """Reads and writes the workspace file.

    Args:
        path: The JSON file; default :func:`gui.storage.paths.workspace_path`.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        #: One line for the user when the last :meth:`load` had to set a file aside.
        self.notice: str | None = None

    @property
    def path(self) -> Path:
        """The workspace file (the data folder is looked up on first use, not on creation)."""
        if self._path is None:
            self._path = paths.workspace_path()
        return self._path

    def load(self) -> Workspace | None:
        """The saved workspace, or ``None`` (no file yet, or one that was set aside)."""
        self.notice = None
        path = self.path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.notice = f"The last workspace could not be read ({exc.strerror}): {path}"
            return None
        try:
            return from_dict(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError, UnreadableWorkspace) as exc:
            reason = str(exc) if isinstance(exc, UnreadableWorkspace) else "not valid JSON"
            self.notice = self._set_aside(path, reason)
            return None

    def _set_aside(self, path: Path, reason: str) -> str:
        where = set_aside(path, "unreadable")
        log.warning("unreadable workspace file %s (%s); %s", path, reason, where)
        return f"The last workspace could not be restored ({reason}); the file was {where}."

    def save(self, workspace: Workspace) -> None:
        """Replace the file with ``workspace``, atomically.

        Raises:
            OSError: the data folder is not writable (the previous file stays whole).
        """
        # ASCII escapes: a lone surrogate pasted into an input round-trips instead of making
        # the file unreadable UTF-8.
        text = json.dumps(to_dict(workspace), ensure_ascii=True, separators=(",", ":"))
        write_atomic(self.path, text, encoding="ascii")

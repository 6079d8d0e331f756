"""The history database's schema, its version (``PRAGMA user_version``) and the migrations.

Every database, new or old, is brought to :data:`SCHEMA_VERSION` by running the steps in
:data:`MIGRATIONS` from its current version up, inside one ``BEGIN IMMEDIATE`` transaction
(so two processes opening an old file at once migrate it once). A fresh file starts at
version 0 and runs every step, so the oldest step is exercised on every first start.

Version 1 was the first, smaller schema: no label, no run summary, no model table, metrics
in three columns (latency, ttft, output_tokens) and no error kind. Version 2 keeps the run's
summary and an optional label, records which process is writing a run (so another process
can tell a live run from an interrupted one), lists each run's models in a table of their
own for filtering, and keeps every metric as JSON. Version 3 gives each cell a ``notice``:
one line about its stored text (for example that invalid characters were replaced).
Version 4 holds the judging layer: each cell's check results (``checks_json``, written with
the cell), the LLM judge's verdict per cell (``judgements``), the judge's pairwise
comparisons per input (``pairwise``) and the user's ratings (``ratings``: thumbs, stars, best
in row, and whether the row was rated blind). The checks and the judge's settings themselves
travel in the run's ``spec_json``.
Version 5 holds chats (issue 14): ``chats`` (title, system message, times), ``chat_columns``
(each column's profile, own system message and the node its shown path ends on),
``chat_nodes`` (every user message and answer of every column's tree, with its parent, status,
error, metrics and which images it carries) and ``chat_images`` (each image once per chat,
keyed by its SHA-256: a message to six columns stores its image once), written node by node
as a chat goes on.
Version 6 holds batch runs (issue 16): ``batches``, one row per request file a run sent to a
provider's Batch API (its batch id and input file id, written the moment the batch is created;
its state, request counts and result file ids as last polled; when its results were ingested).

Adding a version: append a step that takes a connection inside the open transaction, never
commits, and does not use ``executescript`` (it would commit); bump :data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

#: The version this code writes.
SCHEMA_VERSION = 6

#: The first schema, as it shipped. Kept verbatim: step 0 -> 1 creates it, and the tests
#: build version-1 files with it to check the 1 -> 2 migration on real old data.
V1_DDL: tuple[str, ...] = (
    """CREATE TABLE runs (
        id          TEXT PRIMARY KEY,
        created_at  REAL NOT NULL,
        finished_at REAL,
        status      TEXT NOT NULL,
        template    TEXT NOT NULL,
        strategy    TEXT NOT NULL,
        spec_json   TEXT NOT NULL,
        total       INTEGER NOT NULL DEFAULT 0,
        done        INTEGER NOT NULL DEFAULT 0,
        failed      INTEGER NOT NULL DEFAULT 0,
        cancelled   INTEGER NOT NULL DEFAULT 0,
        wall        REAL
    )""",
    "CREATE INDEX runs_created ON runs(created_at)",
    """CREATE TABLE cells (
        run_id        TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        cell_id       TEXT NOT NULL,
        row_index     INTEGER NOT NULL,
        col_index     INTEGER NOT NULL,
        inputs_json   TEXT NOT NULL,
        model         TEXT NOT NULL,
        status        TEXT NOT NULL,
        text          TEXT NOT NULL,
        error         TEXT,
        latency       REAL,
        ttft          REAL,
        output_tokens INTEGER,
        ended_at      REAL,
        PRIMARY KEY (run_id, cell_id)
    )""",
)

_V2_RUN_COLUMNS: tuple[str, ...] = (
    "ALTER TABLE runs ADD COLUMN system TEXT",
    "ALTER TABLE runs ADD COLUMN label TEXT",
    "ALTER TABLE runs ADD COLUMN summary_json TEXT",
    "ALTER TABLE runs ADD COLUMN owner_pid INTEGER",
    "ALTER TABLE runs ADD COLUMN owner_start TEXT",
)

_V2_TABLES: tuple[str, ...] = (
    """CREATE TABLE run_models (
        run_id   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name     TEXT NOT NULL,
        model    TEXT NOT NULL,
        PRIMARY KEY (run_id, position)
    )""",
    "CREATE INDEX runs_status ON runs(status)",
    """CREATE TABLE cells_v2 (
        run_id       TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        cell_id      TEXT NOT NULL,
        row_index    INTEGER NOT NULL,
        col_index    INTEGER NOT NULL,
        inputs_json  TEXT NOT NULL,
        model        TEXT NOT NULL,
        status       TEXT NOT NULL,
        text         TEXT NOT NULL,
        error_kind   TEXT,
        error        TEXT,
        metrics_json TEXT,
        ended_at     REAL,
        PRIMARY KEY (run_id, cell_id)
    )""",
)


def _create_v1(conn: sqlite3.Connection) -> None:
    for statement in V1_DDL:
        conn.execute(statement)


def _loads(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Add the run summary, label, owner and model table; metrics move to one JSON column.

    Version 1 kept no error kind: a failed cell's kind becomes unknown (``NULL``), a
    cancelled one's ``cancelled``. Its three metric columns become the matching JSON keys,
    plus ``ended_at`` in seconds since the run started, which the version-2 metrics carry.
    Runs left ``running`` by a version-1 app have no owner and are marked interrupted by the
    next open.
    """
    for statement in _V2_RUN_COLUMNS + _V2_TABLES:
        conn.execute(statement)
    runs = conn.execute("SELECT id, spec_json FROM runs").fetchall()
    for run_id, spec_json in runs:
        spec = _loads(spec_json)
        spec = spec if isinstance(spec, dict) else {}
        models = spec.get("models") or []
        conn.execute("UPDATE runs SET system = ? WHERE id = ?", (spec.get("system"), run_id))
        conn.executemany(
            "INSERT INTO run_models (run_id, position, name, model) VALUES (?, ?, ?, ?)",
            [
                (
                    run_id,
                    i,
                    str(m.get("label") or m.get("model") or ""),
                    str(m.get("model") or ""),
                )
                for i, m in enumerate(models)
                if isinstance(m, dict)
            ],
        )
    old = conn.execute(
        """SELECT c.run_id, c.cell_id, c.row_index, c.col_index, c.inputs_json, c.model,
                  c.status, c.text, c.error, c.latency, c.ttft, c.output_tokens, c.ended_at,
                  r.created_at
           FROM cells c JOIN runs r ON r.id = c.run_id"""
    ).fetchall()
    rows = []
    for (
        run_id,
        cell_id,
        row,
        col,
        inputs_json,
        model,
        status,
        text,
        error,
        latency,
        ttft,
        tokens,
        ended_at,
        created_at,
    ) in old:
        metrics: dict[str, Any] = {"latency": latency, "ttft": ttft, "output_tokens": tokens or 0}
        if ended_at is not None and created_at is not None:
            metrics["ended_at"] = ended_at - created_at
        kind = "cancelled" if status == "cancelled" else None
        rows.append(
            (
                run_id,
                cell_id,
                row,
                col,
                inputs_json,
                model,
                status,
                text,
                kind,
                error,
                json.dumps(metrics),
                ended_at,
            )
        )
    conn.executemany("INSERT INTO cells_v2 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("DROP TABLE cells")
    conn.execute("ALTER TABLE cells_v2 RENAME TO cells")


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    """A notice per cell (``NULL`` for every cell recorded before)."""
    conn.execute("ALTER TABLE cells ADD COLUMN notice TEXT")


_V4_TABLES: tuple[str, ...] = (
    "ALTER TABLE cells ADD COLUMN checks_json TEXT",
    # One verdict per cell: a score (NULL when the judge failed), its reason, the judge's raw
    # reply (kept whether or not it parsed) and the failure message when there is one.
    """CREATE TABLE judgements (
        run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        cell_id     TEXT NOT NULL,
        judge_model TEXT NOT NULL,
        score       REAL,
        reason      TEXT,
        raw         TEXT,
        error       TEXT,
        created_at  REAL NOT NULL,
        PRIMARY KEY (run_id, cell_id)
    )""",
    # One comparison of two answers to the same input. ``first_cell`` is the answer shown to
    # the judge first (positions are randomized and recorded to counter position bias);
    # ``winner_cell`` is NULL for a tie or a failed comparison (``error`` says which).
    """CREATE TABLE pairwise (
        run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        row_index   INTEGER NOT NULL,
        first_cell  TEXT NOT NULL,
        second_cell TEXT NOT NULL,
        winner_cell TEXT,
        judge_model TEXT NOT NULL,
        reason      TEXT,
        raw         TEXT,
        error       TEXT,
        created_at  REAL NOT NULL,
        PRIMARY KEY (run_id, row_index, first_cell, second_cell)
    )""",
    # The user's own judgement of a cell, editable later. ``thumb`` is -1, 0 or 1; ``stars``
    # 1-5 or NULL; ``best`` marks the one best answer of its input; ``blind`` says the row
    # was rated with model names hidden (such ratings feed the personal leaderboard).
    """CREATE TABLE ratings (
        run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        cell_id    TEXT NOT NULL,
        thumb      INTEGER NOT NULL DEFAULT 0,
        stars      INTEGER,
        best       INTEGER NOT NULL DEFAULT 0,
        blind      INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL,
        PRIMARY KEY (run_id, cell_id)
    )""",
    "CREATE INDEX ratings_blind ON ratings(blind, updated_at)",
)


def _v3_to_v4(conn: sqlite3.Connection) -> None:
    """Check results per cell, and tables for judge verdicts, pairwise results and ratings."""
    for statement in _V4_TABLES:
        conn.execute(statement)


_V5_TABLES: tuple[str, ...] = (
    """CREATE TABLE chats (
        id         TEXT PRIMARY KEY,
        title      TEXT NOT NULL,
        system     TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX chats_updated ON chats(updated_at)",
    """CREATE TABLE chat_columns (
        chat_id      TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        col_index    INTEGER NOT NULL,
        profile_json TEXT NOT NULL,
        system       TEXT,
        head         TEXT,
        PRIMARY KEY (chat_id, col_index)
    )""",
    """CREATE TABLE chat_nodes (
        chat_id      TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        id           TEXT NOT NULL,
        col_index    INTEGER NOT NULL,
        parent_id    TEXT,
        seq          INTEGER NOT NULL,
        role         TEXT NOT NULL,
        text         TEXT NOT NULL,
        status       TEXT NOT NULL,
        error        TEXT,
        metrics_json TEXT,
        images_json  TEXT,
        created_at   REAL NOT NULL,
        PRIMARY KEY (chat_id, id)
    )""",
    "CREATE INDEX chat_nodes_column ON chat_nodes(chat_id, col_index, seq)",
    """CREATE TABLE chat_images (
        chat_id TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        sha256  TEXT NOT NULL,
        mime    TEXT NOT NULL,
        width   INTEGER NOT NULL DEFAULT 0,
        height  INTEGER NOT NULL DEFAULT 0,
        data    BLOB NOT NULL,
        PRIMARY KEY (chat_id, sha256)
    )""",
)


def _v4_to_v5(conn: sqlite3.Connection) -> None:
    """Tables for chats, their columns, every node of every column's tree, and images."""
    for statement in _V5_TABLES:
        conn.execute(statement)


_V6_TABLES: tuple[str, ...] = (
    # One batch per request file of a batch run: the cells of column ``col_index``, rows
    # ``first_row`` to ``first_row + row_count - 1`` (every sample of each), or for a retry
    # of some cells as a new batch, the cell ids listed in ``cell_ids_json``. ``ingested_at`` is NULL while the app
    # still has work on it (polling, or its results not in ``cells`` yet).
    """CREATE TABLE batches (
        run_id         TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        file_index     INTEGER NOT NULL,
        col_index      INTEGER NOT NULL,
        first_row      INTEGER NOT NULL,
        row_count      INTEGER NOT NULL,
        batch_id       TEXT NOT NULL,
        input_file_id  TEXT NOT NULL,
        output_file_id TEXT,
        error_file_id  TEXT,
        state          TEXT NOT NULL,
        total          INTEGER NOT NULL DEFAULT 0,
        completed      INTEGER NOT NULL DEFAULT 0,
        failed         INTEGER NOT NULL DEFAULT 0,
        message        TEXT,
        created_at     REAL NOT NULL,
        updated_at     REAL NOT NULL,
        ingested_at    REAL,
        cell_ids_json  TEXT,
        PRIMARY KEY (run_id, file_index)
    )""",
    "CREATE INDEX batches_open ON batches(ingested_at)",
)


def _v5_to_v6(conn: sqlite3.Connection) -> None:
    """A table of the batches of batch runs (issue 16)."""
    for statement in _V6_TABLES:
        conn.execute(statement)


#: ``MIGRATIONS[n]`` takes a database from version ``n`` to ``n + 1``.
MIGRATIONS: Sequence[Callable[[sqlite3.Connection], None]] = (
    _create_v1,
    _v1_to_v2,
    _v2_to_v3,
    _v3_to_v4,
    _v4_to_v5,
    _v5_to_v6,
)

assert len(MIGRATIONS) == SCHEMA_VERSION


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version a database says it has."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to :data:`SCHEMA_VERSION`; returns the version it had.

    ``conn`` must be in autocommit mode (``isolation_level=None``) with foreign keys off
    (the default), since steps rebuild tables.

    Raises:
        ValueError: the database is newer than this code (callers check first).
        sqlite3.Error: the database cannot be read or written.
    """
    if user_version(conn) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    conn.execute("BEGIN IMMEDIATE")
    try:
        start = user_version(conn)  # again, under the write lock: another process may have won
        if start > SCHEMA_VERSION:
            raise ValueError(f"schema version {start} is newer than {SCHEMA_VERSION}")
        for version in range(start, SCHEMA_VERSION):
            MIGRATIONS[version](conn)
            log.info("history schema migrated %d -> %d", version, version + 1)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return start

"""Exports of a stored run: JSON (everything), CSV (one row per cell) and Markdown (a report).

Each format carries the run's Scoreboard summary, one line per model by every measure of
:mod:`gui.core.measures` (:func:`gui.core.scoreboard.summarize_models`): JSON under
``summary.models`` (with ``summary.measures`` describing them), Markdown as a Scoreboard
section, and CSV as a second file beside the cells' one (:func:`summary_path`,
``<name>-summary.csv``, one row per model, the columns of
:func:`gui.core.scoreboard.summary_columns`): a spreadsheet opens each as one clean table,
where a second table inside the cells' file would break its columns. To standard output,
``csv`` is the cells' table and ``summary-csv`` the summary's.

Answers are arbitrary model output, so every format keeps any text exact or, for Markdown,
visibly the same: CSV quotes as RFC 4180 says (``csv.reader`` gives back the exact text,
Windows newlines included); Markdown table cells escape the characters that would start
markup (pipes, back-ticks, emphasis, links, HTML, entities), write line breaks as ``<br>``
and keep leading or trailing spaces as character references, which table parsing would
otherwise strip. In CSV and Markdown, input rows are numbered from 1 as a spreadsheet
does; JSON keeps the 0-based ``row``/``col`` of the cell ids (``r0m1``).

CSV text fields that a spreadsheet would run as a formula (a leading ``=``, ``+``, ``-``,
``@``, tab or carriage return: model output and inputs are untrusted) get a single quote in
front, as OWASP recommends for CSV injection; ``raw=True`` exports the exact text instead.

:func:`save` is how the app writes an export file, from the command line and the window
alike: never over the app's own files (:func:`gui.storage.paths.protected_reason`), created
private (0600), and remembered as an export when it lands in the data folder.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gui.core.checks import CheckResult, pass_rate
from gui.core.costs import CostTotals, column_totals, run_totals
from gui.core.measures import measures
from gui.core.metrics import CellMetrics
from gui.core.pricing import format_usd
from gui.core.ratings import rating_text
from gui.core.scoreboard import (
    ModelSummary,
    ScoreCell,
    score_cell,
    summarize_models,
    summary_columns,
    summary_rows,
)
from gui.core.scoreboard import scoreboard_json as board_json
from gui.core.spec import CellId
from gui.storage import paths
from gui.storage.records import StoredCell, StoredRun

__all__ = [
    "FORMATS",
    "ExportRefused",
    "default_filename",
    "export",
    "refusal",
    "run_summary",
    "save",
    "scoreboard_json",
    "summary_path",
    "to_csv",
    "to_json",
    "to_markdown",
    "to_summary_csv",
]

#: Export formats and their file extensions.
FORMATS: Mapping[str, str] = {"json": "json", "csv": "csv", "md": "md", "summary-csv": "csv"}

_ALIASES = {"markdown": "md"}

#: Bump when the JSON layout changes incompatibly.
JSON_FORMAT_VERSION = 1

_METRIC_FIELDS: tuple[str, ...] = tuple(CellMetrics.__dataclass_fields__)


def _fmt_name(fmt: str) -> str:
    name = _ALIASES.get(fmt.lower(), fmt.lower())
    if name not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use {', '.join(FORMATS)}")
    return name


def export(run: StoredRun, fmt: str, *, raw: bool = False) -> str:
    """``run`` as text in ``fmt`` (``json``, ``csv``, ``md`` or ``summary-csv``).

    Args:
        run: The stored run.
        fmt: The format.
        raw: CSV only: keep text that a spreadsheet would run as a formula exactly as it is.

    Raises:
        ValueError: unknown format.
    """
    name = _fmt_name(fmt)
    if name == "json":
        return to_json(run)
    if name == "csv":
        return to_csv(run, raw=raw)
    if name == "summary-csv":
        return to_summary_csv(run, raw=raw)
    return to_markdown(run)


class ExportRefused(ValueError):
    """The export would overwrite one of the app's own files; the message says which and
    what to do."""


def refusal(target: Path) -> str | None:
    """One line saying why no export may be written to ``target``, or ``None`` when it may
    (see :func:`gui.storage.paths.protected_reason`)."""
    reason = paths.protected_reason(target)
    if reason is None:
        return None
    return f"will not write the export there: {reason}; choose another file"


def summary_path(target: Path) -> Path:
    """Where a CSV export's per-model summary goes: ``<stem>-summary.csv`` beside ``target``."""
    return target.with_name(f"{target.stem}-summary.csv")


def save(run: StoredRun, fmt: str, target: Path, *, raw: bool = False) -> list[Path]:
    """Write ``run`` as ``fmt`` to the file ``target`` (UTF-8; a new file is created 0600,
    a file written over keeps the mode its owner gave it). A ``csv`` export also writes the
    per-model summary to :func:`summary_path` of ``target``.

    Returns:
        The files written, ``target`` first.

    Args:
        run: The stored run.
        fmt: The format (see :func:`export`).
        target: The file to write.
        raw: CSV only: see :func:`export`.

    Raises:
        ExportRefused: ``target`` is the history database, its WAL/SHM files, the profiles
            or settings, or a file of the data folder the app did not export itself.
        ValueError: unknown format.
        OSError: the file cannot be written.
    """
    files = [(target, export(run, fmt, raw=raw))]
    if _fmt_name(fmt) == "csv":
        files.append((summary_path(target), to_summary_csv(run, raw=raw)))
    for path, _text in files:  # both refused before either is written
        refused = refusal(path)
        if refused:
            raise ExportRefused(refused)
    for path, text in files:
        with open(path, "w", encoding="utf-8", newline="", opener=paths.private_file_opener) as f:
            f.write(text)
        paths.record_export(path)
    return [path for path, _text in files]


def default_filename(run: StoredRun, fmt: str) -> str:
    """A file name for the export: ``fanout-<run id>-<first words of the template>.<ext>``."""
    ext = FORMATS[_fmt_name(fmt)]
    run_id = re.sub(r"[^A-Za-z0-9_.-]+", "_", run.id).strip("._") or "run"
    words = re.findall(r"[A-Za-z0-9]+", run.template.lower())[:5]
    slug = "-".join(words)[:40].strip("-")
    return f"fanout-{run_id}{'-' + slug if slug else ''}.{ext}"


# ------------------------------------------------------------------------- JSON


def to_json(run: StoredRun) -> str:
    """Everything stored about the run: record, summary (with the per-model Scoreboard
    table, :func:`scoreboard_json`), spec, and every cell with metrics."""
    data: dict[str, Any] = {"format": "fanout-studio-run", "format_version": JSON_FORMAT_VERSION}
    data.update(run.to_dict())
    data["summary"] = {**data["summary"], **scoreboard_json(run), **cost_json(run)}
    add_columns_json(run, data)
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def add_columns_json(run: StoredRun, data: dict[str, Any]) -> None:
    """The run's columns (template id, model, parameters) and each cell's column and
    1-based sample (issue 15)."""
    columns = [c.identity() for c in run.spec.columns]
    data["columns"] = columns
    for item in data.get("cells", ()):
        parsed = _parsed_id(str(item.get("cell_id", "")))
        col = item.get("col")
        item["column"] = columns[col] if isinstance(col, int) and 0 <= col < len(columns) else None
        item["sample"] = (parsed.sample if parsed else 0) + 1


def _parsed_id(cell_id: str) -> CellId | None:
    try:
        return CellId.parse(cell_id)
    except ValueError:
        return None


def _sample_of(cell: StoredCell) -> int:
    """The cell's sample, 0-based (0 for a run without repeats, or an id from elsewhere)."""
    parsed = _parsed_id(cell.cell_id)
    return parsed.sample if parsed else 0


def _has_columns(run: StoredRun) -> bool:
    """Whether the run has prompt variants, parameter sweeps or repeats (CSV says which)."""
    spec = run.spec
    return (
        len(spec.variants) > 1
        or spec.repeats > 1
        or any(not m.sweep.empty for m in spec.models)
        or any(_sample_of(c) for c in run.cells)
    )


#: Columns a run with variants, sweeps or repeats adds to its CSV.
_CSV_COLUMN_COLUMNS = ("template", "parameters", "sample")


def _csv_columns(run: StoredRun, cell: StoredCell, shown: bool) -> list[Any]:
    if not shown:
        return []
    columns = run.spec.columns
    column = columns[cell.col] if 0 <= cell.col < len(columns) else None
    if column is None:
        return ["", "", _sample_of(cell) + 1]
    params = " ".join(f"{k}={v}" for k, v in column.parameters().items())
    return [column.variant_id or "A", params, _sample_of(cell) + 1]


# ------------------------------------------------------------------- the Scoreboard summary


def _models_of(run: StoredRun) -> list[str]:
    """Column titles: the record's, else the spec's, numbered past both for stray cells."""
    models = list(run.models) or run.spec.headers
    n_cols = max([len(models)] + [c.col + 1 for c in run.cells])
    return [models[i] if i < len(models) else f"model {i + 1}" for i in range(n_cols)]


def _score_cells(run: StoredRun) -> list[ScoreCell]:
    return [score_cell(c.row, c.col, c.status, c) for c in run.cells]


def run_summary(run: StoredRun) -> tuple[ModelSummary, ...]:
    """The run's per-model Scoreboard lines, by every registered measure."""
    return summarize_models(_models_of(run), _score_cells(run))


def scoreboard_json(run: StoredRun) -> dict[str, Any]:
    """The run's per-model table for JSON output (:func:`gui.core.scoreboard.scoreboard_json`)."""
    return board_json(_models_of(run), _score_cells(run))


def cost_totals(run: StoredRun) -> tuple[list[str], dict[int, CostTotals], CostTotals]:
    """The run's column titles, token and cost totals per column, and the run's totals."""
    per_col = column_totals((c.col, c.metrics) for c in run.cells)
    return _models_of(run), per_col, run_totals(per_col.values())


def cost_json(run: StoredRun) -> dict[str, Any]:
    """``{"cost": ...}``: the run's token and cost totals, in all and per column."""
    models, per_col, total = cost_totals(run)
    columns = [
        {"column": i, "model": name, **per_col.get(i, CostTotals()).to_dict()}
        for i, name in enumerate(models)
    ]
    return {"cost": {**total.to_dict(), "columns": columns}}


def _md_cost(run: StoredRun) -> list[str]:
    """The report's cost table: tokens and cost per column and in all."""
    models, per_col, total = cost_totals(run)
    if not total.cells:
        return []
    lines = ["## Cost", ""]
    lines.append(_md_row(["model", "input tokens", "output tokens", "cost"]))
    lines.append(_md_row(["---", "---:", "---:", "---:"]))
    for i, name in enumerate(models):
        t = per_col.get(i, CostTotals())
        mark = "~" if t.estimated else ""
        lines.append(
            _md_row(
                [
                    md_cell(name),
                    f"{mark}{t.input_tokens:,}",
                    f"{mark}{t.output_tokens:,}",
                    md_cell(t.label()),
                ]
            )
        )
    mark = "~" if total.estimated else ""
    lines.append(
        _md_row(
            [
                "**all**",
                f"{mark}{total.input_tokens:,}",
                f"{mark}{total.output_tokens:,}",
                md_cell(total.label()),
            ]
        )
    )
    return [*lines, ""]


# ------------------------------------------------------------------------- CSV


def input_columns(run: StoredRun) -> list[str]:
    """The input variable names, in order of first appearance (spec rows, then cells)."""
    names: dict[str, None] = {}
    for row in run.spec.rows:
        names.update(dict.fromkeys(row))
    for cell in run.cells:
        names.update(dict.fromkeys(cell.inputs))
    return list(names)


_CSV_FIXED = ("run_id", "row", "model", "status", "output", "error_kind", "error")


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value == value else ""
    return value


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse(text: str) -> str:
    """``text`` as a spreadsheet shows it without running it: a single quote in front when
    it starts like a formula (OWASP's advice against CSV injection)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(run: StoredRun, *, raw: bool = False) -> str:
    """One row per stored cell: run id, row number, one column per input variable, model,
    status, output, error kind, error, every metric (seconds since the run started) and the
    cell's end as UTC ISO 8601 (``ended_utc``), and the cell's notice (e.g. that invalid
    characters were replaced).

    An input variable named like a fixed column (``model``, ``status``...) gets the column
    ``input_<name>``. Text fields starting like a formula get a leading single quote (see
    :func:`defuse`) unless ``raw``.
    """
    text = (lambda v: v) if raw else defuse
    variables = input_columns(run)
    taken = set(_CSV_FIXED) | set(_METRIC_FIELDS) | {"ended_utc", "notice", *_RATING_FIELDS}
    var_columns = [f"input_{v}" if v in taken else v for v in variables]
    header = [
        "run_id",
        "row",
        *var_columns,
        "model",
        "status",
        "output",
        "error_kind",
        "error",
        *_METRIC_FIELDS,
        "ended_utc",
        "notice",
        *_RATING_FIELDS,
    ]
    checked = _has_checks(run)
    if checked:
        header += list(_CSV_CHECK_COLUMNS)
    judged = any(c.judge is not None for c in run.cells)
    if judged:
        header += CSV_JUDGE_COLUMNS
    with_columns = _has_columns(run)
    if with_columns:
        header += list(_CSV_COLUMN_COLUMNS)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([text(h) for h in header])
    for cell in run.cells:
        metrics = asdict(cell.metrics) if cell.metrics is not None else {}
        writer.writerow(
            [
                text(run.id),
                cell.row + 1,
                *(text(cell.inputs.get(v, "")) for v in variables),
                text(cell.model),
                cell.status,
                text(cell.text),
                _csv_value(cell.error_kind),
                text(_csv_value(cell.error)),
                *(_csv_value(metrics.get(f)) for f in _METRIC_FIELDS),
                _utc(cell.ended_at),
                _csv_value(cell.notice),
                *_rating_values(cell),
                *([text(v) for v in _csv_checks(cell.checks)] if checked else []),
                *_csv_judge(cell, judged, text),
                *_csv_columns(run, cell, with_columns),
            ]
        )
    return buf.getvalue()


#: Columns a run with checks adds to its CSV: passed and total counts, the weighted pass
#: rate (0..1) and the failed checks with why.
_CSV_CHECK_COLUMNS = ("checks_passed", "checks_total", "checks_pass_rate", "checks_failed")


def _has_checks(run: StoredRun) -> bool:
    return bool(run.spec.checks) or any(c.checks for c in run.cells)


def _failed_text(results: Iterable[CheckResult]) -> str:
    return "; ".join(f"{r.name}: {r.detail}" for r in results if not r.passed)


def _csv_checks(results: tuple[CheckResult, ...]) -> list[str]:
    if not results:
        return ["", "", "", ""]
    rate = pass_rate(results)
    return [
        str(sum(r.passed for r in results)),
        str(len(results)),
        "" if rate is None else f"{rate:.4f}".rstrip("0").rstrip("."),
        _failed_text(results),
    ]


#: Columns the LLM judge's verdict adds to a CSV export of a judged run.
CSV_JUDGE_COLUMNS = ("judge_score", "judge_reason", "judge_model", "judge_error")


def _csv_judge(cell: StoredCell, judged: bool, text: Callable[[str], str]) -> list[Any]:
    """A cell's judge columns (none for a run nobody judged)."""
    if not judged:
        return []
    v = cell.judge
    if v is None:
        return ["", "", "", ""]
    return [_csv_value(v.score), text(v.reason), text(v.judge_model), text(_csv_value(v.error))]


#: The CSV's rating columns: thumb (1, -1 or 0), stars (1-5 or empty), best and blind (0/1).
_RATING_FIELDS = ("thumb", "stars", "best", "blind")


def _rating_values(cell: StoredCell) -> list[Any]:
    """The cell's rating as the CSV's rating columns (empty when not rated)."""
    r = cell.rating
    if r is None:
        return ["", "", "", ""]
    return [r.thumb, "" if r.stars is None else r.stars, int(r.best), int(r.blind)]


def _md_ratings(run: StoredRun) -> list[str]:
    """The Markdown report's Ratings section (no lines when nothing is rated)."""
    rated = [c for c in run.cells if c.rating is not None]
    if not rated:
        return []
    lines = ["", "## Ratings", ""]
    lines.append(_md_row(["#", "input", "model", "rating", "blind"]))
    lines.append(_md_row(["---"] * 5))
    for cell in rated:
        assert cell.rating is not None
        lines.append(
            _md_row(
                [
                    str(cell.row + 1),
                    md_cell(_row_label(cell.inputs)),
                    md_cell(cell.model),
                    rating_text(cell.rating),
                    "yes" if cell.rating.blind else "no",
                ]
            )
        )
    return lines


def to_summary_csv(run: StoredRun, *, raw: bool = False) -> str:
    """The per-model summary: one row per model, the run id first, then the columns of
    :func:`gui.core.scoreboard.summary_columns` (counts, p50/p95 latency in seconds, and
    each measure's mean, median, pass rate where it has a pass mark and win rate where it
    has a better end; rates from 0 to 1). Empty fields: no value."""
    text = (lambda v: v) if raw else defuse
    columns = summary_columns()
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["run_id", *columns])
    for row in summary_rows(run_summary(run)):
        values = [_csv_value(row[c]) for c in columns]
        values[0] = text(row["model"])
        writer.writerow([text(run.id), *values])
    return buf.getvalue()


def _utc(epoch: float | None) -> str:
    if epoch is None:
        return ""
    whole = int(epoch)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        + f".{int((epoch - whole) * 1000):03d}Z"
    )


# ------------------------------------------------------------------------- Markdown

# Characters that start inline markup in CommonMark/GFM table cells. Block markup (#, >,
# lists) cannot start inside a cell, so those stay as they are for readability.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")
_NEWLINES = re.compile(r"\r\n|\r|\n")


def md_cell(text: str) -> str:
    """``text`` as the content of one Markdown table cell, visibly the same once rendered."""
    core = text.strip()
    if not core:
        return _space_refs(text)
    start = text.index(core[0])
    lead, trail = text[:start], text[start + len(core) :]
    body = "<br>".join(_MD_SPECIAL.sub(r"\\\1", line) for line in _NEWLINES.split(core))
    return _space_refs(lead) + body + _space_refs(trail)


def _space_refs(spaces: str) -> str:
    """Edge whitespace, which table parsing strips, as character references (newlines: <br>)."""
    spaces = _NEWLINES.sub("\n", spaces)
    return "".join("<br>" if c == "\n" else f"&#{ord(c)};" for c in spaces)


def _md_inline(text: str) -> str:
    """Plain text in a paragraph or list item (not a table): one line, markup escaped."""
    return md_cell(" ".join(text.split()))


def _md_fence(text: str) -> str:
    body = "\n".join(_NEWLINES.split(text))
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def _md_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _local(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(epoch))


def _counts(run: StoredRun) -> str:
    parts = [f"{run.done} done"]
    if run.failed:
        parts.append(f"{run.failed} failed")
    if run.cancelled:
        parts.append(f"{run.cancelled} cancelled")
    missing = run.total - run.done - run.failed - run.cancelled
    if missing > 0:
        parts.append(f"{missing} without result")
    return ", ".join(parts) + f" of {run.total}"


def _md_answer(cell: StoredCell | None) -> str:
    if cell is None:
        return "_(no result recorded)_"
    # The marks a reader must not miss follow the answer, as on the pane's footer.
    notes = [_finish_mark(cell), cell.notice]
    return _md_answer_text(cell) + "".join(f"<br>_({md_cell(n)})_" for n in notes if n)


def _finish_mark(cell: StoredCell) -> str | None:
    """How the server ended the answer when a reader must know (``cut at max tokens``)."""
    return cell.metrics.finish_mark if cell.metrics is not None else None


def _md_answer_text(cell: StoredCell) -> str:
    if cell.status == "done":
        return md_cell(cell.text)
    head = f"**{cell.status}**"
    if cell.error:
        head += ": " + md_cell(" ".join(cell.error.split()))
    return head + ("<br>" + md_cell(cell.text) if cell.text else "")


def _md_status(cell: StoredCell) -> str:
    mark = _finish_mark(cell)
    return f"{cell.status} ({mark})" if mark else cell.status


def _row_label(inputs: Mapping[str, str]) -> str:
    return " / ".join(inputs.values()) or "prompt"


def to_markdown(run: StoredRun) -> str:
    """A report: heading and details, the answer matrix (inputs down, models across), and a
    metrics table with one row per cell. An answer the server ended for a reason a reader
    must not miss (cut at max tokens, stopped by the content filter) says so under the
    answer and beside its status."""
    lines = [
        f"# Fanout Studio run {_md_inline(run.id)}",
        "",
        f"- **Strategy:** {_md_inline(run.strategy)}",
        f"- **Date:** {_local(run.created_at)}",
        f"- **Status:** {run.status}: {_counts(run)}"
        + (f", wall {run.wall:.2f} s" if run.wall is not None else ""),
        f"- **Models:** {', '.join(_md_inline(m) for m in run.models) or '-'}",
    ]
    if run.label:
        lines.append(f"- **Label:** {_md_inline(run.label)}")
    lines += ["", "**Template:**", "", _md_fence(run.template), ""]
    if run.spec.system:
        lines += ["**System message:**", "", _md_fence(run.spec.system), ""]
    lines += _md_variants(run)

    lines += _md_scoreboard(run)
    lines += _md_cost(run)
    variables = input_columns(run)
    # The matrix shows a repeated cell's first sample; the metrics table lists every one.
    by_pos = {(c.row, c.col): c for c in run.cells if not _sample_of(c)}
    n_rows = max([len(run.spec.rows)] + [c.row + 1 for c in run.cells])
    models = list(run.models) or run.spec.headers
    n_cols = max([len(models)] + [c.col + 1 for c in run.cells])
    titles = [md_cell(models[i]) if i < len(models) else f"model {i + 1}" for i in range(n_cols)]
    lines += ["## Answers", ""]
    lead = [md_cell(v) for v in variables] or ["input"]
    lines.append(_md_row(["#", *lead, *titles]))
    lines.append(_md_row(["---"] * (1 + len(lead) + n_cols)))
    for r in range(n_rows):
        inputs = _inputs_of(run, r, by_pos, n_cols)
        values = [md_cell(inputs.get(v, "")) for v in variables] or ["prompt"]
        answers = [_md_answer(by_pos.get((r, c))) for c in range(n_cols)]
        lines.append(_md_row([str(r + 1), *values, *answers]))

    lines += ["", "## Metrics", ""]
    lines.append(
        _md_row(
            [
                "#",
                "input",
                "model",
                "status",
                "latency s",
                "ttft s",
                "tokens",
                "tokens/s",
                "retries",
                "input tokens",
                "cost",
            ]
        )
    )
    lines.append(_md_row(["---"] * 3 + ["---"] + ["---:"] * 7))
    for cell in run.cells:
        m = cell.metrics
        tokens = input_tokens = cost = ""
        if m is not None:
            tokens = f"~{m.output_tokens}" if m.tokens_estimated else str(m.output_tokens)
            if m.started_at is not None:
                input_tokens = f"~{m.input_tokens}" if m.input_estimated else str(m.input_tokens)
                cost = md_cell(format_usd(m.cost_usd, estimated=m.any_estimated))
        lines.append(
            _md_row(
                [
                    str(cell.row + 1),
                    md_cell(_row_label(cell.inputs)),
                    md_cell(_md_column(run, cell)),
                    _md_status(cell),
                    _num(m.latency if m else None),
                    _num(m.ttft if m else None),
                    tokens,
                    _num(m.tokens_per_second if m else None, 1),
                    str(m.retries) if m else "",
                    input_tokens,
                    cost,
                ]
            )
        )
    lines += _md_ratings(run)
    lines.append("")
    lines.append("Tokens marked ~ are estimated (the provider reported no usage).")
    if _has_checks(run):
        lines += ["", *_md_checks(run)]
    lines += _md_judge(run)
    return "\n".join(lines) + "\n"


def _md_variants(run: StoredRun) -> list[str]:
    """The prompt variants after A (issue 15), and the samples per cell."""
    spec = run.spec
    lines: list[str] = []
    for i, template in enumerate(spec.template_variants, start=1):
        lines += [f"**Template {i + 1}:**", "", _md_fence(template), ""]
    for i, system in enumerate(spec.system_variants, start=1):
        lines += [f"**System message {i + 1}:**", "", _md_fence(system), ""]
    if len(spec.variants) > 1:
        for v in spec.variants:
            lines.append(
                f"- Variant **{v.id}**: template {v.template_index + 1}, "
                f"system message {v.system_index + 1 if v.system else '-'}"
            )
        lines.append("")
    if spec.repeats > 1:
        lines += [f"**Samples per cell:** {spec.repeats}", ""]
    return lines


def _md_column(run: StoredRun, cell: StoredCell) -> str:
    """The cell's column title, and its sample when the run repeats cells."""
    sample = _sample_of(cell)
    if run.spec.repeats > 1 or sample:
        return f"{cell.model} · sample {sample + 1}"
    return cell.model


def _md_checks(run: StoredRun) -> list[str]:
    """The run's checks and, per cell, how many passed and which failed with why."""
    lines = ["## Checks", ""]
    lines += [f"- {_md_inline(c.line())}" for c in run.spec.checks]
    lines += ["", _md_row(["#", "input", "model", "passed", "pass rate", "failed checks"])]
    lines.append(_md_row(["---"] * 3 + ["---:"] * 2 + ["---"]))
    for cell in run.cells:
        results = cell.checks
        rate = pass_rate(results)
        lines.append(
            _md_row(
                [
                    str(cell.row + 1),
                    md_cell(_row_label(cell.inputs)),
                    md_cell(cell.model),
                    f"{sum(r.passed for r in results)}/{len(results)}"
                    if results
                    else "not checked",
                    "" if rate is None else f"{rate:.0%}",
                    md_cell(_failed_text(results)),
                ]
            )
        )
    lines.append("")
    lines.append("Only cells that succeeded are checked.")
    return lines


def _md_judge(run: StoredRun) -> list[str]:
    """The LLM judge's section of the report: scores and reasons, the pairwise ranking."""
    judged = [c for c in run.cells if c.judge is not None]
    if not judged and not run.pairwise:
        return []
    lines = ["", "## Judge", ""]
    if judged:
        lines.append(_md_row(["#", "input", "model", "score", "reason"]))
        lines.append(_md_row(["---", "---", "---", "---:", "---"]))
        for cell in judged:
            v = cell.judge
            assert v is not None
            score = "" if v.score is None else f"{v.score:g}"
            reason = v.reason if v.error is None else f"failed: {v.error}"
            lines.append(
                _md_row(
                    [
                        str(cell.row + 1),
                        md_cell(_row_label(cell.inputs)),
                        md_cell(cell.model),
                        score,
                        md_cell(reason),
                    ]
                )
            )
    ranking = run.ranking()
    if ranking:
        if judged:
            lines.append("")
        lines.append(_md_row(["rank", "model", "win rate", "wins", "comparisons", "strength"]))
        lines.append(_md_row(["---:", "---", "---:", "---:", "---:", "---:"]))
        for n, r in enumerate(ranking, 1):
            rate = "" if r.win_rate is None else f"{100 * r.win_rate:.0f}%"
            lines.append(
                _md_row(
                    [
                        str(n),
                        md_cell(r.model),
                        rate,
                        f"{r.wins:g}",
                        str(r.games),
                        f"{r.strength:.3f}",
                    ]
                )
            )
        lines += ["", "Strength: Bradley-Terry over the judge's pairwise comparisons (ties half)."]
    return lines


def _md_rate(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f} %"


def _md_scoreboard(run: StoredRun) -> list[str]:
    """The Scoreboard section: answers and latency per model, then every measure's figures
    per model (one line per model and measure, so any number of measures stays readable)."""
    summaries = run_summary(run)
    if not summaries:
        return []
    lines = ["## Scoreboard", ""]
    lines.append(
        _md_row(["model", "answers", "failed", "cancelled", "p50 latency s", "p95 latency s"])
    )
    lines.append(_md_row(["---"] + ["---:"] * 5))
    for s in summaries:
        lines.append(
            _md_row(
                [
                    md_cell(s.model),
                    f"{s.done}/{s.cells}",
                    str(s.failed),
                    str(s.cancelled),
                    _num(s.latency_p50),
                    _num(s.latency_p95),
                ]
            )
        )
    lines += ["", _md_row(["model", "measure", "mean", "median", "pass rate", "win rate"])]
    lines.append(_md_row(["---", "---"] + ["---:"] * 4))
    for m in measures():
        label = md_cell(f"{m.label} ({m.unit})" if m.unit else m.label)
        for s in summaries:
            stats = s.stats[m.name]
            lines.append(
                _md_row(
                    [
                        md_cell(s.model),
                        label,
                        "" if stats.mean is None else m.format(stats.mean, unit=False),
                        "" if stats.median is None else m.format(stats.median, unit=False),
                        _md_rate(stats.pass_rate),
                        _md_rate(stats.win_rate),
                    ]
                )
            )
    lines += [
        "",
        "Only answers are measured (failed and cancelled cells are counted, never scored);"
        " win rate: the share of inputs where the model is best, ties split.",
        "",
    ]
    return lines


def _inputs_of(
    run: StoredRun, row: int, by_pos: Mapping[tuple[int, int], StoredCell], n_cols: int
) -> Mapping[str, str]:
    if row < len(run.spec.rows):
        return run.spec.rows[row]
    for c in range(n_cols):
        cell = by_pos.get((row, c))
        if cell is not None:
            return cell.inputs
    return {}

"""Bad input refused before a run, each with one line that names the problem and the fix.

The window and the command line both show these exact messages (the window inline, the CLI
as ``fanout-studio run: error: <message>``), so they are pinned here word for word.
"""

from __future__ import annotations

import codecs
import random
from pathlib import Path

import pytest

from gui.core.errors import SpecError, TemplateError
from gui.core.inputs import (
    MAX_INPUT_BYTES,
    MAX_INPUT_ROWS,
    load_rows_file,
    read_rows_file,
    rows_from_lines,
)
from gui.core.spec import MAX_ROWS, Limits, ModelProfile, ProviderKind, make_spec
from gui.core.templates import suggest_name, template_variables
from gui.core.text import cut_text, one_line_label

MODELS = (ModelProfile(model="sim-a"),)


def refusal(template: str) -> str:
    with pytest.raises(TemplateError) as info:
        template_variables(template)
    message = str(info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------ templates


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "Tell me about {topic",
            "Unbalanced braces: the '{' at column 15 ('{topic') is never closed. "
            "Write {topic}, or write {{ for a literal brace.",
        ),
        (
            "Tell me about topic}",
            "Unbalanced braces: the '}' at column 20 ('Tell me about topic}') has no opening '{'. "
            "Write {topic}, or write }} for a literal brace.",
        ),
        (
            "First line\nabout {topic\nlast line",
            "Unbalanced braces: the '{' at line 2, column 7 ('{topic last line') is never closed. "
            "Write {topic}, or write {{ for a literal brace.",
        ),
    ],
)
def test_unbalanced_braces_say_where_and_how_to_fix(template: str, message: str) -> None:
    assert refusal(template) == message


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            'Answer as {"joke": "...", "rating": 1} about {topic}',
            '{"joke": "...", "rating": 1} is not a {variable}. To send braces as text, '
            'double them: {{"joke": "...", "rating": 1}}.',
        ),
        (
            'Nested {"a": {"b": 1}} for {topic}',
            '{"a": {"b": 1}} is not a {variable}. To send braces as text, '
            'double them: {{"a": {{"b": 1}}}}.',
        ),
        (
            'Reply with\n{\n  "joke": "..."\n}\nabout {topic}',
            '{ "joke": "..." } is not a {variable}. To send braces as text, '
            "double each one: {{ and }}.",
        ),
        (
            "Python: def f(): return {a: 1}",
            "{a: 1} is not a {variable}. To send braces as text, double them: {{a: 1}}.",
        ),
    ],
)
def test_literal_braces_say_to_double_them(template: str, message: str) -> None:
    assert refusal(template) == message


def test_the_doubled_form_the_message_suggests_is_accepted() -> None:
    assert template_variables('Answer as {{"joke": "...", "rating": 1}} about {topic}') == ["topic"]
    assert template_variables('Nested {{"a": {{"b": 1}}}} for {topic}') == ["topic"]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("About { topic }", "{ topic } has spaces inside the braces. Write {topic}."),
        (
            "About {0}",
            "{0} is a numbered field, not a variable. Name it, e.g. {topic}, "
            "or write {{0}} for literal braces.",
        ),
        (
            "About {topic!r}",
            "{topic!r} is not a plain {variable}: conversions and format specs are not "
            "supported. Write {topic}, or {{topic!r}} for literal braces.",
        ),
    ],
)
def test_fields_that_are_not_plain_names_are_explained(template: str, message: str) -> None:
    assert refusal(template) == message


@pytest.mark.parametrize("template", ["", "   ", "\n\t \n"])
def test_an_empty_or_blank_template_is_refused(template: str) -> None:
    assert refusal(template) == (
        "The template is empty. Type a prompt, e.g. 'Tell me a joke about {topic}'."
    )


def test_a_100_kb_template_parses_quickly_and_makes_a_spec() -> None:
    body = "Lorem ipsum dolor sit amet, {{consectetur}} adipiscing elit. " * 1700
    template = f"{body}\nNow about {{topic}}: {body}"
    assert len(template) > 200_000
    assert template_variables(template) == ["topic"]
    spec = make_spec(template, ["cats"], MODELS)
    assert spec.cells()[0].inputs == {"topic": "cats"}


def test_unknown_variable_suggests_the_close_column() -> None:
    with pytest.raises(TemplateError) as info:
        make_spec("Tell me about {topc}", [{"topic": "cats"}], MODELS)
    assert str(info.value) == (
        "The template uses {topc} but the inputs have no column 'topc' (columns: topic). "
        "Did you mean {topic}?"
    )


def test_unknown_variable_without_a_close_column_says_to_add_one() -> None:
    with pytest.raises(TemplateError) as info:
        make_spec("A {tone} joke about {topic}", [{"topic": "cats"}], MODELS)
    assert str(info.value) == (
        "The template uses {tone} but the inputs have no column 'tone' (columns: topic). "
        "Add a column 'tone' or change {tone} in the template."
    )


def test_a_column_empty_in_every_row_is_refused() -> None:
    rows = [{"topic": "cats", "tone": ""}, {"topic": "dogs", "tone": "  "}]
    with pytest.raises(TemplateError) as info:
        make_spec("A {tone} joke about {topic}", rows, MODELS)
    assert str(info.value) == (
        "Column 'tone' is empty in every row, so {tone} has nothing to fill it. "
        "Fill in the tone values or remove {tone} from the template."
    )
    # A value in one row is enough: the other row's blank is the user's choice.
    rows[1]["tone"] = "dry"
    assert len(make_spec("A {tone} joke about {topic}", rows, MODELS).cells()) == 2


def test_an_empty_column_next_to_a_filled_close_one_suggests_it() -> None:
    rows = [{"topc": "", "topic": "cats"}, {"topc": "", "topic": "dogs"}]
    with pytest.raises(TemplateError) as info:
        make_spec("Tell me about {topc}", rows, MODELS)
    assert str(info.value) == (
        "Column 'topc' is empty in every row, but 'topic' has values: did you mean {topic}? "
        "Rename the variable in the template."
    )


@pytest.mark.parametrize(
    ("name", "choices", "guess"),
    [
        ("topc", ["topic"], "topic"),
        ("Topic", ["topic"], "topic"),
        ("tpoic", ["topic", "tone"], "topic"),
        ("tone", ["topic"], None),
        ("subject", ["topic"], None),
    ],
)
def test_suggest_name(name: str, choices: list[str], guess: str | None) -> None:
    assert suggest_name(name, choices) == guess


def test_an_unused_column_does_not_block() -> None:
    spec = make_spec("About {topic}", [{"topic": "cats", "notes": "fluffy"}], MODELS)
    assert len(spec.cells()) == 1


# ------------------------------------------------------------------------------ rows


def test_duplicate_rows_are_kept_and_titled_with_their_row_number() -> None:
    spec = make_spec("About {topic}", ["cats", "dogs", "cats"], MODELS)
    cells = spec.cells()
    assert [c.inputs for c in cells] == [{"topic": "cats"}, {"topic": "dogs"}, {"topic": "cats"}]
    assert [c.title for c in cells] == [
        "cats (row 1) × sim-a",
        "dogs × sim-a",
        "cats (row 3) × sim-a",
    ]
    assert len({c.id for c in cells}) == 3


def test_empty_lines_are_skipped() -> None:
    assert rows_from_lines("cats\n\n   \n\t\ndogs\r\n\r\n") == [
        {"topic": "cats"},
        {"topic": "dogs"},
    ]


def test_more_rows_than_a_run_takes_are_refused() -> None:
    with pytest.raises(SpecError) as info:
        make_spec("About {topic}", [f"t{i}" for i in range(MAX_ROWS + 1)], MODELS)
    assert str(info.value) == (
        "50,001 input rows; a run takes at most 50,000. Split the inputs into several runs."
    )


UNICODE = [
    "🐈‍⬛ black cat",  # ZWJ sequence
    "👩🏽‍💻 coder",  # skin tone + ZWJ
    "🇫🇷 flag",  # regional indicators
    "café naïve",  # precomposed
    "cafe\u0301 nai\u0308ve",  # combining marks
    "مرحبا بالعالم",  # Arabic (right to left)
    "שלום עולם",  # Hebrew (right to left)
    "漢字かな交じり文",  # CJK
]


def test_unicode_inputs_are_kept_exactly() -> None:
    spec = make_spec("About {topic}", UNICODE, MODELS)
    assert [c.inputs["topic"] for c in spec.cells()] == UNICODE
    assert [c.title for c in spec.cells()] == [f"{u} × sim-a" for u in UNICODE]


@pytest.mark.parametrize(
    ("text", "limit", "cut"),
    [
        ("🐈‍⬛🐈‍⬛🐈‍⬛", 5, "🐈‍⬛…"),  # never half an emoji sequence
        ("cafe\u0301" * 3, 6, "cafe\u0301…"),  # the accent stays on its letter...
        ("cafe\u0301" * 3, 5, "caf…"),  # ... or goes with it
        ("🇫🇷🇩🇪🇮🇹", 4, "🇫🇷…"),  # never half a flag
        ("abcdef", 4, "abc…"),
        ("short", 40, "short"),
    ],
)
def test_labels_are_cut_between_graphemes(text: str, limit: int, cut: str) -> None:
    assert cut_text(text, limit) == cut


def test_one_line_label_flattens_and_cuts() -> None:
    assert one_line_label("line one\nline two", 40) == "line one line two"


# ------------------------------------------------------------------------------ files


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(path: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_rows_file(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_png_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "cat.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert refused(path) == "cat.png is a binary file, not CSV or JSON Lines."


def test_random_bytes_are_refused_even_without_a_nul(tmp_path: Path) -> None:
    rng = random.Random(7)
    with_nul = write(tmp_path, "a.csv", bytes(rng.randrange(256) for _ in range(5000)))
    without = write(tmp_path, "b.csv", bytes(rng.randrange(1, 256) for _ in range(5000)))
    assert refused(with_nul) == "a.csv is a binary file, not CSV or JSON Lines."
    assert refused(without) == "b.csv is a binary file, not CSV or JSON Lines."


def test_an_excel_workbook_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = write(tmp_path, "inputs.xlsx", b"PK\x03\x04\x14\x00\x06\x00" + bytes(300))
    assert refused(path) == (
        "inputs.xlsx is a binary file, not CSV or JSON Lines. It looks like an Excel "
        "workbook or a ZIP archive: save it as CSV UTF-8."
    )


def test_latin1_is_read_as_windows_1252_with_a_note(tmp_path: Path) -> None:
    path = write(
        tmp_path, "excel.csv", "topic,tone\ncafé,sèche\n“quotes” €,très\n".encode("cp1252")
    )
    loaded = load_rows_file(path)
    assert loaded.rows == [
        {"topic": "café", "tone": "sèche"},
        {"topic": "“quotes” €", "tone": "très"},
    ]
    assert loaded.notes == [
        "excel.csv is not UTF-8: read it as Windows-1252 (Latin-1). "
        "If accents look wrong, save it as UTF-8."
    ]


def test_damaged_utf8_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "mixed.csv", "topic\ncafé\nnaïve\n".encode() + b"caf\xe9\n")
    assert refused(path) == (
        "mixed.csv is not valid UTF-8: line 4 has a byte (0xE9) that is not UTF-8. "
        "Save it as UTF-8 and import it again."
    )


@pytest.mark.parametrize("bom", [codecs.BOM_UTF8, b""])
def test_utf8_with_or_without_bom(tmp_path: Path, bom: bytes) -> None:
    path = write(tmp_path, "u.csv", bom + "topic\n🐈‍⬛ cats\n".encode())
    assert read_rows_file(path) == [{"topic": "🐈‍⬛ cats"}]


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "unicode.txt", "topic\ttone\n漢字\tשלום\n".encode("utf-16"))
    loaded = load_rows_file(path)
    assert loaded.rows == [{"topic": "漢字", "tone": "שלום"}] and loaded.notes == []


def test_a_file_too_large_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:
        f.truncate(MAX_INPUT_BYTES + 10 * 2**20)  # sparse: nothing is written to disk
    assert refused(path) == (
        "huge.csv is 60 MB; inputs files are limited to 50 MB. Split it into smaller files."
    )


def test_a_file_with_too_many_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("topic\n" + "\n".join("x" for _ in range(MAX_INPUT_ROWS + 1)), "utf-8")
    assert refused(path) == (
        "long.csv has 50,001 rows; a run takes at most 50,000. Split it into smaller files."
    )


def test_a_bad_line_late_in_a_file_refuses_the_whole_file(tmp_path: Path) -> None:
    lines = [f'{{"topic": "t{i}"}}' for i in range(500)] + ['{"topic": ']
    path = write(tmp_path, "late.jsonl", "\n".join(lines).encode())
    assert refused(path) == "late.jsonl line 501 is not valid JSON (Expecting value)."


def test_a_header_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "dup.csv", b"topic,tone,topic\na,b,c\n")
    assert refused(path) == (
        "dup.csv names the column 'topic' twice in its header. Give each column its own name."
    )


def test_file_columns_are_reported_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.csv", b"tone,topic,notes\ndry,cats,x\n")
    assert load_rows_file(path).columns == ["tone", "topic", "notes"]


def test_a_json_array_of_objects_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "rows.json", '[{"topic": "漢字"}, {"topic": "b"}]'.encode())
    assert read_rows_file(path) == [{"topic": "漢字"}, {"topic": "b"}]


# ------------------------------------------------------------------------------ profiles


@pytest.mark.parametrize(
    ("base_url", "message"),
    [
        (
            "localhost:11434/v1",
            "Base URL 'localhost:11434/v1' is not an http(s) URL: it has no scheme. "
            "Write http://localhost:11434/v1.",
        ),
        (
            "api.example.com/v1",
            "Base URL 'api.example.com/v1' is not an http(s) URL: it has no scheme. "
            "Write https://api.example.com/v1.",
        ),
        (
            "ftp://example.com/v1",
            "Base URL 'ftp://example.com/v1' is not an http(s) URL. "
            "Start it with http:// or https://, e.g. http://localhost:11434/v1.",
        ),
        ("http://", "Base URL 'http://' has no host name. Use e.g. http://localhost:11434/v1."),
        (
            "http://localhost:99999/v1",
            "Base URL 'http://localhost:99999/v1' has an invalid port. "
            "Use a number from 1 to 65535.",
        ),
    ],
)
def test_bad_base_urls_say_what_to_write(base_url: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        ModelProfile(model="m", provider=ProviderKind.OPENAI, base_url=base_url).validate()
    assert str(info.value) == message


@pytest.mark.parametrize("model", ["", "   "])
def test_an_empty_model_name_is_refused(model: str) -> None:
    with pytest.raises(SpecError) as info:
        ModelProfile(model=model).validate()
    assert str(info.value) == "Model name is empty. Give each model a name, e.g. gpt-4o-mini."


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_concurrency": 0}, "Max concurrency 0 is out of range: use 1 to 1000."),
        ({"max_concurrency": -3}, "Max concurrency -3 is out of range: use 1 to 1000."),
        ({"max_concurrency": 10_000}, "Max concurrency 10000 is out of range: use 1 to 1000."),
        ({"requests_per_second": 0.0}, "Requests per second 0 is out of range: use 0.01 to 10000."),
        (
            {"requests_per_second": -2.0},
            "Requests per second -2 is out of range: use 0.01 to 10000.",
        ),
        ({"ttft_timeout": 0.0}, "First-token timeout 0 is out of range: use 0.05 to 3600."),
        ({"idle_timeout": 7200.0}, "Idle timeout 7200 is out of range: use 0.05 to 3600."),
        ({"total_timeout": -1.0}, "Total timeout -1 is out of range: use 0.05 to 86400."),
        ({"timeout": 0.0}, "First-token timeout 0 is out of range: use 0.05 to 3600."),
        (
            {"max_answer_chars": 10},
            "Answer size cap 10 is out of range: use 1000 to 1000000000.",
        ),
        ({"retries": 100}, "Retries 100 is out of range: use 0 to 10."),
    ],
)
def test_absurd_limits_name_the_accepted_range(changes: dict[str, float], message: str) -> None:
    with pytest.raises(SpecError) as info:
        Limits().changed(**changes)
    assert str(info.value) == message

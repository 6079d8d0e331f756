"""Markdown that renders while it streams: finished blocks once, only the open block per frame.

A streamed answer grows at its end, so everything but its last top-level block (paragraph,
list, table, fenced code, ...) is final as soon as the next block has begun: no later text can
change how it renders. :class:`MarkdownStream` keeps the answer's source, parses only the text
from the first block that is not finished yet (markdown-it-py, CommonMark with GitHub tables
and strikethrough, raw HTML shown as text), hands each finished block's HTML out exactly once,
and re-renders only the open block on each call. Fenced code is highlighted with Pygments,
one style per palette (light and dark), and gets a "Copy" link (``copy:N``) above it; an open
fence mid-stream already renders as code.

The cost of one :meth:`MarkdownStream.step` is bounded: it parses at most ``budget`` characters
of new text and carries the rest to the next step (the view calls one step per frame). One
open block longer than the budget is not re-rendered on every step: the view shows it as raw
text until it ends, and the stream retries to parse it only each time it has grown by half.

This module imports no Qt: the view (``gui/qt/widgets/markdown_view.py``) inserts the HTML.
Known limit: a link whose reference definition (``[x]: url``) comes in a later block stays
unresolved in the blocks before it (the one-shot render resolves it).
"""

from __future__ import annotations

import functools
import html
import logging
import re
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

# markdown-it-py and Pygments are imported on first use (about 45 ms together): a window
# shows before any answer needs them, and the engine's warm-up imports them in the
# background (:func:`warm_up`).
if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token
    from pygments.formatters import HtmlFormatter
    from pygments.lexer import Lexer

__all__ = [
    "CODE_STYLES",
    "COPY_SCHEME",
    "DEFAULT_BUDGET",
    "MarkdownStream",
    "Update",
    "render_html",
    "warm_up",
    "warm_up_done",
    "warm_up_expected",
    "warm_up_pieces",
    "warming",
    "when_warm",
]

log = logging.getLogger(__name__)

#: Characters of new source parsed per step at most when the caller gives no budget (about
#: 6 ms of parsing and rendering; docs/performance-notes.md). The rest is carried over.
DEFAULT_BUDGET = 1_500

#: Pygments style per palette: (light, dark).
CODE_STYLES = ("default", "github-dark")

#: The URL scheme of the Copy link above each code block: ``copy:<index>``.
COPY_SCHEME = "copy"

_LANG_RE = re.compile(r"^[\w+#.-]+$")
#: Where a top-level block may start: a line after a blank line, not indented (an indented
#: one may continue a list item or be indented code).
_BLOCK_START_RE = re.compile(r"\n\n(?=\S)")
#: A line opening or closing fenced code.
_FENCE_RE = re.compile(r"^ {0,3}(?:`{3,}|~{3,})", re.MULTILINE)

#: Languages whose Pygments lexer :func:`warm_up` builds ahead (building one compiles its
#: regular expressions: tens of ms for the bigger ones, a freeze if done mid-stream).
WARM_LANGUAGES = (
    "python",
    "javascript",
    "typescript",
    "bash",
    "json",
    "sql",
    "java",
    "c",
    "cpp",
    "go",
    "rust",
    "html",
    "css",
    "yaml",
)


@dataclass(frozen=True, slots=True)
class _Palette:
    """Colours the rendered HTML uses besides Pygments' own."""

    code_bg: str
    code_fg: str
    muted: str
    border: str


_LIGHT = _Palette(code_bg="#f6f8fa", code_fg="#1f2328", muted="#6e7781", border="#d0d7de")
_DARK = _Palette(code_bg="#161b22", code_fg="#e6edf3", muted="#8b949e", border="#3d444d")


@dataclass(slots=True)
class Update:
    """What changed since the last :meth:`MarkdownStream.step`.

    Attributes:
        finished: HTML of each block that was finished by this step, in order. Each block
            of the answer appears here exactly once over the stream's life.
        tail: HTML of the open (last) block, ``""`` when there is none, ``None`` when it did
            not change (or is shown raw, see ``tail_raw``).
        tail_raw: The open block's source when it is too long to re-render per step: the
            view shows it as plain text until it ends. ``None`` otherwise.
        pending: More source is waiting to be parsed: call :meth:`MarkdownStream.step` again
            (next frame).
        parsed: Characters of source this step parsed.
    """

    finished: list[str] = field(default_factory=list)
    tail: str | None = None
    tail_raw: str | None = None
    pending: bool = False
    parsed: int = 0

    @property
    def changed(self) -> bool:
        """Whether there is anything to show."""
        return bool(self.finished) or self.tail is not None or self.tail_raw is not None


@functools.lru_cache(maxsize=64)
def _lexer(lang: str) -> Lexer | None:
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(lang, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


@functools.lru_cache(maxsize=4)
def _formatter(style: str) -> HtmlFormatter[str]:
    from pygments.formatters import HtmlFormatter

    # nowrap: spans only; the <pre> is ours, with a background Qt's rich text understands.
    return HtmlFormatter(style=style, noclasses=True, nowrap=True)


@functools.lru_cache(maxsize=4)
def _code_background(style: str) -> str:
    from pygments.styles import get_style_by_name

    return str(get_style_by_name(style).background_color or "")


def _code_html(code: str, lang: str, dark: bool) -> str:
    style = CODE_STYLES[dark]
    lexer = _lexer(lang.lower()) if lang and _LANG_RE.match(lang) else None
    if lexer is None:
        return html.escape(code, quote=False)
    from pygments import highlight

    return str(highlight(code, lexer, _formatter(style)))


def warm_up_pieces() -> list[Callable[[], object]]:
    """What :func:`warm_up` does, piece by piece (the parser's import, each lexer, a sample
    render per palette), for a caller that runs them one at a time and may wait between two
    (5-100 ms of CPU each)."""
    sample = "```python\nx = 1\n```\n\n| a |\n|---|\n| b |\n"
    return [
        _parser,
        *(functools.partial(_lexer, lang) for lang in WARM_LANGUAGES),
        *(functools.partial(render_html, sample, dark=dark) for dark in (False, True)),
    ]


def warm_up() -> None:
    """Import the parser and build the common code lexers now (call it off the GUI thread):
    the first answer then renders without paying for either."""
    for piece in warm_up_pieces():
        piece()


class _Warmth:
    """Whether a warm-up elsewhere (the window's, on a worker thread) is building the parser
    and the lexers, and who waits for it to end.

    A view that rendered while it runs would build them itself, on its own thread, in the
    middle of an answer: it shows the text raw instead and renders once told (see
    :func:`when_warm`). Without a warm-up under way nothing waits (the CLI, tests, a view
    used alone): the first render builds what it needs, as before.
    """

    def __init__(self) -> None:
        self.expected = False
        self.waiting: list[weakref.WeakMethod[Callable[[], object]]] = []


_warmth = _Warmth()


def warm_up_expected() -> None:
    """A warm-up is under way (or about to start): :func:`warming` is true until
    :func:`warm_up_done`."""
    _warmth.expected = True


def warm_up_done() -> None:
    """The warm-up ended (done, failed or cancelled): call everyone who waited for it, on
    this thread (the caller's: the window's loop)."""
    _warmth.expected = False
    waiting, _warmth.waiting = _warmth.waiting, []
    for ref in waiting:
        callback = ref()
        if callback is None:
            continue
        try:
            callback()
        except Exception:  # one view's failure must not leave the others raw
            log.exception("a view waiting for the Markdown warm-up failed")


def warming() -> bool:
    """Whether a warm-up is building the parser and the common lexers right now."""
    return _warmth.expected


def when_warm(callback: Callable[[], object]) -> None:
    """Call the bound method ``callback`` once the warm-up has ended (at once if none runs).

    Only a weak reference is kept: an object deleted meanwhile is not called.
    """
    if not _warmth.expected:
        callback()
        return
    ref = weakref.WeakMethod(callback)  # type: ignore[arg-type]
    if all(r() != callback for r in _warmth.waiting):
        _warmth.waiting.append(ref)


def _fence_lang(token: Token) -> str:
    info = token.info.strip()
    return info.split(maxsplit=1)[0] if info else ""


def _render_code(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """A fenced or indented code block: optional Copy bar, then the highlighted <pre>."""
    token = tokens[idx]
    code = token.content
    lang = _fence_lang(token) if token.type == "fence" else ""
    dark = bool(env.get("fanout_dark"))
    palette = _DARK if dark else _LIGHT
    codes: list[str] | None = env.get("fanout_codes")
    bar = ""
    if codes is not None:
        index = env["fanout_code_base"] + len(codes)
        codes.append(code)
        label = (
            f'&nbsp;<span style="color:{palette.muted}">{html.escape(lang)}</span>' if lang else ""
        )
        bar = (
            f'<p style="margin-top:6px; margin-bottom:0px; font-size:small">'
            f'<a href="{COPY_SCHEME}:{index}">Copy</a>{label}</p>\n'
        )
    body = _code_html(code.rstrip("\n"), lang, dark)
    bg = _code_background(CODE_STYLES[dark]) if lang else palette.code_bg
    return (
        f'{bar}<pre style="background-color:{bg or palette.code_bg}; color:{palette.code_fg};'
        f' margin-top:2px">{body}</pre>\n'
    )


def _render_table_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    # Qt's rich text draws no cell borders unless the table asks for them.
    palette = _DARK if env.get("fanout_dark") else _LIGHT
    return (
        f'<table border="1" cellspacing="0" cellpadding="4"'
        f' style="border-color:{palette.border}; border-style:solid">\n'
    )


@functools.cache
def _parser() -> MarkdownIt:
    """The one parser: markdown-it keeps no state between parses (``env`` is per call)."""
    from markdown_it import MarkdownIt

    # CommonMark plus GitHub's tables and strikethrough; html=False: a model's "<div>" in prose
    # shows as text instead of vanishing into (or being fetched by) the rich-text engine.
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.add_render_rule("fence", _render_code)
    md.add_render_rule("code_block", _render_code)
    md.add_render_rule("table_open", _render_table_open)
    return md


def render_html(
    source: str,
    dark: bool = False,
    copy_links: bool = False,
    codes: list[str] | None = None,
    code_base: int = 0,
) -> str:
    """The HTML of a whole Markdown ``source`` in one go (no stream).

    Args:
        source: The Markdown text.
        dark: Colour code for a dark palette.
        copy_links: Put a ``copy:N`` link above each code block, as the stream does.
        codes: With ``copy_links``, each code block's exact text is appended here (what its
            link copies).
        code_base: With ``copy_links``, the ``N`` of the first block's link (a caller that
            renders several texts into one view numbers their links apart).
    """
    md = _parser()
    env: dict[str, Any] = {"fanout_dark": dark}
    if copy_links:
        env.update(fanout_codes=codes if codes is not None else [], fanout_code_base=code_base)
    return str(md.render(_normalize(source), env))


def _normalize(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _top_level_blocks(tokens: list[Token]) -> list[tuple[int, int, int]]:
    """``(first token, end token, first source line)`` of each top-level block."""
    blocks: list[tuple[int, int, int]] = []
    start = 0
    for i, token in enumerate(tokens):
        if token.level != 0:
            continue
        if token.nesting == 1:
            start = i
        else:  # a level-0 close token, or a self-contained block (fence, hr, code)
            first = tokens[start] if token.nesting == -1 else token
            line = first.map[0] if first.map else 0
            blocks.append((start if token.nesting == -1 else i, i + 1, line))
    return blocks


class MarkdownStream:
    """A growing Markdown text split into finished blocks (rendered once) and an open tail.

    Feed text with :meth:`append`, call :meth:`step` once per frame and show what the
    returned :class:`Update` says; :meth:`finish` tells it no more text will come.

    Attributes:
        block_renders: Finished blocks rendered so far (each block counts once).
        tail_renders: Renders of the open block.
    """

    #: An open block longer than this many characters is shown raw until it ends.
    TAIL_LIMIT = 24_000

    def __init__(self, *, dark: bool = False, budget: int = DEFAULT_BUDGET) -> None:
        # The parser (markdown-it's import, ~40 modules) is fetched at the first parse, not
        # here: the window builds its views before the warm-up has imported it off the GUI
        # thread, and an empty view needs no parser.
        self._parser: MarkdownIt | None = None
        self._dark = dark
        self.budget = budget
        self._reset()

    def _reset(self) -> None:
        self._raw: list[str] = []  # the exact source, joined lazily
        self._text = ""  # normalised source (\r\n -> \n), what is parsed
        self._cr = False  # the last chunk ended with \r: a \n starting the next is its pair
        self._start = 0  # offset in _text of the first block not finished
        self._final = False
        self._codes: list[str] = []  # code of finished blocks, by copy index
        self._tail_codes: list[str] = []  # code of the open block
        self._html: list[str] = []  # HTML of finished blocks
        self._tail_html = ""
        self._shown_tail: str | None = None  # the tail HTML last handed out
        self._oversize_from = 0  # open block too long: retry parsing once _text passes this
        # Eliding the middle of a long answer: where the head ends (offset, codes, blocks),
        # then where the kept end starts (None: nothing elided).
        self._cut: tuple[int, int, int] | None = None
        self._kept_from: int | None = None
        self._env: dict[str, Any] = {"fanout_dark": self._dark}
        self._coloured = False  # some HTML handed out carries the palette's colours
        self.block_renders = 0
        self.tail_renders = 0

    @property
    def _md(self) -> MarkdownIt:
        if self._parser is None:
            self._parser = _parser()
        return self._parser

    # ------------------------------------------------------------------------- input

    @property
    def dark(self) -> bool:
        """Whether code is coloured for a dark palette."""
        return self._dark

    def append(self, text: str) -> str:
        """Add streamed ``text`` at the end (cheap: parsing waits for :meth:`step`).

        Returns:
            ``text`` as it will be parsed (line ends normalised to ``\\n``).
        """
        if not text:
            return ""
        self._raw.append(text)
        if self._cr and text.startswith("\n"):
            text = text[1:]
        self._cr = text.endswith("\r")
        added = _normalize(text)
        self._text += added
        self._final = False
        return added

    def finish(self) -> None:
        """No more text: the next steps finish the last block too."""
        self._final = True

    def clear(self) -> None:
        """Forget everything (a new answer)."""
        self._reset()

    def source(self) -> str:
        """The text exactly as appended."""
        if len(self._raw) > 1:
            self._raw = ["".join(self._raw)]
        return self._raw[0] if self._raw else ""

    @property
    def final(self) -> bool:
        """Whether :meth:`finish` was called (and no text appended since)."""
        return self._final

    def code(self, index: int) -> str | None:
        """The exact text of code block ``index`` (the ``N`` of its ``copy:N`` link)."""
        if 0 <= index < len(self._codes):
            return self._codes[index]
        index -= len(self._codes)
        if 0 <= index < len(self._tail_codes):
            return self._tail_codes[index]
        return None

    def tail_html(self) -> str:
        """HTML of the open block as last rendered (``""`` if none)."""
        return self._tail_html

    def done(self) -> bool:
        """Whether the whole source has been rendered and there is nothing left to do."""
        return self._final and self._start >= len(self._text) and not self._tail_html

    def length(self) -> int:
        """Characters of (normalised) source appended so far."""
        return len(self._text)

    def rendered_to(self) -> int:
        """Offset in the normalised source where the first block not finished yet starts."""
        return self._start

    # ------------------------------------------------------------------------- eliding

    def mark_cut(self) -> None:
        """Remember where the head of a long answer ends (at :meth:`rendered_to`): what
        :meth:`elide` leaves out starts here, and :meth:`unelide` comes back here."""
        if self._cut is None:
            self._cut = (self._start, len(self._codes), len(self._html))

    @property
    def cut_at(self) -> int | None:
        """Where the head ends (:meth:`mark_cut`), or ``None``."""
        return self._cut[0] if self._cut is not None else None

    @property
    def kept_from(self) -> int | None:
        """Where the end kept after an :meth:`elide` starts, or ``None`` (nothing elided)."""
        return self._kept_from

    def elided_chars(self) -> int:
        """Characters of source between the head and the kept end (0: nothing elided)."""
        if self._cut is None or self._kept_from is None:
            return 0
        return self._kept_from - self._cut[0]

    def elide(self, keep_from: int) -> int | None:
        """Leave out the source from the cut (:meth:`mark_cut`) to the first block start at
        or after ``keep_from``: the next steps render from there (the text before that block
        start is rendered again if it was). Returns that block start, or ``None`` when
        there is none (then nothing changes).

        A block start is a line that follows a blank line, is not indented and lies outside
        fenced code: no block above it can continue into it.
        """
        if self._cut is None:
            return None
        start = max(keep_from, self._cut[0])
        boundary = self._block_start(start)
        if boundary is None:
            return None
        self._start = self._kept_from = boundary
        self._oversize_from = 0
        self._set_tail("", [])
        self._shown_tail = None
        return boundary

    def unelide(self) -> None:
        """Render the whole answer: back to the cut, as if nothing had been left out."""
        if self._cut is None:
            return
        self._start, codes, blocks = self._cut
        del self._codes[codes:]
        del self._html[blocks:]
        self._cut = self._kept_from = None
        self._oversize_from = 0
        self._set_tail("", [])
        self._shown_tail = None

    def _block_start(self, at: int) -> int | None:
        assert self._cut is not None
        text = self._text
        # Fence lines from the cut (itself a block start, outside any fence) decide whether
        # a candidate lies inside fenced code.
        counted_to, fences = self._cut[0], 0
        for match in _BLOCK_START_RE.finditer(text, at):
            candidate = match.end()
            fences += len(_FENCE_RE.findall(text, counted_to, candidate))
            counted_to = candidate
            if fences % 2 == 0:
                return candidate
        return None

    @property
    def coloured(self) -> bool:
        """Whether some HTML handed out so far carries colours of its palette (a code block,
        a table's borders, a link): only then does a light/dark switch need it rendered
        again; prose, lists and headings take their colours from the view's palette."""
        return self._coloured

    def set_dark(self, dark: bool) -> None:
        """Colour what is rendered from now on for the other palette, rendering nothing again:
        for a stream that is not :attr:`coloured` (else :meth:`restyle`)."""
        self._dark = dark
        self._env["fanout_dark"] = dark

    def restyle(self, dark: bool) -> None:
        """Colour code for the other palette: everything is rendered again from the source."""
        if dark == self._dark:
            return
        source, final = self.source(), self._final
        self._dark = dark
        self._reset()
        self.append(source)
        if final:
            self.finish()

    # ------------------------------------------------------------------------- steps

    def step(self, budget: int | None = None) -> Update:
        """Parse up to ``budget`` new characters; return the blocks finished and the tail.

        Args:
            budget: Characters of new source to parse at most (default :attr:`budget`);
                ``0`` means no limit.
        """
        budget = self.budget if budget is None else budget
        update = Update()
        text, start = self._text, self._start
        end = len(text)
        if start >= end:
            update.tail = self._set_tail("", [])
            return update
        if self._oversize_from and not self._final and end < self._oversize_from:
            update.tail_raw = text[start:]
            return update
        window = self._window(start, budget)
        tokens, blocks, open_from = self._parse(start, window)
        while window < end and open_from == 0:
            # The first block is longer than the window: twice the window, until it ends.
            wider = self._window(start, 2 * (window - start))
            if wider <= window:  # no line end in the wider budget: take the next line too
                wider = self._text.find("\n", window) + 1 or end
            window = wider
            tokens, blocks, open_from = self._parse(start, window)
        update.parsed = window - start
        carry = window < end
        for first, stop, _ in blocks[:open_from]:
            self._finish_block(tokens[first:stop], update)
        chunk = text[start:window]
        if open_from < len(blocks):
            self._start = start + _line_offset(chunk, blocks[open_from][2])
        elif self._final and not carry:
            self._start = end
        elif not blocks:
            # Blank lines only: skip the complete ones (an incomplete one may become indent).
            self._start = start + chunk.rfind("\n") + 1
        else:
            self._start = window
        update.pending = carry
        if carry:
            # The open block may continue past the window: render it when it is reached.
            update.tail = self._set_tail("", [])
            return update
        open_tokens = tokens[blocks[open_from][0] :] if open_from < len(blocks) else []
        if end - self._start > self.TAIL_LIMIT and not self._final:
            # Re-rendering it every frame would cost its whole length per frame.
            self._oversize_from = end + (end - self._start) // 2
            update.tail = self._set_tail("", [])
            update.tail_raw = text[self._start :]
            return update
        self._oversize_from = 0
        update.tail = self._render_tail(open_tokens)
        return update

    def _window(self, start: int, budget: int) -> int:
        """The end of the text to parse from ``start``: the last line end within ``budget``
        characters (all of the text without a budget, or when one line is longer)."""
        end = len(self._text)
        if not budget or end - start <= budget:
            return end
        cut = self._text.rfind("\n", start, start + budget) + 1
        if cut > start:
            return cut
        cut = self._text.find("\n", start + budget) + 1
        return cut if cut > 0 else end

    def flush(self) -> Update:
        """Everything left in one step, without a budget (for a caller that needs it now)."""
        return self.step(0)

    def _parse(
        self, start: int, window: int
    ) -> tuple[list[Token], list[tuple[int, int, int]], int]:
        """Tokens and top-level blocks of ``_text[start:window]``, and the first open block."""
        chunk = self._text[start:window]
        tokens = self._md.parse(chunk, self._env)
        blocks = _top_level_blocks(tokens)
        if self._final and window == len(self._text):
            return tokens, blocks, len(blocks)
        # The last block whose first line is complete may still grow; every block before it
        # is final. (A block begun on an incomplete line, e.g. "2" that may become the item
        # "2. x" of the list above, keeps the block before it open too.)
        complete = chunk.count("\n")
        open_from = 0
        for k, (_, _, line) in enumerate(blocks):
            if line < complete:
                open_from = k
        return tokens, blocks, open_from

    # ------------------------------------------------------------------------- internals

    def _finish_block(self, tokens: list[Token], update: Update) -> None:
        codes: list[str] = []
        self._env.update(fanout_codes=codes, fanout_code_base=len(self._codes))
        block = self._md.renderer.render(tokens, self._md.options, self._env)
        self._coloured = self._coloured or _carries_colours(block)
        self._codes.extend(codes)
        self._html.append(block)
        update.finished.append(block)
        self.block_renders += 1
        # The finished block replaces what the tail showed of it.
        self._tail_html = ""
        self._tail_codes = []
        self._shown_tail = None

    def _render_tail(self, tokens: list[Token]) -> str | None:
        if not tokens:
            return self._set_tail("", [])
        codes: list[str] = []
        self._env.update(fanout_codes=codes, fanout_code_base=len(self._codes))
        tail = self._md.renderer.render(tokens, self._md.options, self._env)
        self._coloured = self._coloured or _carries_colours(tail)
        self.tail_renders += 1
        return self._set_tail(tail, codes)

    def _set_tail(self, tail: str, codes: list[str]) -> str | None:
        self._tail_html, self._tail_codes = tail, codes
        if tail == self._shown_tail:
            return None
        self._shown_tail = tail
        return tail


def _carries_colours(html: str) -> bool:
    """Whether ``html`` holds colours of one palette: a code block's (Pygments' and its Copy
    bar's), a table's border, or a link (the rich-text engine fixes a link's colour from the
    palette when it inserts it)."""
    return "<pre" in html or "<table" in html or "<a " in html


def _line_offset(text: str, line: int) -> int:
    """Offset in ``text`` of the start of line ``line`` (0-based)."""
    offset = 0
    for _ in range(line):
        offset = text.index("\n", offset) + 1
    return offset

"""The built-in offline chat model: readable answers with realistic latency, streaming and failures.

`SimulatedChatModel` is the app's default provider. It needs no key and no network, and it
behaves like a hosted model where the engine can tell the difference: a time to first token, a
steady token pace, usage metadata on the last chunk, and injectable failures (HTTP 429, 503, a
stall that trips the caller's timeout, a connection dropped mid-stream).

Timing follows an absolute schedule (token ``i`` is due at ``start + ttft + i / tokens_per_second``)
so that thousands of concurrent streams do not drift, and non-streaming calls sleep once for the
whole duration instead of once per token.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import itertools
import json
import math
import random
import re
import time
import zlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from gui.core.cell_context import requested_sample
from gui.core.chat import sniff_image
from gui.core.judging import JudgeRequest, read_request
from gui.core.spec import SimSettings
from gui.core.structured import instructed_schema
from gui.providers.simulated_judge import judge_reply

__all__ = [
    "FailureKind",
    "SimulatedChatModel",
    "SimulatedConnectionDropped",
    "SimulatedError",
    "SimulatedRateLimitError",
    "SimulatedServerError",
]

FailureKind = Literal["rate_limit", "server_error", "timeout", "drop"]  # SimSettings.FAILURE_KINDS

# Defaults and the latency rule come from the settings the rest of the app uses.
_SIM = SimSettings()

# Unlimited pace still hands the event loop back this often, so one fast stream cannot starve
# the window (or 1,999 other streams).
_YIELD_EVERY = 64

# Answers up to this many tokens are composed up front (well under a millisecond); longer
# ones while they stream (see _LazyTokens).
_EAGER_TOKENS = 4096


# --------------------------------------------------------------------------------------------
# Errors


class SimulatedError(Exception):
    """A failure injected by :class:`SimulatedChatModel`.

    Attributes:
        kind: Which ``failure_kind`` produced it (``rate_limit``, ``server_error``,
            ``timeout`` or ``drop``).
        status_code: The HTTP status a real server would have sent, or ``None``.
    """

    kind: str = "server_error"
    status_code: int | None = None

    def __init__(
        self, message: str, *, kind: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        if status_code is not None:
            self.status_code = status_code


class SimulatedRateLimitError(SimulatedError):
    """HTTP 429: the simulated server asks the client to wait ``retry_after`` seconds.

    Attributes:
        retry_after: Seconds the server asked the client to wait (``Retry-After``).
    """

    kind = "rate_limit"
    status_code = 429

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SimulatedServerError(SimulatedError):
    """HTTP 503, or 504 with ``kind == "timeout"`` when a stalled request finally gives up."""

    kind = "server_error"
    status_code = 503


class SimulatedConnectionDropped(SimulatedError, ConnectionError):
    """The connection broke mid-stream, after about half of the answer had arrived.

    Also a :class:`ConnectionError`, so generic handlers classify it as a connection failure.
    """

    kind = "drop"
    status_code = None


# --------------------------------------------------------------------------------------------
# Text: a subject from the prompt, sentences from templates, tokens like a real tokenizer.

# Word pieces with their leading space, as BPE tokenizers produce them: "Why", " did", "?".
_TOKEN_RE = re.compile(r" ?[^\W_]+| ?[^\w\s]|\s+|_")
_LONG_WORD = 8  # letters; longer words are split into pieces of _PIECE letters
_PIECE = 5

_JOKE_RE = re.compile(r"\b(?:jokes?|funny|pun|puns|humou?r)\b", re.IGNORECASE)
# A prompt that asks for Markdown gets it: headings, lists, a table and code in every section
# (the render-ceiling benchmark renders exactly that).
_MARKDOWN_RE = re.compile(r"\bmarkdown\b", re.IGNORECASE)
_LEAD_RE = re.compile(
    r"\b(?:about|regarding|explain|describe|summari[sz]e|define|"
    r"what\s+(?:is|are|was|were)|who\s+(?:is|was|were))\s+([^.?!,;:\n]+)",
    re.IGNORECASE,
)
_WORD_RE = re.compile(r"[^\W\d_][\w'\-]*")  # any script: "кошки", "猫", "café" are words
_DETERMINERS = frozenset(
    "a an the some any my your our their his her its this that these those".split()
)
_CUT_WORDS = frozenset(
    "in for to with using like so that which because please but while when if as "
    "into from by than".split()
)
_FILLER_WORDS = frozenset(
    """i me you we they it he she him them us is are was were be been being am do does did
    done have has had can could would should will shall may might must not no yes and or of on
    at up out over under about what who whom whose why how where which there here tell write
    give make explain describe summarize summarise define show list say answer reply respond
    help let lets let's get just only include includes short long brief one two three four
    five few many more most very really simple simply please thanks thank hello hi hey hiya
    greetings good morning afternoon evening ok okay sure something anything everything
    words word sentence sentences paragraph paragraphs terms way ways kind sort thing
    things""".split()
)
_STOPWORDS = _DETERMINERS | _CUT_WORDS | _FILLER_WORDS
_NO_SINGULAR_ENDINGS = ("ss", "us", "is", "ics", "ous")

_FALLBACK_SUBJECT = "your question"

_EXPLAIN_OPENERS = (
    "Here is a short overview of {topic}.",
    "Good question: {topic} is easier to grasp than it first looks.",
    "Let me walk you through {topic} step by step.",
    "{Topic} comes up often, so here is the gist.",
)
#: Each simulated model name has a voice of its own: the openers of its answers (picked by a
#: stable hash of the name, see :func:`_style_of`), so two models differ from the first words.
_STYLE_OPENERS = (
    _EXPLAIN_OPENERS,
    (
        "Short version: {topic} is less mysterious than it sounds.",
        "In a nutshell, here is what matters about {topic}.",
        "Here is the quick take on {topic}.",
        "{Topic}, briefly, without the jargon.",
    ),
    (
        "Great topic. Let me explain {topic} from the ground up.",
        "Happy to help with {topic}; here is a fuller picture.",
        "{Topic} deserves a careful answer, so let me start with the basics.",
        "There is a lot to say about {topic}, so I will keep to the essentials.",
    ),
)
_EXPLAIN_SENTENCES = (
    "At its core, {topic} is about how a few simple parts fit together.",
    "People often misread {topic} because the details hide the big picture.",
    "A good way to understand {topic} is to start with one concrete example.",
    "The history of {topic} explains much of how it works today.",
    "In practice, {topic} matters most when time or resources are limited.",
    "Experts still debate parts of {topic}, but the basics are well understood.",
    "If you remember one thing about {topic}, remember that context changes everything.",
    "Most introductions to {topic} skip the trade-offs, which is where it gets interesting.",
    "You can test your grasp of {topic} by explaining it to a friend in two minutes.",
    "The common mistake with {topic} is to treat every case the same way.",
    "Small changes can have large effects when it comes to {topic}.",
    "Looking at {topic} from the point of view of a beginner often reveals its real shape.",
    "There is a simple rule of thumb for {topic}: start small, then measure.",
    "Everyday examples of {topic} are closer than most people think.",
)
_JOKES = (
    ("Why did the {one} sit on the keyboard?", "It wanted to keep an eye on the mouse."),
    ("Why did the {one} bring a ladder to work?", "It heard the job came with a few steps up."),
    ("What do you call a {one} that tells jokes?", "A stand-up {one}, until it finds a chair."),
    ("Why was the {one} so good at chess?", "It always thought three naps ahead."),
    ("How does a {one} fix a bad day?", "It turns it off and on again."),
    ("Why did the {one} refuse to play poker?", "It was worried about all the cheetahs."),
    ("Why don't {many} ever win at hide and seek?", "Everyone knows exactly where to look."),
    ("What did the {one} say after the long meeting?", "That could have been an email."),
    ("Why did the {one} cross the road?", "To prove it was not chicken."),
    ("Why did the {one} join the band?", "It finally found something worth drumming up."),
)
_JOKE_LINKS = ("Here is another one.", "Okay, one more.", "And a classic.", "Wait, there is more.")


def _subject(prompt: str) -> str:
    """The topic of ``prompt``: the words after "about" (or "explain", ...), else its last nouns."""
    match = _LEAD_RE.search(prompt)
    if match is not None:
        words = _WORD_RE.findall(match.group(1))
        article = ""
        while words and words[0].lower() in _DETERMINERS:
            article = words.pop(0).lower()
        phrase: list[str] = []
        for word in words:
            if word.lower() in _CUT_WORDS or len(phrase) == 4:
                break
            phrase.append(word)
        if phrase:
            # "the capital of France" reads better than "capital of France"; "a"/"my" do not.
            return " ".join(["the", *phrase] if article == "the" else phrase)
    # No lead word: take the last run of up to three content words ("2 haikus" -> "haikus").
    run: list[str] = []
    for word in reversed(_WORD_RE.findall(prompt)):
        if word.lower() in _STOPWORDS:
            if run:
                break
            continue
        run.append(word)
        if len(run) == 3:
            break
    return " ".join(reversed(run)) if run else _FALLBACK_SUBJECT


def _singular(phrase: str) -> str:
    """Naive singular of the phrase's last word, good enough for joke setups ("cats" -> "cat")."""
    head, _, last = phrase.rpartition(" ")
    if not last.isascii():
        return phrase
    low = last.lower()
    if low.endswith("ies") and len(low) > 4:
        last = last[:-3] + "y"
    elif low.endswith("s") and len(low) > 3 and not low.endswith(_NO_SINGULAR_ENDINGS):
        last = last[:-1]
    return f"{head} {last}" if head else last


def _plural(one: str) -> str:
    if not one.isascii():  # English plurals only for English-looking words
        return one
    return one if one.lower().endswith("s") else one + "s"


def _explain_sentences(
    topic: str, rng: random.Random, openers: Sequence[str] = _EXPLAIN_OPENERS
) -> Iterator[str]:
    fields = {"topic": topic, "Topic": topic[:1].upper() + topic[1:]}
    yield rng.choice(openers).format(**fields)
    bank = list(_EXPLAIN_SENTENCES)
    while True:
        rng.shuffle(bank)
        for template in bank:
            yield template.format(**fields)


def _joke_sentences(topic: str, rng: random.Random) -> Iterator[str]:
    topic = topic.removeprefix("the ")  # the templates bring their own article
    one = _singular(topic) if topic != _FALLBACK_SUBJECT else "chatbot"
    fields = {"one": one, "many": _plural(one)}
    bank = list(_JOKES)
    first = True
    while True:
        rng.shuffle(bank)
        for setup, punchline in bank:
            if not first:
                yield rng.choice(_JOKE_LINKS)
            first = False
            yield setup.format(**fields)
            yield punchline.format(**fields)


def _markdown_sections(
    topic: str, rng: random.Random, openers: Sequence[str] = _EXPLAIN_OPENERS
) -> Iterator[str]:
    """A long answer laid out the way chat models lay one out: sections with a heading, a
    paragraph, a list, a table and a code block, each piece ending with its own newlines."""
    sentences = _explain_sentences(topic, rng, openers)
    for part in itertools.count(1):
        yield f"## Part {part}: {topic}\n\n"
        yield " ".join(next(sentences) for _ in range(3)) + "\n\n"
        yield "".join(f"- {next(sentences)}\n" for _ in range(3)) + "\n"
        rows = "".join(f"| {name} | {next(sentences)} |\n" for name in ("first", "then", "last"))
        yield f"| Step | What to keep in mind |\n|------|------|\n{rows}\n"
        yield (
            f"```python\ndef part_{part}(items):\n    # {next(sentences)}\n"
            f"    return [item for item in items if item]\n```\n\n"
        )


def _chat_preface(messages: Sequence[BaseMessage]) -> str:
    """What a chat answer opens with, so a test sees the context the model got.

    In a conversation (more than one user message) the turn number and a quote of the last
    user message; for each image part of the last user message its format, size in pixels
    and bytes. Empty for a single plain prompt (every run's answers stay as they were).
    """
    users = [m for m in messages if isinstance(m, HumanMessage)]
    if not users:
        return ""
    last = users[-1]
    lines: list[str] = []
    if len(users) > 1:
        quote = " ".join(last.text.split())
        quote = quote if len(quote) <= 60 else quote[:59] + "…"
        lines.append(f'Turn {len(users)}: you said "{quote}".')
    parts = last.content if isinstance(last.content, list) else []
    for part in parts:
        if not isinstance(part, dict) or part.get("type") != "image_url":
            continue
        url = str((part.get("image_url") or {}).get("url", ""))
        lines.append(_describe_image(url))
    return " ".join(lines) + " " if lines else ""


def _describe_image(url: str) -> str:
    """One sentence on the image a data URL holds: format, pixels, bytes."""
    _, _, payload = url.partition(";base64,")
    try:
        data = base64.b64decode(payload, validate=True) if payload else b""
    except ValueError:
        data = b""
    sniffed = sniff_image(data)
    if sniffed is None:
        return "I cannot read the image I was sent."
    mime, width, height = sniffed
    kind = mime.removeprefix("image/").upper().replace("WEBP", "WebP")
    size = f"{width}x{height} pixels, " if width and height else ""
    return f"I see a {kind} image, {size}{len(data):,} bytes."


def _tokenize(text: str) -> list[str]:
    """Split ``text`` into word pieces with leading spaces, long words into several pieces."""
    tokens: list[str] = []
    for token in _TOKEN_RE.findall(text):
        if len(token) <= _LONG_WORD + 1 or not token.strip().isalpha():
            tokens.append(token)
            continue
        lead = 1 if token[0] == " " else 0
        pieces = [token[: lead + _PIECE]]
        rest = token[lead + _PIECE :]
        while rest:
            pieces.append(rest[:_PIECE])
            rest = rest[_PIECE:]
        if len(pieces) > 2 and len(pieces[-1]) < 3:
            pieces[-2:] = [pieces[-2] + pieces[-1]]
        tokens.extend(pieces)
    return tokens


def _token_source(prompt: str, rng: random.Random, style: int = 0) -> Iterator[str]:
    """English about the prompt's subject, token by token, for as long as it is read, in the
    voice ``style`` (an index into the per-model openers)."""
    topic = _subject(prompt)
    openers = _STYLE_OPENERS[style % len(_STYLE_OPENERS)]
    if _MARKDOWN_RE.search(prompt):
        for piece in _markdown_sections(topic, rng, openers):
            yield from _tokenize(piece)
        return
    sentences = (
        _joke_sentences(topic, rng)
        if _JOKE_RE.search(prompt)
        else _explain_sentences(topic, rng, openers)
    )
    yield from _tokenize(next(sentences))
    while True:
        yield from _tokenize(" " + next(sentences))


def _compose(prompt: str, count: int, rng: random.Random, style: int = 0) -> tuple[str, ...]:
    """Exactly ``count`` tokens of English about the prompt's subject."""
    if count <= 0:
        return ()
    return tuple(itertools.islice(_token_source(prompt, rng, style), count))


class _LazyTokens:
    """Exactly ``count`` tokens, composed while they are read and kept for a second reading.

    Composing a very long answer up front would stall the event loop before the first
    token; a real server does that work elsewhere. Same tokens as :func:`_compose`.
    """

    __slots__ = ("_count", "_made", "_source")

    def __init__(self, prompt: str, count: int, rng: random.Random, style: int = 0) -> None:
        self._count = count
        self._source = itertools.islice(_token_source(prompt, rng, style), count)
        self._made: list[str] = []

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        yield from self._made
        for token in self._source:
            self._made.append(token)
            yield token


# --------------------------------------------------------------------------------------------
# Sampling: which of its answers the simulated model gives a request. Like a real model's,
# the answer depends on the model, the whole conversation and the sampling parameters; unlike
# a real one's it is a pure function of them (and of the sample's index when no seed is
# given), so tests and demos are reproducible while sweeps and repeats still differ.

#: At this temperature (top_p 1) every sample is a draw of its own; at 0 every sample is the
#: model's most likely answer; in between, a growing share of samples leaves it.
FULL_VARIETY_TEMPERATURE = 1.4

#: The temperature of a request that sets none (OpenAI's default).
DEFAULT_TEMPERATURE = 1.0


@dataclass(frozen=True, slots=True)
class Draw:
    """What decides the text of one simulated answer.

    Attributes:
        model: The model name answering (each name has its own answers and voice).
        conversation: A digest of every message sent (roles and text), so a system message
            or an earlier turn changes the answer too.
        variant: ``"likely"`` for the model's most likely answer, else the sampling draw that
            left it (the seed, or the sample's index, with the temperature and top_p).
    """

    model: str
    conversation: str
    variant: str

    @property
    def style(self) -> int:
        """The model's voice (see ``_STYLE_OPENERS``)."""
        return _style_of(self.model)

    def rng(self) -> random.Random:
        """The random source the answer's sentences are drawn from."""
        # A str seed is hashed with SHA-512 by random.Random: stable across runs and processes.
        return random.Random(f"{self.model}\x00{self.conversation}\x00{self.variant}")


def _style_of(model: str) -> int:
    return zlib.crc32(model.encode()) % len(_STYLE_OPENERS)


def conversation_digest(turns: Sequence[tuple[str, str]]) -> str:
    """A short stable digest of a request's messages, given as ``(role, text)`` pairs with
    OpenAI's role names (``system``, ``user``, ``assistant``)."""
    h = hashlib.blake2b(digest_size=16)
    for role, text in turns:
        h.update(role.encode())
        h.update(b"\x00")
        h.update(text.encode("utf-8", "surrogatepass"))
        h.update(b"\x01")
    return h.hexdigest()


_ROLES = {"human": "user", "ai": "assistant"}


def _turns(messages: Sequence[BaseMessage]) -> list[tuple[str, str]]:
    return [(_ROLES.get(m.type, m.type), m.text) for m in messages]


def sampling_draw(
    *,
    model: str,
    conversation: str,
    temperature: float | None,
    top_p: float | None,
    seed: int | None,
    sample: int,
) -> Draw:
    """Which answer a request gets, from everything a real server's answer depends on.

    Temperature 0 always gives the model's most likely answer. Above it, a request leaves
    that answer with probability ``min(1, temperature / 1.4) ** 1.5 * top_p`` (drawn
    deterministically): at 0.7 about a third of the samples of a cell leave it (a few
    distinct answers out of 5), at 1.2 about four in five (mostly distinct). A seed
    replaces the sample's index in that draw, so the repeats of a seeded cell agree (as a
    server's should) and another seed gives another answer.

    Args:
        model: The model name.
        conversation: :func:`conversation_digest` of the messages.
        temperature: The request's temperature, ``None`` for the default (1).
        top_p: The request's top_p, ``None`` for 1.
        seed: The request's seed, or ``None``.
        sample: The sample's index among its cell's repeats (0 when not repeated).
    """
    t = DEFAULT_TEMPERATURE if temperature is None else max(0.0, float(temperature))
    p = 1.0 if top_p is None else min(1.0, max(0.0, float(top_p)))
    spread = min(1.0, t / FULL_VARIETY_TEMPERATURE) ** 1.5 * p
    by = f"seed {seed}" if seed is not None else f"sample {sample}"
    variant = "likely"
    if spread > 0:
        draw = random.Random(f"{model}\x00{conversation}\x00{t!r}\x00{p!r}\x00{by}").random()
        if draw < spread:
            variant = f"{by} t={t!r} top_p={p!r}"
    return Draw(model, conversation, variant)


@functools.lru_cache(maxsize=1024)
def _drawn_tokens(draw: Draw, prompt: str, count: int) -> tuple[str, ...]:
    return _compose(prompt, count, draw.rng(), draw.style)


def simulated_answer(prompt: str, tokens: int, draw: Draw) -> str:
    """The whole answer the simulated model gives ``prompt`` for ``draw`` (its simulated
    batch uses it, so a batch run answers as a live one)."""
    return "".join(_drawn_tokens(draw, prompt, tokens))


def _cut_at_stop(tokens: Sequence[str], stop: Sequence[str]) -> tuple[Sequence[str], bool]:
    """Tokens up to (not including) the first occurrence of any stop string."""
    text = "".join(tokens)
    found = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    if not found:
        return tokens, False
    cut = min(found)
    kept: list[str] = []
    pos = 0
    for token in tokens:
        end = pos + len(token)
        if end > cut:
            if cut > pos:
                kept.append(token[: cut - pos])
            break
        kept.append(token)
        pos = end
    return kept, True


# --------------------------------------------------------------------------------------------
# Structured output (issue 15): asked for JSON that follows a schema (the instruction
# gui.core.structured puts in the system message), the simulated model answers an instance of
# it built from the prompt's words, and about one answer in eight leaves out a required field,
# as models do, so "schema ✗" and "schema valid %" show offline too.


def _asked_schema(messages: list[BaseMessage]) -> dict[str, Any] | None:
    for message in messages:
        if isinstance(message, SystemMessage):
            return instructed_schema(message.text)
    return None


def structured_reply(
    schema: dict[str, Any], prompt: str, model: str, variant: str = "likely"
) -> str:
    """The simulated model's JSON answer to ``prompt`` for ``schema`` (deterministic); a
    ``variant`` other than the likely answer (see :func:`sampling_draw`) fills it otherwise."""
    words = [w for w in _WORD_RE.findall(prompt) if w.lower() not in _STOPWORDS] or ["answer"]
    key = f"{model}\x00{prompt}" if variant == "likely" else f"{model}\x00{prompt}\x00{variant}"
    seed = zlib.crc32(key.encode())
    value = _instance(schema, words, seed)
    required = schema.get("required")
    if isinstance(value, dict) and isinstance(required, list) and required and seed % 8 == 0:
        value.pop(str(required[-1]), None)  # the occasional answer that breaks the schema
    return json.dumps(value, ensure_ascii=False)


def _instance(schema: Any, words: list[str], seed: int, depth: int = 0) -> Any:
    """A value that follows ``schema``: enums, objects, arrays and the scalar types."""
    if not isinstance(schema, dict) or depth > 6:
        return None
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[seed % len(enum)]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties") or {}
        return {
            str(name): _instance(sub, words, seed + i * 7919, depth + 1)
            for i, (name, sub) in enumerate(props.items())
        }
    if kind == "array":
        low = int(schema.get("minItems", 1))
        high = int(schema.get("maxItems", max(low, 3)))
        n = max(low, min(high, 1 + seed % 3))
        item = schema.get("items") or {"type": "string"}
        return [_instance(item, words, seed + i * 104729, depth + 1) for i in range(n)]
    if kind == "integer":
        low, high = int(schema.get("minimum", 1)), int(schema.get("maximum", 100))
        return low + seed % max(high - low + 1, 1)
    if kind == "number":
        lo, hi = float(schema.get("minimum", 0)), float(schema.get("maximum", 1))
        return round(lo + (hi - lo) * ((seed % 1000) / 1000), 2)
    if kind == "boolean":
        return seed % 2 == 0
    if kind == "null":
        return None
    return " ".join(words[(seed + i) % len(words)] for i in range(1 + seed % 4)).capitalize()


# --------------------------------------------------------------------------------------------
# The model


#: Seconds of the loop one step of counting a request's input tokens may take: a chat thread
#: of hundreds of turns is hundreds of KB, about 10 ms of regex a column, and every column of
#: a turn asks at once (a visible freeze of the window's loop if counted in one step; in a
#: worker thread it would hold the GIL the loop needs just as long).
COUNT_SLICE_S = 0.002


@functools.lru_cache(maxsize=2048)
def _text_tokens(text: str) -> int:
    """Tokens of one message's text (kept: each turn of a chat sends the earlier ones again)."""
    return len(_TOKEN_RE.findall(text))


def _count_input_tokens(messages: Sequence[BaseMessage]) -> int:
    """The request's input tokens, counted as this model counts its own output's."""
    return sum(_text_tokens(m.text) for m in messages)


async def _acount_input_tokens(messages: Sequence[BaseMessage]) -> int:
    """:func:`_count_input_tokens` on the loop, yielding to it every :data:`COUNT_SLICE_S`."""
    total = 0
    clock = time.perf_counter
    due = clock() + COUNT_SLICE_S
    for message in messages:
        total += _text_tokens(message.text)
        if clock() >= due:
            await asyncio.sleep(0)
            due = clock() + COUNT_SLICE_S
    return total


@dataclass(slots=True)
class _Plan:
    """Everything one request will do, decided up front so the token loop stays trivial."""

    tokens: Sequence[str] | _LazyTokens
    model_name: str
    finish_reason: str
    input_tokens: int
    failure: FailureKind | None
    ttft: float
    interval: float  # seconds per token; 0 = as fast as possible


class SimulatedChatModel(BaseChatModel):
    """An offline chat model that streams readable text with realistic timing and failures.

    Example:
        ```python
        model = SimulatedChatModel.with_latency(1.5, seed=7)
        async for chunk in model.astream("Tell me a joke about cats"):
            print(chunk.content, end="")
        ```
    """

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    model_name: str = Field(default="sim-1", alias="model")
    """Model name reported in response metadata; a per-call ``model=`` overrides it."""

    ttft: float = Field(default=_SIM.ttft, ge=0.0)
    """Seconds from the request to the first token."""

    tokens_per_second: float = _SIM.tokens_per_second
    """Streaming pace after the first token; ``<= 0`` or ``inf`` means as fast as possible."""

    output_tokens: int = Field(default=_SIM.output_tokens, ge=0)
    """Tokens in every answer (before ``max_tokens`` and stop sequences cut it short)."""

    jitter: float = Field(default=_SIM.jitter, ge=0.0, le=1.0)
    """Relative random variation (±) of ``ttft`` and of the token pace, per request; 0 = exact."""

    failure_rate: float = Field(default=_SIM.failure_rate, ge=0.0, le=1.0)
    """Probability that a request fails with ``failure_kind``."""

    failure_kind: FailureKind = _SIM.failure_kind  # type: ignore[assignment]
    """How injected failures look: HTTP 429, HTTP 503, a stall, or a connection dropped mid-way."""

    retry_after: float = Field(default=_SIM.retry_after, ge=0.0)
    """Seconds a ``rate_limit`` failure asks the client to wait."""

    stall_s: float = Field(default=60.0, ge=0.0)
    """How long a ``timeout`` failure hangs before it raises (the caller's timeout should fire)."""

    seed: int | None = None
    """The request's seed: the repeats of a seeded request agree, another seed answers
    otherwise (see :func:`sampling_draw`); also seeds this instance's failure draws."""

    max_tokens: int | None = Field(default=None, ge=0)
    """Cap on answer tokens, like a provider's ``max_tokens``; a cut answer ends with "length"."""

    temperature: float | None = None
    """Sampling temperature (``None`` = 1): 0 gives every repeat the model's most likely
    answer, higher values more distinct ones (see :func:`sampling_draw`)."""

    top_p: float | None = None
    """Nucleus sampling (``None`` = 1): lower values keep more repeats on the likely answer."""

    stop: list[str] | None = None
    """Default stop sequences; the answer ends before the first one. A per-call ``stop`` wins."""

    pause_after: int | None = Field(default=None, ge=0, exclude=True)
    """Test hook: the async stream waits for ``resume_event`` after this many tokens."""

    resume_event: asyncio.Event | None = Field(default=None, exclude=True)
    """Test hook: the event a paused async stream waits for (see ``pause_after``)."""

    _rng: random.Random = PrivateAttr(default_factory=random.Random)

    def model_post_init(self, context: Any, /) -> None:
        """Seed the private random source of failure and jitter draws."""
        super().model_post_init(context)
        self._rng.seed(self.seed)

    @classmethod
    def with_latency(cls, total_s: float, **kw: Any) -> Self:
        """A model whose whole request (first token plus streaming) takes about ``total_s``.

        Args:
            total_s: Seconds from request to last token; 0 means as fast as possible.
            **kw: Other fields (``output_tokens``, ``seed``, ``jitter``, ...).
        """
        tokens = int(kw.pop("output_tokens", _SIM.output_tokens))
        timing = SimSettings.with_latency(total_s, output_tokens=tokens)  # the one rule
        return cls(
            ttft=timing.ttft,
            tokens_per_second=timing.tokens_per_second,
            output_tokens=tokens,
            **kw,
        )

    @property
    def _llm_type(self) -> str:
        return "fanout-simulated"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "ttft": self.ttft,
            "tokens_per_second": self.tokens_per_second,
            "output_tokens": self.output_tokens,
            "jitter": self.jitter,
            "failure_rate": self.failure_rate,
            "failure_kind": self.failure_kind,
            "seed": self.seed,
            "temperature": self.temperature,
            "top_p": self.top_p,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        model = kwargs.get("model")
        params = LangSmithParams(
            ls_provider="fanout-simulated",
            ls_model_name=model if isinstance(model, str) else self.model_name,
            ls_model_type="chat",
        )
        if self.temperature is not None:
            params["ls_temperature"] = self.temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if isinstance(max_tokens, int):
            params["ls_max_tokens"] = max_tokens
        if stop := stop or self.stop:
            params["ls_stop"] = stop
        return params

    # ---- planning ------------------------------------------------------------------------

    def _plan(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
        input_tokens: int | None = None,
        sample: int = 0,
    ) -> _Plan:
        """What the request will do; ``input_tokens`` when already counted (off the loop),
        ``sample`` the index of the engine's sample it answers (see :func:`sampling_draw`)."""
        if input_tokens is None:
            input_tokens = _count_input_tokens(messages)
        prompt = ""
        for message in reversed(messages):
            if isinstance(message, HumanMessage):
                prompt = message.text
                break
        else:
            if messages:
                prompt = messages[-1].text
        preface = _chat_preface(messages)

        count = self.output_tokens
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        finish_reason = "stop"
        request = read_request(prompt) if "<rubric>" in prompt else None
        if request is not None:
            return self._judge_plan(messages, request, kwargs, input_tokens)
        model = kwargs.get("model")
        model_name = model if isinstance(model, str) else self.model_name
        draw = sampling_draw(
            model=model_name,
            conversation=conversation_digest(_turns(messages)),
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
            sample=sample,
        )
        schema = _asked_schema(messages)
        if schema is not None:
            return self._structured_plan(messages, prompt, schema, kwargs, input_tokens, draw)
        if isinstance(max_tokens, int) and max_tokens < count:
            count, finish_reason = max_tokens, "length"
        stops = stop if stop is not None else self.stop
        rng = self._rng
        failure = self.failure_kind if rng.random() < self.failure_rate else None
        tokens: Sequence[str] | _LazyTokens
        if stops or count <= _EAGER_TOKENS:
            eager: Sequence[str] = _drawn_tokens(draw, prompt, count)
            if preface:
                eager = (*_tokenize(preface), *eager)
            if stops:
                eager, stopped = _cut_at_stop(eager, stops)
                if stopped:
                    finish_reason = "stop"
            tokens = eager[: len(eager) // 2] if failure == "drop" else eager
        else:
            # A long answer without stop sequences: its length is known, its text is not
            # needed before it is read.
            if failure == "drop":
                count //= 2
            tokens = _LazyTokens(prompt, count, draw.rng(), draw.style)

        ttft = self.ttft
        tps = self.tokens_per_second
        if self.jitter:
            ttft *= 1.0 + self.jitter * (2.0 * rng.random() - 1.0)
            tps *= 1.0 + self.jitter * (2.0 * rng.random() - 1.0)
        interval = 1.0 / tps if 0.0 < tps < math.inf else 0.0

        return _Plan(
            tokens=tokens,
            model_name=model_name,
            finish_reason=finish_reason,
            input_tokens=input_tokens,
            failure=failure,
            ttft=ttft,
            interval=interval,
        )

    def _judge_plan(
        self,
        messages: list[BaseMessage],
        request: JudgeRequest,
        kwargs: dict[str, Any],
        input_tokens: int,
    ) -> _Plan:
        """A judge's reply, at this model's pace and with its failures."""
        rng = self._rng
        failure = self.failure_kind if rng.random() < self.failure_rate else None
        tokens = _tokenize(judge_reply(request))
        if failure == "drop":
            tokens = tokens[: len(tokens) // 2]
        tps = self.tokens_per_second
        model = kwargs.get("model")
        return _Plan(
            tokens=tokens,
            model_name=model if isinstance(model, str) else self.model_name,
            finish_reason="stop",
            input_tokens=input_tokens,
            failure=failure,
            ttft=self.ttft,
            interval=1.0 / tps if 0.0 < tps < math.inf else 0.0,
        )

    def _structured_plan(
        self,
        messages: list[BaseMessage],
        prompt: str,
        schema: dict[str, Any],
        kwargs: dict[str, Any],
        input_tokens: int,
        draw: Draw,
    ) -> _Plan:
        """A structured run's answer: JSON for the schema, at this model's pace."""
        rng = self._rng
        failure = rng.random() < self.failure_rate
        tokens = _tokenize(structured_reply(schema, prompt, self.model_name, draw.variant))
        tps = self.tokens_per_second
        model = kwargs.get("model")
        return _Plan(
            tokens=tokens,
            model_name=model if isinstance(model, str) else self.model_name,
            finish_reason="stop",
            input_tokens=input_tokens,
            failure=self.failure_kind if failure else None,
            ttft=self.ttft,
            interval=1.0 / tps if 0.0 < tps < math.inf else 0.0,
        )

    def _early_error(self, plan: _Plan) -> SimulatedError:
        """The error of a request that fails before its first token."""
        name = plan.model_name
        if plan.failure == "rate_limit":
            return SimulatedRateLimitError(
                f"The simulated model {name} is rate limited; retry after {self.retry_after:g} s.",
                retry_after=self.retry_after,
            )
        if plan.failure == "timeout":
            return SimulatedServerError(
                f"The simulated model {name} stalled for {self.stall_s:g} s without answering.",
                kind="timeout",
                status_code=504,
            )
        return SimulatedServerError(
            f"The simulated model {name} returned a server error (503 Service Unavailable)."
        )

    def _dropped(self, plan: _Plan) -> SimulatedConnectionDropped:
        return SimulatedConnectionDropped(
            f"The simulated model {plan.model_name} dropped the connection "
            f"after {len(plan.tokens)} tokens."
        )

    def _delay_before_error(self, plan: _Plan) -> float:
        # An HTTP error arrives when the first token would have; a stall hangs for stall_s.
        return self.stall_s if plan.failure == "timeout" else plan.ttft

    def _usage(self, plan: _Plan) -> UsageMetadata:
        out = len(plan.tokens)
        return UsageMetadata(
            input_tokens=plan.input_tokens, output_tokens=out, total_tokens=plan.input_tokens + out
        )

    def _result(self, plan: _Plan) -> ChatResult:
        message = AIMessage(
            content="".join(plan.tokens),
            usage_metadata=self._usage(plan),
            response_metadata={
                "model_name": plan.model_name,
                "finish_reason": plan.finish_reason,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _last_chunk(self, plan: _Plan) -> ChatGenerationChunk:
        # Usage and finish reason travel on one final empty chunk, as OpenAI streams them.
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=self._usage(plan),
                response_metadata={
                    "model_name": plan.model_name,
                    "finish_reason": plan.finish_reason,
                },
                chunk_position="last",
            )
        )

    # ---- async ---------------------------------------------------------------------------

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        plan = self._plan(
            messages, stop, kwargs, await _acount_input_tokens(messages), requested_sample()
        )
        if plan.failure in ("rate_limit", "server_error", "timeout"):
            await asyncio.sleep(self._delay_before_error(plan))
            raise self._early_error(plan)
        # One sleep for the whole answer: no per-token wake-ups when nobody watches the tokens.
        await asyncio.sleep(max(plan.ttft, 0.0) + len(plan.tokens) * plan.interval)
        if plan.failure == "drop":
            raise self._dropped(plan)
        return self._result(plan)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        plan = self._plan(
            messages, stop, kwargs, await _acount_input_tokens(messages), requested_sample()
        )
        if plan.failure in ("rate_limit", "server_error", "timeout"):
            await asyncio.sleep(self._delay_before_error(plan))
            raise self._early_error(plan)

        loop = asyncio.get_running_loop()
        base = loop.time() + plan.ttft  # token i is due at base + i * interval
        if plan.ttft > 0:
            await asyncio.sleep(plan.ttft)
        interval = plan.interval
        resume = self.resume_event
        pause_at = self.pause_after if resume is not None and self.pause_after is not None else -1

        i = -1
        for i, token in enumerate(plan.tokens):
            if i == pause_at and resume is not None:
                paused = loop.time()
                await resume.wait()
                base += loop.time() - paused  # shift the schedule: no burst after a pause
            if interval:
                await asyncio.sleep(base + i * interval - loop.time())
            elif not i % _YIELD_EVERY:
                await asyncio.sleep(0)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager is not None:
                await run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk

        count = i + 1
        if interval:
            await asyncio.sleep(base + count * interval - loop.time())
        if plan.failure == "drop":
            raise self._dropped(plan)
        last = self._last_chunk(plan)
        if run_manager is not None:
            await run_manager.on_llm_new_token("", chunk=last)
        yield last

    # ---- sync (runs in a worker thread, so blocking sleeps are fine) ---------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        plan = self._plan(messages, stop, kwargs, sample=requested_sample())
        if plan.failure in ("rate_limit", "server_error", "timeout"):
            time.sleep(self._delay_before_error(plan))
            raise self._early_error(plan)
        time.sleep(max(plan.ttft, 0.0) + len(plan.tokens) * plan.interval)
        if plan.failure == "drop":
            raise self._dropped(plan)
        return self._result(plan)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        plan = self._plan(messages, stop, kwargs, sample=requested_sample())
        if plan.failure in ("rate_limit", "server_error", "timeout"):
            time.sleep(self._delay_before_error(plan))
            raise self._early_error(plan)

        base = time.monotonic() + plan.ttft
        if plan.ttft > 0:
            time.sleep(plan.ttft)
        interval = plan.interval
        i = -1
        for i, token in enumerate(plan.tokens):
            if interval:
                delay = base + i * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager is not None:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk

        if interval:
            delay = base + (i + 1) * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        if plan.failure == "drop":
            raise self._dropped(plan)
        last = self._last_chunk(plan)
        if run_manager is not None:
            run_manager.on_llm_new_token("", chunk=last)
        yield last

"""What a model's tokens cost: the price table, the price of a profile, the cost of a cell.

Prices are US dollars per million tokens, input and output apart, per model and optionally
per server (base URL). A profile's price is looked up in this order: an entry for its model
on its own server, an entry for its model on any server, then the rule that the simulated
model and servers on this machine or the local network cost 0. Anything else has no price:
the user sees "no price", never a made-up number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlparse

from gui.core.errors import SpecError
from gui.core.hosts import HostScope, host_scope

#: Where OpenAI's hosted models are served when a profile gives no base URL.
OPENAI_BASE_URL = "https://api.openai.com/v1"

#: When the starter table's prices were read off OpenAI's public price list; prices change,
#: so the Profiles dock shows this date beside the table.
STARTER_PRICES_DATE = "2025-08-15"


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens.

    Attributes:
        input_per_m: Dollars per 1M input (prompt) tokens.
        output_per_m: Dollars per 1M output (answer) tokens.
    """

    input_per_m: float
    output_per_m: float

    def validate(self) -> None:
        """Raise :class:`SpecError` with the fix for a negative or non-finite price."""
        for name, value in (("input", self.input_per_m), ("output", self.output_per_m)):
            if not math.isfinite(value) or value < 0:
                raise SpecError(
                    f"The {name} price {value:g} is not a price: give dollars per 1M tokens, 0 or more."
                )

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """The dollars ``input_tokens`` in and ``output_tokens`` out cost."""
        return (input_tokens * self.input_per_m + output_tokens * self.output_per_m) / 1_000_000

    @property
    def free(self) -> bool:
        """Whether both prices are 0."""
        return self.input_per_m == 0 and self.output_per_m == 0


#: What the simulated model and local servers cost.
FREE = Price(0.0, 0.0)


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One row of the price table.

    Attributes:
        model: The model name as sent to the server (``gpt-4o-mini``).
        price: Its price.
        base_url: The server it applies to, or ``None`` for the model on any server.
    """

    model: str
    price: Price
    base_url: str | None = None

    def validate(self) -> None:
        """Raise :class:`SpecError` with the fix for an entry that cannot be used."""
        if not self.model.strip():
            raise SpecError("A price needs a model name, e.g. gpt-4o-mini=0.15:0.60.")
        self.price.validate()


#: OpenAI's list prices (USD per 1M tokens) on :data:`STARTER_PRICES_DATE`, for its own API.
STARTER_PRICES: tuple[PriceEntry, ...] = tuple(
    PriceEntry(model, Price(i, o), OPENAI_BASE_URL)
    for model, i, o in (
        ("gpt-5", 1.25, 10.00),
        ("gpt-5-mini", 0.25, 2.00),
        ("gpt-5-nano", 0.05, 0.40),
        ("gpt-4.1", 2.00, 8.00),
        ("gpt-4.1-mini", 0.40, 1.60),
        ("gpt-4.1-nano", 0.10, 0.40),
        ("gpt-4o", 2.50, 10.00),
        ("gpt-4o-mini", 0.15, 0.60),
        ("o3", 2.00, 8.00),
        ("o4-mini", 1.10, 4.40),
        ("gpt-3.5-turbo", 0.50, 1.50),
    )
)


def normal_base_url(base_url: str | None) -> str:
    """``base_url`` as the table keys it: OpenAI's when ``None``, without a trailing slash."""
    return (base_url or OPENAI_BASE_URL).strip().rstrip("/").lower()


def _is_local(base_url: str | None) -> bool:
    if not base_url:
        return False
    try:
        host = urlparse(base_url.strip()).hostname
    except ValueError:
        return False
    return host_scope(host) is not HostScope.INTERNET


class PricedProfile(Protocol):
    """What a price is looked up by (a :class:`gui.core.spec.ModelProfile`)."""

    @property
    def model(self) -> str:
        """The model name."""

    @property
    def base_url(self) -> str | None:
        """The server, ``None`` for OpenAI's API."""

    @property
    def provider(self) -> Any:
        """The provider kind (``simulated`` is free unless priced)."""


@dataclass(frozen=True, slots=True)
class PriceTable:
    """The prices a run uses; later entries win over earlier ones for the same key.

    Attributes:
        entries: The table's rows.
    """

    entries: tuple[PriceEntry, ...] = ()
    _index: dict[tuple[str, str | None], Price] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        index: dict[tuple[str, str | None], Price] = {}
        for e in self.entries:
            key = (e.model, None if e.base_url is None else normal_base_url(e.base_url))
            index[key] = e.price
        object.__setattr__(self, "_index", index)

    def price_of(
        self, model: str, base_url: str | None, *, simulated: bool = False
    ) -> Price | None:
        """The price of ``model`` on ``base_url`` (``None``: OpenAI's API), or ``None``.

        Args:
            model: The model name.
            base_url: The profile's base URL.
            simulated: The built-in simulated model (free unless the table prices it).
        """
        index = self._index
        found = index.get((model, normal_base_url(base_url)))
        if found is None:
            found = index.get((model, None))
        if found is not None:
            return found
        if simulated or _is_local(base_url):
            return FREE
        return None

    def price_for(self, profile: PricedProfile) -> Price | None:
        """The price of a column's profile (see :meth:`price_of`)."""
        return self.price_of(
            profile.model, profile.base_url, simulated=str(profile.provider) == "simulated"
        )

    def with_entries(self, entries: Iterable[PriceEntry]) -> PriceTable:
        """This table with ``entries`` added on top (they win)."""
        return PriceTable((*self.entries, *entries))


def parse_price_option(text: str) -> PriceEntry:
    """The entry the CLI's ``--price MODEL=IN:OUT`` gives (dollars per 1M tokens).

    Raises:
        SpecError: the text is not ``MODEL=IN:OUT`` with two prices of 0 or more.
    """
    model, sep, prices = text.rpartition("=")
    fix = "Write --price MODEL=IN:OUT in dollars per 1M tokens, e.g. --price gpt-4o-mini=0.15:0.60."
    if not sep or not model.strip():
        raise SpecError(f"--price {text!r} names no model. {fix}")
    parts = prices.split(":")
    if len(parts) != 2:
        raise SpecError(f"--price {text!r} needs an input and an output price. {fix}")
    try:
        price = Price(float(parts[0]), float(parts[1]))
    except ValueError:
        raise SpecError(f"--price {text!r} has a price that is not a number. {fix}") from None
    entry = PriceEntry(model.strip(), price)
    entry.validate()
    return entry


def format_usd(value: float | None, *, estimated: bool = False) -> str:
    """Dollars as a user reads them: ``$0.0123`` and ``$0.30`` under a dollar, ``$1.23`` above,
    ``no price`` for ``None``."""
    if value is None:
        return "no price"
    mark = "~" if estimated else ""
    if value == 0:
        return f"{mark}$0"
    if abs(value) < 1:
        # Cents and fractions of a cent: up to 4 decimals, at least 2 ($0.30, $0.0123).
        text = f"{value:.4f}".rstrip("0")
        whole, _dot, decimals = text.partition(".")
        return f"{mark}${whole}.{decimals.ljust(2, '0')}"
    if abs(value) < 100:
        return f"{mark}${value:.2f}"
    return f"{mark}${value:,.0f}"


def entries_to_list(entries: Sequence[PriceEntry]) -> list[dict[str, Any]]:
    """``entries`` as plain data (the data folder's price file, a run's spec)."""
    return [
        {
            "model": e.model,
            "base_url": e.base_url,
            "input_per_m": e.price.input_per_m,
            "output_per_m": e.price.output_per_m,
        }
        for e in entries
    ]


def entries_from_list(data: Any) -> tuple[PriceEntry, ...]:
    """The entries :func:`entries_to_list` wrote; rows that do not read as prices are dropped."""
    out: list[PriceEntry] = []
    for item in data if isinstance(data, list) else ():
        if not isinstance(item, Mapping):
            continue
        try:
            base_url = item.get("base_url")
            entry = PriceEntry(
                str(item["model"]),
                Price(float(item["input_per_m"]), float(item["output_per_m"])),
                str(base_url) if base_url else None,
            )
            entry.validate()
        except (KeyError, TypeError, ValueError, SpecError):
            continue
        out.append(entry)
    return tuple(out)

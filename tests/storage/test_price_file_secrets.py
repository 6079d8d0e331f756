"""The price file and a run's spec never hold a base URL's password (issue 10 §3 against the
price table of issue 15)."""

from __future__ import annotations

import json
from pathlib import Path

from gui.core.pricing import Price, PriceEntry
from gui.core.spec import ModelProfile, ProviderKind, RunSpec, spec_to_dict
from gui.storage.prices import PriceStore


def test_a_price_for_a_server_with_credentials_keeps_no_password(tmp_path: Path) -> None:
    # A row keyed by a base URL that carries credentials is saved without the password, and
    # still prices that server's profile, with or without the password in its URL.
    path = tmp_path / "prices.json"
    secret_url = "https://team:hunter2-very-secret@llm.example.com/v1"
    PriceStore(path).save([PriceEntry("m", Price(1, 2), secret_url)])
    assert "hunter2" not in path.read_text(encoding="utf-8")
    table = PriceStore(path).table()
    for url in (secret_url, "https://team@llm.example.com/v1"):
        profile = ModelProfile("m", ProviderKind.OPENAI, base_url=url)
        assert table.price_for(profile) == Price(1, 2)
    spec = RunSpec(
        "Hi", ({},), (ModelProfile(),), prices=(PriceEntry("m", Price(1, 2), secret_url),)
    )
    assert "hunter2" not in json.dumps(spec_to_dict(spec))

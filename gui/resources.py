"""The one module that finds files in ``resources/``: style sheets, icons, demo presets.

Qt-free so the command line can read presets too; ``gui.qt.resources`` builds on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gui.core.spec import ErrorPolicy, Limits, ModelProfile, SimSettings, Strategy

RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def resource_path(name: str) -> Path:
    """Absolute path of ``resources/<name>``."""
    return RESOURCES / name


def demo_names() -> list[str]:
    """Names of the bundled demo presets."""
    return sorted(p.stem for p in (RESOURCES / "demos").glob("*.json"))


@dataclass(frozen=True, slots=True)
class Preset:
    """A ready-made run: what ``--demo NAME`` loads into the window."""

    name: str
    title: str
    template: str
    rows: tuple[dict[str, str], ...]
    models: tuple[ModelProfile, ...]
    strategy: Strategy
    limits: Limits
    compare: bool = False  # run the strategy comparison on start instead of one run


def _profile(data: dict[str, Any]) -> ModelProfile:
    sim_keys = {
        "ttft",
        "tokens_per_second",
        "output_tokens",
        "jitter",
        "failure_rate",
        "failure_kind",
        "retry_after",
        "seed",
    }
    sim_args = {k: v for k, v in data.items() if k in sim_keys}
    if "latency" in data:
        sim = SimSettings.with_latency(float(data["latency"]), **sim_args)
    else:
        sim = SimSettings(**sim_args)
    return ModelProfile(model=data.get("model", "sim-1"), label=data.get("label", ""), sim=sim)


def load_preset(name: str) -> Preset:
    """The demo preset ``resources/demos/<name>.json``.

    Raises:
        KeyError: there is no such preset.
    """
    path = RESOURCES / "demos" / f"{name}.json"
    if not path.exists():
        raise KeyError(name)
    data = json.loads(path.read_text(encoding="utf-8"))
    limits = dict(data.get("limits", {}))
    if "error_policy" in limits:
        limits["error_policy"] = ErrorPolicy(limits["error_policy"])
    return Preset(
        name=name,
        title=data.get("title", name),
        template=data["template"],
        rows=tuple(dict(r) for r in data["rows"]),
        models=tuple(_profile(m) for m in data["models"]),
        strategy=Strategy(data.get("strategy", "stream")),
        limits=Limits(**limits),
        compare=bool(data.get("compare", False)),
    )

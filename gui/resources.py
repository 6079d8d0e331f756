"""The one module that finds files in ``resources/``: icons, demo presets, starter schemas.

The top-level ``resources/`` folder is installed as the package ``gui._resources`` (see
``[tool.setuptools]`` in pyproject.toml), so it is found through ``importlib.resources`` in a
wheel, a pipx install and an editable checkout alike. Qt-free so the command line can read
presets too; ``gui.qt.resources`` builds on it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the engine's types load with a preset, not with the window's first frame
    from gui.core.spec import Limits, ModelProfile, Strategy

#: The package that holds the contents of ``resources/`` once installed.
RESOURCES_PACKAGE = "gui._resources"


@functools.cache
def resources_root() -> Path:
    """The installed ``resources/`` folder, as a directory on disk."""
    # Every install pip or pipx makes (a wheel, an editable checkout) has the folder on disk
    # where the import system finds the package: found there, without importlib.resources
    # (about 2 ms of imports, once on the way to the window's first frame).
    spec = importlib.util.find_spec(RESOURCES_PACKAGE)
    for location in (spec.submodule_search_locations or ()) if spec is not None else ():
        if Path(location).is_dir():
            return Path(location)
    from importlib.resources import as_file, files

    root = files(RESOURCES_PACKAGE)
    if isinstance(root, Path):
        return root
    # Installed inside an archive: Qt opens icons by file name, so unpack
    # the folder once for the life of the process.
    stack = contextlib.ExitStack()
    atexit.register(stack.close)
    return stack.enter_context(as_file(root))


def resource_path(name: str) -> Path:
    """Absolute path of ``resources/<name>``."""
    return resources_root() / name


def demo_names() -> list[str]:
    """Names of the bundled demo presets."""
    return sorted(p.stem for p in (resources_root() / "demos").glob("*.json"))


def starter_schemas() -> dict[str, str]:
    """The bundled starter JSON schemas (issue 15's structured output): title -> JSON text."""
    import json  # not at module level: the first paint reads this module

    out: dict[str, str] = {}
    for path in sorted((resources_root() / "schemas").glob("*.json")):
        text = path.read_text(encoding="utf-8")
        try:
            title = str(json.loads(text).get("title") or path.stem)
        except ValueError:
            title = path.stem
        out[title] = text
    return out


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
    from gui.core.spec import ModelProfile, SimSettings

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
    from gui.core.spec import Strategy, limits_from_dict

    path = resource_path(f"demos/{name}.json")
    if not path.exists():
        raise KeyError(name)
    import json  # a preset is read after the first frame, never on the way to it

    data = json.loads(path.read_text(encoding="utf-8"))
    return Preset(
        name=name,
        title=data.get("title", name),
        template=data["template"],
        rows=tuple(dict(r) for r in data["rows"]),
        models=tuple(_profile(m) for m in data["models"]),
        strategy=Strategy(data.get("strategy", "stream")),
        limits=limits_from_dict(data.get("limits", {})),
        compare=bool(data.get("compare", False)),
    )

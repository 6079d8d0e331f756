"""The langsmith-lazy-types hook: LangChain's tracers import without LangSmith's 160 modules
of API types, which are all there the moment one of their names is asked for; plain mode
imports them whole, as before.

Each case runs in a fresh interpreter: this one has imported LangSmith long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gui.compat import hooks

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys, threading
from gui.compat.lazy_init import defer_package_inits, deferred
installed = defer_package_inits()
import langchain_core.tracers.langchain  # what every chat model's run imports
from gui.providers.simulated import SimulatedChatModel
import asyncio
model = SimulatedChatModel(model_name="sim", ttft=0.0, tokens_per_second=2000, output_tokens=5)
async def stream():
    return "".join([c.content async for c in model.astream("hi")])
text = asyncio.run(stream())
def types_loaded():
    return len([m for m in sys.modules if m.startswith("langsmith.types.")])
before = {"installed": installed, "deferred": deferred("langsmith.types"),
          "modules": types_loaded(), "text": text}
import langsmith
results = []
def ask():  # two threads ask at once: both see the whole package
    from langsmith.types import Run
    import langsmith.types.run as run_module
    results.append(Run is run_module.Run)
threads = [threading.Thread(target=ask) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
try:
    langsmith.types.no_such_name
    missing = "found"
except AttributeError as exc:
    missing = str(exc)
after = {"deferred": deferred("langsmith.types"), "modules": types_loaded(),
         "same": results, "missing": missing,
         "package": langsmith.types is sys.modules["langsmith.types"]}
print(json.dumps({"before": before, "after": after}))
"""


def probe(**env: str) -> dict[str, dict[str, object]]:
    environ = {k: v for k, v in os.environ.items() if k != hooks.PLAIN_ENV}
    environ.update(PYTHONPATH=str(ROOT), **env)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, dict[str, object]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_the_tracers_import_without_langsmiths_api_types_until_one_is_asked_for() -> None:
    seen = probe()
    before, after = seen["before"], seen["after"]
    assert before["installed"] and before["deferred"]
    assert before["modules"] == 1  # run_select_field alone, which the tracers use
    assert before["text"]  # a chat model streamed without them
    assert not after["deferred"] and after["modules"] > 100  # asked for: all of them
    assert after["same"] == [True, True] and after["package"]
    assert after["missing"] == "module 'langsmith.types' has no attribute 'no_such_name'"


def test_plain_mode_imports_langsmiths_api_types_whole() -> None:
    before = probe(**{hooks.PLAIN_ENV: "1"})["before"]
    assert not before["installed"] and not before["deferred"]
    assert before["modules"] > 100

"""LangChain's standard chat-model suites run against the simulated model.

The suites prove that `SimulatedChatModel` behaves like any LangChain chat model (invoke,
stream, batch, stop sequences, usage metadata, stream events), so code written against it
works unchanged against a real provider. Features the model does not have (tool calling,
structured output, multimodal input) are switched off through the suites' own properties.
"""

from __future__ import annotations

from typing import Any

from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from gui.providers.simulated import SimulatedChatModel

# Instant answers: the suites check behaviour, not timing.
_FAST = {"ttft": 0.0, "tokens_per_second": 0.0, "seed": 0}


class TestSimulatedChatModelUnit(ChatModelUnitTests):
    """Construction, tracing parameters and serialisation."""

    @property
    def chat_model_class(self) -> type[SimulatedChatModel]:
        return SimulatedChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "sim-1", **_FAST}

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False


class TestSimulatedChatModelIntegration(ChatModelIntegrationTests):
    """Calls through every public entry point, all offline."""

    @property
    def chat_model_class(self) -> type[SimulatedChatModel]:
        return SimulatedChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "sim-1", **_FAST}

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def model_override_value(self) -> str:
        return "sim-2"

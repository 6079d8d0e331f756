"""SimSettings is the one source of the simulated model's fields: the model and the CLI read it."""

from __future__ import annotations

from dataclasses import fields
from typing import get_args

from gui.cli import build_parser
from gui.core.spec import SimSettings
from gui.providers.simulated import FailureKind, SimulatedChatModel


def test_the_simulated_model_has_every_setting_with_the_same_default() -> None:
    model = SimulatedChatModel()
    for f in fields(SimSettings):
        assert getattr(model, f.name) == f.default, f.name
    assert get_args(FailureKind) == SimSettings.FAILURE_KINDS


def test_the_latency_rule_is_the_same_everywhere() -> None:
    for total in (0.0, 0.5, 1.0, 4.0):
        settings = SimSettings.with_latency(total, output_tokens=30)
        model = SimulatedChatModel.with_latency(total, output_tokens=30)
        assert (model.ttft, model.tokens_per_second) == (
            settings.ttft,
            settings.tokens_per_second,
        )


def test_the_cli_offers_the_settings_choices_and_defaults() -> None:
    parser = build_parser()
    actions = {a.dest: a for a in parser._actions}
    for sub in parser._subparsers._group_actions if parser._subparsers else ():
        for p in sub.choices.values():
            actions.update({a.dest: a for a in p._actions})
    assert tuple(actions["sim_failure_kind"].choices) == SimSettings.FAILURE_KINDS
    assert f"default {SimSettings.default('output_tokens')}" in actions["sim_tokens"].help
    assert f"default {SimSettings.default('ttft'):g}" in actions["sim_ttft"].help

"""The editors that together describe a run: prompt, inputs, models, limits and checks.

:class:`RunEditors` builds them, keeps the template's variables and the inputs' columns in
step, turns what they show into a :class:`~gui.core.spec.RunSpec` and fills them back from
one (a past run, a demo preset).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from gui.core.checks import CheckError
from gui.core.errors import SpecError, TemplateError
from gui.core.spec import CellId, ModelProfile, ProviderKind, RunSpec, expand_columns, make_spec
from gui.qt.views.checks_panel import ChecksPanel
from gui.qt.views.concurrency_panel import ConcurrencyPanel
from gui.qt.views.inputs_table import InputsTable
from gui.qt.views.judge_page import JudgePage
from gui.qt.views.models_panel import ModelsPanel
from gui.qt.views.prompt_editor import PromptEditor

if TYPE_CHECKING:
    from collections.abc import Callable

    from gui.core.ports import KeySource
    from gui.core.pricing import PriceEntry
    from gui.qt.views.schema_page import SchemaPage
    from gui.resources import Preset

__all__ = ["RunEditors"]


class RunEditors:
    """The prompt editor, the inputs table, the models panel, the concurrency panel and the
    Checks page."""

    def __init__(
        self,
        keys: KeySource | None = None,
        prompt: PromptEditor | None = None,
        inputs: InputsTable | None = None,
        models: ModelsPanel | None = None,
        checks: ChecksPanel | None = None,
    ) -> None:
        """Build the editors; ``prompt``, ``inputs``, ``models`` and ``checks`` may be built
        already (the window builds them in frames of their own)."""
        self.prompt = prompt if prompt is not None else PromptEditor()
        self.inputs = inputs if inputs is not None else InputsTable()
        self.models = models if models is not None else ModelsPanel(keys=keys)
        self.limits = ConcurrencyPanel()
        self.checks = checks if checks is not None else ChecksPanel()
        #: The Judge page (issue 13): the window builds it in a step of its own.
        self.judge: JudgePage | None = None
        #: The price entries a run carries (issue 15): the window's price service's.
        self.price_entries: Callable[[], tuple[PriceEntry, ...]] = tuple
        #: The Schema page (issue 15's structured output), built in a step of its own too.
        self.schema: SchemaPage | None = None
        self.prompt.variables_changed.connect(self.inputs.set_variables)
        self.prompt.variables_changed.connect(self.checks.set_variables)
        self.inputs.columns_changed.connect(self.prompt.set_columns)

    def sync(self) -> None:
        """Give the inputs the template's variables and the template the inputs' columns."""
        self.inputs.set_variables(self.prompt.variables())
        self.prompt.set_columns(self.inputs.columns())
        self.checks.set_variables(self.prompt.variables())

    def build_spec(self) -> RunSpec:
        """The run the editors describe.

        Raises:
            TemplateError: the template or inputs cannot make prompts.
            SpecError: no models, a bad profile, or an out-of-range limit.
            CheckError: a check on the Checks page cannot work (a :class:`SpecError`).
        """
        issue = self.prompt.blocking_issue()
        if issue:
            raise TemplateError(issue)
        checks_issue = self.checks.issue()
        if checks_issue:
            raise CheckError(checks_issue)
        models_issue = self.models.issue()
        if models_issue:
            raise SpecError(models_issue)
        templates = self.prompt.templates()
        spec = make_spec(
            templates[0],
            self.inputs.spec_rows(),  # read once per change of the table (make_spec copies)
            self.models.profiles(),
            self.limits.strategy(),
            self.limits.limits(),
            system=self.prompt.system(),
            template_variants=templates[1:],
            system_variants=self.prompt.system_variants(),
            repeats=self.limits.repeats(),
        )
        checks = self.checks.checks()
        spec = replace(spec, checks=checks, prices=self.price_entries())
        return self._with_schema(self._with_judge(spec))

    def _with_schema(self, spec: RunSpec) -> RunSpec:
        """``spec`` with the Schema page's JSON schema, refused with the fix if invalid.

        Raises:
            SpecError: structured output is on and the schema is not a valid JSON schema.
        """
        if self.schema is None:
            return spec
        issue = self.schema.issue()
        if issue:
            raise SpecError(issue)
        return replace(spec, json_schema=self.schema.schema())

    def _with_judge(self, spec: RunSpec) -> RunSpec:
        """``spec`` with the Judge page's judge (issue 13), refused with the fix if it cannot
        run.

        Raises:
            SpecError: the judge's settings cannot work (an empty rubric, a bad profile).
        """
        if self.judge is None:
            return spec
        issue = self.judge.issue()
        if issue:
            raise SpecError(f"Judge: {issue}")
        settings = self.judge.settings()
        return spec if settings is None else replace(spec, judge=settings)

    def checked_spec(self) -> RunSpec | str:
        """The run to start, or why it cannot start (also shown under the template)."""
        try:
            spec = self.build_spec()
        except (TemplateError, SpecError) as exc:
            self.prompt.show_issue(str(exc))
            return str(exc)
        self.prompt.show_issue(None)
        return spec

    def load_spec(self, spec: RunSpec) -> None:
        """Fill the editors from ``spec`` (a past run to run again)."""
        self.prompt.set_templates([spec.template, *spec.template_variants])
        self.prompt.set_systems([spec.system or "", *spec.system_variants])
        self.inputs.set_variables(self.prompt.variables())
        self.inputs.set_rows([dict(r) for r in spec.rows])
        self.models.set_profiles(list(spec.models))
        self.limits.set_strategy(spec.strategy)
        self.limits.set_limits(spec.limits)
        self.limits.set_repeats(spec.repeats)
        self.checks.set_variables(self.prompt.variables())
        self.checks.set_checks(spec.checks)
        if self.judge is not None:
            self.judge.set_settings(spec.judge)
        if self.schema is not None:
            self.schema.set_schema(spec.json_schema)

    def load_preset(self, preset: Preset) -> None:
        """Fill every editor from a demo preset."""
        self.prompt.set_template(preset.template)
        self.inputs.set_variables(self.prompt.variables())
        self.inputs.set_rows(list(preset.rows))
        self.models.set_profiles(list(preset.models))
        self.limits.set_strategy(preset.strategy)
        self.limits.set_limits(preset.limits)
        # A demo is sized as it says: samples left from the user's own run would multiply it.
        self.limits.set_repeats(1)

    def column_model(self, cell_id: str) -> ModelProfile | None:
        """The current settings of ``cell_id``'s column, or ``None`` if the column is gone.

        Retry uses them: a user who fixed a model name or URL expects Retry to use the fix.
        """
        # The columns as the editors make them now (variants x models x sweep values).
        n_variants = len(self.prompt.templates()) * (1 + len(self.prompt.system_variants()))
        columns = expand_columns(n_variants, self.models.profiles())
        col = CellId.parse(cell_id).col
        return columns[col].model if col < len(columns) else None

    def uses_openai(self) -> bool:
        """Whether a column talks to an OpenAI-compatible server."""
        return any(p.provider is ProviderKind.OPENAI for p in self.models.profiles())

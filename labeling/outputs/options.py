"""Export options, each declared once: its default, type, allowed values and help text.

``ExportOptions`` holds what every export takes; ``RankingExportOptions`` (comparisons and
rankings), ``DemonstrationExportOptions`` and ``PromptExportOptions`` add their own. Every
way of giving options is derived from these classes, so a new option is one field here:

- ``parse_options``: a mapping (a JSON body, command-line values) checked against the
  kind's class, defaults filled in; ``ExportError`` names the bad option;
- the API's option fields (``api.serializers.ExportOptionsSerializer``), used by the
  export download's query and by the snapshot and job bodies;
- the flags of the ``export_*`` and ``snapshot`` commands
  (``labeling.management.export_command.add_option_arguments``);
- the row generators (``labeling.outputs.exports``), which take an instance.

A snapshot's manifest stores ``dataclasses.asdict`` of the resolved instance: a kind's
class holds exactly that kind's options, so the manifest (and the snapshot's hash) depends
on nothing else.
"""

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache

from labeling.errors import ServiceError
from labeling.vocabulary import SPLITS, DemonstrationStatus

KINDS = ("comparisons", "rankings", "demonstrations", "prompts")
DEMONSTRATION_STATUSES = (*DemonstrationStatus.values, "all")
DEMONSTRATION_STYLES = ("prompt_completion", "messages")


class ExportError(ServiceError):
    """A bad export option (or kind); ``field`` names it."""


def option(default, help: str, *, choices=(), bounds: tuple[float, float] | None = None):
    """A dataclass field that is an export option."""
    return field(
        default=default, metadata={"help": help, "choices": tuple(choices), "bounds": bounds}
    )


@dataclass(frozen=True)
class ExportOptions:
    """The options every export takes."""

    split: str | None = option(None, "only prompts of this split (default: all)", choices=SPLITS)
    conversational: bool | None = option(
        None,
        "write prompts and answers as message lists (default: when a prompt of the selection "
        "is multi-turn)",
    )


@dataclass(frozen=True)
class RankingExportOptions(ExportOptions):
    """Comparisons (pairs) and rankings (grouped)."""

    consensus: bool = option(False, "one consensus ranking per task")
    min_agreement: float | None = option(
        None,
        "drop tasks whose labelers agree less than this (per-task agreement)",
        bounds=(0.0, 1.0),
    )
    include_gold: bool = option(False, "include rankings of gold tasks")
    # Evaluation tasks are humans judging policies side by side: training a reward model on
    # them would let the policy's own outputs grade the next policy, so they stay out of
    # training data (and of every snapshot) unless asked for.
    include_evaluation: bool = option(
        False, "include rankings of evaluation tasks (human evaluation of policies)"
    )
    # AI labelers' rankings (docs/ai-labelers.md) are a model's opinion, not people's: RLAIF
    # asks for them explicitly, and training data stays human unless it does.
    include_ai: bool = option(False, "include rankings by AI labelers (RLAIF)")


@dataclass(frozen=True)
class DemonstrationExportOptions(ExportOptions):
    """Demonstrations in TRL's SFT formats."""

    status: str = option(
        "accepted", "demonstrations of this review status", choices=DEMONSTRATION_STATUSES
    )
    style: str = option(
        "prompt_completion",
        "prompt/completion columns, or one conversational messages column",
        choices=DEMONSTRATION_STYLES,
    )


@dataclass(frozen=True)
class PromptExportOptions(ExportOptions):
    """Prompts: what generation and PPO jobs sample from, frozen as a prompts snapshot."""

    prompt_ids: tuple[int, ...] | None = option(
        None, "only these prompt ids (default: every prompt of the selection)"
    )
    limit: int | None = option(
        None, "at most this many prompts, the first by id (default: all)", bounds=(1, 2**31 - 1)
    )


OPTIONS_CLASS: dict[str, type[ExportOptions]] = {
    "comparisons": RankingExportOptions,
    "rankings": RankingExportOptions,
    "demonstrations": DemonstrationExportOptions,
    "prompts": PromptExportOptions,
}


@dataclass(frozen=True)
class OptionSpec:
    """One option as the derived interfaces (API fields, command flags, parsing) read it."""

    name: str
    type: type  # bool, float, int, str or IDS (a list of ids)
    nullable: bool  # None is a value: "not given" (split) or "decide from the data"
    default: object
    help: str
    choices: tuple[str, ...]
    bounds: tuple[float, float] | None


# The type of an option that is a list of row ids (given as a list, or "3,5,9" on a command
# line); kept sorted and unique, so the same selection always resolves (and hashes) alike.
IDS = tuple[int, ...]


def _spec(dataclass_field) -> OptionSpec:
    types = typing.get_args(dataclass_field.type) or (dataclass_field.type,)
    (value_type,) = [t for t in types if t is not type(None)]
    return OptionSpec(
        name=dataclass_field.name,
        type=value_type,
        nullable=type(None) in types,
        default=dataclass_field.default,
        help=dataclass_field.metadata["help"],
        choices=dataclass_field.metadata["choices"],
        bounds=dataclass_field.metadata["bounds"],
    )


@cache
def option_specs(kind: str | None = None) -> tuple[OptionSpec, ...]:
    """The options of one kind of export, or (no kind) of any kind, in declaration order."""
    classes = [OPTIONS_CLASS[kind]] if kind else dict.fromkeys(OPTIONS_CLASS.values())
    specs = {f.name: _spec(f) for cls in classes for f in fields(cls)}
    return tuple(specs.values())


def parse_options(kind: str, given: ExportOptions | Mapping | None = None) -> ExportOptions:
    """The kind's options, defaults filled in, or ExportError naming the bad one.

    ``given`` is an instance (returned as it is) or a mapping; a value of None means "not
    given". One function for the API, the commands and snapshots, so the three accept
    exactly the same options and a snapshot's stored options reproduce it.
    """
    if kind not in KINDS:
        raise ExportError("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    options_class = OPTIONS_CLASS[kind]
    if isinstance(given, ExportOptions):
        if type(given) is not options_class:
            raise ExportError("kind", f"{type(given).__name__} are not {kind} export options")
        return given
    given = {name: value for name, value in (given or {}).items() if value is not None}
    values = {}
    for spec in option_specs(kind):
        if spec.name in given:
            value = given.pop(spec.name)
            if not (spec.type is str and spec.nullable and value == ""):  # an empty --split
                values[spec.name] = _checked(spec, value)
    if given:
        raise ExportError(sorted(given)[0], f"unknown option for {kind} exports")
    return options_class(**values)


def _checked(spec: OptionSpec, value):
    if spec.type is bool:
        if not isinstance(value, bool):
            raise ExportError(spec.name, "must be true or false")
        return value
    if spec.type == IDS:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple) or not value:
            raise ExportError(spec.name, "must be a non-empty list of ids")
        ids = set()
        for item in value:
            if isinstance(item, str) and item.strip().isdigit():
                item = int(item)
            if isinstance(item, bool) or not isinstance(item, int) or item < 1:
                raise ExportError(spec.name, f"{item!r} is not an id (a whole number >= 1)")
            ids.add(item)
        return tuple(sorted(ids))
    if spec.type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ExportError(spec.name, "must be a whole number")
        if spec.bounds is not None and not spec.bounds[0] <= value <= spec.bounds[1]:
            raise ExportError(spec.name, f"must lie in {spec.bounds[0]:g}..{spec.bounds[1]:g}")
        return value
    if spec.type is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExportError(spec.name, "must be a number")
        value = float(value)
        if spec.bounds is not None and not spec.bounds[0] <= value <= spec.bounds[1]:
            raise ExportError(spec.name, f"must lie in {spec.bounds[0]:g}..{spec.bounds[1]:g}")
        return value
    if spec.choices and value not in spec.choices:
        raise ExportError(spec.name, f"{value!r} is not one of {', '.join(spec.choices)}")
    if not isinstance(value, str):
        raise ExportError(spec.name, "must be text")
    return value

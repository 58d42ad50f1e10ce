"""labeling/outputs/options.py: export options declared once, and everything derived from them."""

from dataclasses import asdict, fields

import pytest
from django.core.management import load_command_class

from api.serializers import ExportOptionsSerializer, ExportQuerySerializer
from labeling.errors import ServiceError
from labeling.outputs.options import (
    KINDS,
    OPTIONS_CLASS,
    DemonstrationExportOptions,
    ExportError,
    RankingExportOptions,
    option_specs,
    parse_options,
)


def test_defaults_per_kind():
    assert parse_options("comparisons") == RankingExportOptions()
    assert asdict(parse_options("rankings", {"min_agreement": 1, "split": None})) == {
        "split": None,
        "conversational": None,
        "consensus": False,
        "min_agreement": 1.0,
        "include_gold": False,
        "include_evaluation": False,
        "include_ai": False,
    }
    assert asdict(parse_options("demonstrations", {"split": ""})) == {
        "split": None,  # an empty split is no split (an empty --split or form field)
        "conversational": None,
        "status": "accepted",
        "style": "prompt_completion",
    }
    given = DemonstrationExportOptions(status="all")
    assert parse_options("demonstrations", given) is given


@pytest.mark.parametrize(
    "kind, options, field",
    [
        ("pairs", {}, "kind"),
        ("comparisons", {"split": "dev"}, "split"),
        ("comparisons", {"min_agreement": "high"}, "min_agreement"),
        ("comparisons", {"min_agreement": 3}, "min_agreement"),
        ("comparisons", {"min_agreement": float("nan")}, "min_agreement"),
        ("comparisons", {"min_agreement": True}, "min_agreement"),
        ("comparisons", {"consensus": "yes"}, "consensus"),
        ("comparisons", {"conversational": 1}, "conversational"),
        ("comparisons", {"colour": 1}, "colour"),
        ("demonstrations", {"status": "maybe"}, "status"),
        ("demonstrations", {"style": "alpaca"}, "style"),
        ("demonstrations", {"consensus": True}, "consensus"),
        ("demonstrations", RankingExportOptions(), "kind"),
    ],
)
def test_bad_options_name_the_option(kind, options, field):
    with pytest.raises(ExportError, match=f"^{field}: ") as raised:
        parse_options(kind, options)
    assert isinstance(raised.value, ServiceError)
    assert raised.value.as_dict() == {field: [raised.value.message]}


def test_every_option_reaches_the_commands_and_the_api():
    """Each option is one dataclass field; the flags and API fields are derived from it."""
    every = set()
    for kind in KINDS:
        names = {f.name for f in fields(OPTIONS_CLASS[kind])}
        assert {spec.name for spec in option_specs(kind)} == names
        every |= names
        command = load_command_class("labeling", f"export_{kind}")
        parser = command.create_parser("manage.py", f"export_{kind}")
        flags = {action.dest: action for action in parser._actions}
        assert names <= set(flags)
        for spec in option_specs(kind):
            assert flags[spec.name].help.startswith(spec.help)
            assert flags[spec.name].default == spec.default
    query = ExportQuerySerializer().fields
    assert set(ExportOptionsSerializer().fields) == every
    assert set(query) == every | {"project", "file_format", "gzip"}
    assert query["min_agreement"].min_value == 0 and query["min_agreement"].max_value == 1
    assert list(query["style"].choices) == ["prompt_completion", "messages"]
    assert query["consensus"].help_text.endswith("(comparisons and rankings only)")

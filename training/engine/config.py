"""Config dataclasses from JSON and from the command line.

Every engine entry point (`python -m training.engine.sft ...`) and the Django side (a
`TrainingJob`'s config JSON) build their config through `config_from_dict`, so a typo in a key
fails loudly instead of silently training with a default, and values that arrive as strings (CLI,
HTML forms) get the type the dataclass field declares.

The command line has one convention for every `python -m training.engine.<module>`: `parse_cli`
reads `--config file.json`, then `--key value` overrides, into that module's config dataclass,
and `--help` lists the dataclass's fields. Data files are fields too (`--train_file`,
`--prompts_file`, ...), so there is nothing positional and nothing parsed beside the dataclass.

The config dataclasses themselves live in torch-free modules (sft_config.py, reward_config.py,
ppo_config.py, generate_config.py) so the web side validates a job's config without importing
torch; each checks its values in `__post_init__` with `check`, so an impossible value fails when
the job is created, not hours into the run.
"""

from __future__ import annotations

import dataclasses
import json
import operator
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
_NONE = {"none", "null", ""}

# Llama/Mistral/Qwen attention + MLP projections: the default LoRA targets of SFT and the reward
# model (and of base_model.LoraSettings); other architectures name theirs differently.
LORA_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build `cls` (a dataclass) from `data`; unknown keys and bad values raise ValueError."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} config must be a JSON object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ValueError(f"unknown {cls.__name__} key {key!r} (known keys: {known})")
        kwargs[key] = coerce(hints[key], value, key)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field without a default is missing
        raise ValueError(f"{cls.__name__}: {exc}") from exc


def check(config: Any, **rules: str) -> None:
    """Raise ValueError naming the first field of `config` whose value breaks its rule.

    A rule is written as it reads in the message ("> 0", ">= 1", "in [0, 1)", "in (0, 1]"), so
    the check and what the user is told cannot drift apart:
    `check(self, learning_rate="> 0")` -> "learning_rate: must be > 0, got -1.0".
    """
    for name, rule in rules.items():
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}: must be a number {rule}, got {value!r}")
        if not _satisfies(value, rule):
            raise ValueError(f"{name}: must be {rule}, got {value!r}")


_COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def _satisfies(value: float, rule: str) -> bool:
    if rule.startswith("in "):  # an interval: "in [0, 1)"
        low, high = (float(x) for x in rule[4:-1].split(","))
        above = value >= low if rule[3] == "[" else value > low
        below = value <= high if rule[-1] == "]" else value < high
        return above and below
    op, bound = rule.split()
    return _COMPARE[op](value, float(bound))


def config_to_dict(config: Any) -> dict[str, Any]:
    """JSON-ready dict of a config (Paths as strings, tuples as lists) — what a job stores."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def coerce(annotation: Any, value: Any, key: str = "value") -> Any:
    """Convert `value` (JSON value or CLI string) to `annotation`; raise ValueError naming `key`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)

    if annotation is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.strip().lower() in _NONE):
            if type(None) in args:
                return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(arg, value, key)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(f"{key}: cannot use {value!r} ({'; '.join(errors)})")
    if origin is Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        raise ValueError(f"{key}: {value!r} is not one of {list(args)}")
    if origin in (list, tuple):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                value = json.loads(text)
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        items = [coerce(item_type, item, f"{key}[{i}]") for i, item in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or annotation is dict:
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict):
            raise ValueError(f"{key}: expected an object, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, str):
            value = json.loads(value)
        if isinstance(value, annotation):
            return value
        return config_from_dict(annotation, value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(f"{key}: expected true/false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ValueError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key}: expected an integer, got {value!r}") from None
        if not number.is_integer():
            raise ValueError(f"{key}: expected an integer, got {value!r}")
        return int(number)
    if annotation is float:
        if isinstance(value, bool):
            raise ValueError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key}: expected a number, got {value!r}") from None
    if annotation is str:
        if isinstance(value, (str, int, float, Path)) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"{key}: expected a string, got {value!r}")
    if annotation is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ValueError(f"{key}: expected a path, got {value!r}")
    return value


def parse_cli(cls: type[T], argv: list[str] | None = None, *, required: tuple[str, ...] = ()) -> T:
    """`--config file.json` then `--key value` / `--key=value` overrides (later wins).

    Dashes in keys are accepted for underscores; a bool key given without a value means true;
    lists are comma-separated (`--target_modules q_proj,v_proj`) or JSON (`'["q_proj"]'`).
    `required` names keys the command line must set although the dataclass has a default for
    them: the data files of a config that jobs, which pass their data in memory, share.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    hints = typing.get_type_hints(cls)
    data: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in ("-h", "--help"):
            print(cli_help(cls))
            raise SystemExit(0)
        if not token.startswith("--"):
            raise ValueError(f"unexpected argument {token!r} (expected --key value)")
        key, eq, value = token[2:].partition("=")
        key = key.replace("-", "_")
        if not eq:
            has_value = i + 1 < len(argv) and not argv[i + 1].startswith("--")
            if has_value:
                value = argv[i + 1]
                i += 1
            elif hints.get(key) is bool or key not in hints:
                value = "true"
            else:
                raise ValueError(f"--{key} needs a value")
        if key == "config":
            loaded = json.loads(Path(value).read_text())
            if not isinstance(loaded, dict):
                raise ValueError(f"{value}: the config file must hold a JSON object")
            data.update(loaded)
        else:
            overrides[key] = value
        i += 1
    data.update(overrides)
    no_default = [
        f.name
        for f in dataclasses.fields(cls)
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    for key in (*no_default, *required):
        if data.get(key) in (None, ""):
            raise ValueError(f"--{key} is required (--help lists the options)")
    return config_from_dict(cls, data)


def cli_help(cls: type) -> str:
    lines = [f"options for {cls.__name__} (--config file.json, then --key value overrides):"]
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = repr(f.default_factory())
        else:
            default = "(required)"
        hint = hints[f.name]
        plain = typing.get_origin(hint) is None and hasattr(hint, "__name__")
        type_name = hint.__name__ if plain else str(hint).replace("typing.", "")
        lines.append(f"  --{f.name} {type_name} = {default}")
    return "\n".join(lines)

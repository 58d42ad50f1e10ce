"""A job's metric rows as chart groups: each logged key is a series over steps, and the keys
sharing a prefix (``train/``, ``eval/``, ``objective/`` …) share one chart, because the engine
names keys so that those on one scale sit under one prefix.

Plain data in, plain data out: the console's views turn the groups into plotly figures."""

import math
import re
from dataclasses import dataclass, field

# the order the charts appear in: what a run optimises first, its bookkeeping last
PREFIX_ORDER = [
    "train",
    "eval",
    "objective",
    "val",
    "policy",
    "response",
    "watch",
    "generate",
]
LAST = ["other", "time"]
# raised alarms are events, not curves: the page lists them above the charts
SKIPPED_PREFIXES = {"alarm"}


@dataclass
class Series:
    key: str
    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass
class ChartGroup:
    prefix: str
    series: list[Series]

    @property
    def div_id(self) -> str:
        """The chart's element id: ``chart-train``; a prefix is reduced to [a-z0-9-]."""
        return "chart-" + (re.sub(r"[^a-z0-9]+", "-", self.prefix.lower()).strip("-") or "other")


def prefix_of(key: str) -> str:
    head, slash, _ = key.partition("/")
    return head if slash and head else "other"


def is_number(value) -> bool:
    # bool is an int to Python, but a flag is no curve; NaN and ∞ cannot be drawn
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def chart_groups(rows: list[dict]) -> list[ChartGroup]:
    """``rows``: ``[{"step": 3, "train/loss": 0.7, ...}, ...]`` (``TrainingJob.metric_series``),
    in step order. Returns one group per prefix, each with its numeric keys' series sorted by
    key; a key that was never numeric has no series."""
    by_prefix: dict[str, dict[str, Series]] = {}
    for row in rows:
        step = row.get("step")
        for key, value in row.items():
            if key == "step" or not is_number(value):
                continue
            prefix = prefix_of(key)
            if prefix in SKIPPED_PREFIXES:
                continue
            series = by_prefix.setdefault(prefix, {}).setdefault(key, Series(key))
            series.steps.append(step)
            series.values.append(value)
    return [
        ChartGroup(prefix, [by_prefix[prefix][key] for key in sorted(by_prefix[prefix])])
        for prefix in sorted(by_prefix, key=_rank)
    ]


def _rank(prefix: str) -> tuple[int, str]:
    if prefix in PREFIX_ORDER:
        return (0, f"{PREFIX_ORDER.index(prefix):03d}")
    if prefix in LAST:
        return (2, f"{LAST.index(prefix):03d}")
    return (1, prefix)

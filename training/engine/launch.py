"""Run one engine entry point from a job spec: what a worker starts under `accelerate launch`.

    accelerate launch --num_processes 2 -m training.engine.launch --spec spec.json

`spec.json` is `{"kind": "rm", "config": {...}, "inputs": {"train_rows": "train_rows.json",
...}}`: the engine config as a JSON object and, per keyword argument of the entry point, a JSON
file holding its value (paths relative to the spec's folder). Every process runs the same
entry point (data parallel); the main process prints one event a line, `EVENT_PREFIX` then
JSON: `progress` after every step, `resumed` when it restored saved state, `result` at the
end. Everything else on stdout/stderr is the run's log. Django-free.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from training.engine.config import config_from_dict, parse_cli
from training.engine.registry import config_class, entry_point

EVENT_PREFIX = "@@preflab-event "


def emit(event: str, **fields) -> None:
    print(EVENT_PREFIX + json.dumps({"event": event, **fields}, default=str), flush=True)


class EventPrinter:
    """The engine callback of a launched run; only the main process reports. No `poll`: the
    worker stops a cancelled run by terminating the whole process group."""

    def __init__(self, main: bool):
        self.main = main

    def __call__(self, step: int, total: int, metrics: dict) -> None:
        if self.main:
            emit("progress", step=step, total=total, metrics=metrics)

    def resumed(self, step: int) -> None:
        if self.main:
            emit("resumed", step=step)


@dataclass
class LaunchConfig:
    spec: str  # the job spec: {"kind", "config", "inputs"}, as training/launcher.py writes it


def main(argv: list[str] | None = None) -> None:
    spec_path = Path(parse_cli(LaunchConfig, argv).spec)
    spec = json.loads(spec_path.read_text())
    kind = spec["kind"]
    config = config_from_dict(config_class(kind), spec["config"])
    inputs = {
        name: json.loads((spec_path.parent / path).read_text())
        for name, path in spec["inputs"].items()
    }
    # torchrun sets RANK for every process it starts; a plain run is the main process
    is_main = int(os.environ.get("RANK", "0")) == 0
    result = entry_point(kind)(config, **inputs, callback=EventPrinter(is_main))
    if is_main:
        emit("result", result=result)


if __name__ == "__main__":
    main()

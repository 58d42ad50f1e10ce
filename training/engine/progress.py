"""How an engine reports to its caller, and when it saves resumable state. Torch-free.

Every engine takes one `callback`:
    callback(step, total, metrics)  after every optimizer step (generation: every batch), before
                                    that step's save: a caller that records every step it is
                                    told of has all the steps up to the saved one, so a resumed
                                    run's series has no gap (a callback that raises to cancel
                                    loses at most that step);
    callback.poll()                 (optional) between evaluation, scoring and generation
                                    batches: long stretches without a step can be cancelled too
                                    (poll raises to cancel);
    callback.resumed(step)          (optional) once, right after saved state was restored.
A plain function works as a callback; the optional methods are looked up, not required.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any


def poll(callback: Any) -> None:
    """Let the caller cancel between batches: `callback.poll()` if it has one."""
    method = getattr(callback, "poll", None)
    if method is not None:
        method()


def poller(callback: Any) -> Callable[[], None] | None:
    """`poll(callback)` as a no-argument function for the batch loops, None when there is no
    callback."""
    return None if callback is None else lambda: poll(callback)


def print_progress(step: int, total: int, metrics: dict[str, float]) -> None:
    """The callback of every engine's command line: one JSON object a step on stdout, which a
    script reads back with `json.loads` per line."""
    print(json.dumps({"step": step, "total": total, **metrics}), flush=True)


def report_resumed(callback: Any, step: int) -> None:
    """Tell the caller the run continues from saved state at `step`, if it wants to know."""
    method = getattr(callback, "resumed", None)
    if method is not None:
        method(step)


class SaveSchedule:
    """Save every `every_steps` steps or every `every_minutes` minutes, whichever comes first
    (0 turns either off). Time counts from the start or from the last `saved()`.

    The count bounds the work lost to a crash on a fast run, the clock bounds it on a slow one
    (a large model whose 100 steps take hours).
    """

    def __init__(
        self,
        every_steps: int,
        every_minutes: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.every_steps, self.every_minutes, self.clock = every_steps, every_minutes, clock
        self.last_save = clock()

    def due(self, step: int) -> bool:
        if self.every_steps > 0 and step % self.every_steps == 0:
            return True
        return self.every_minutes > 0 and self.clock() - self.last_save >= self.every_minutes * 60

    def saved(self) -> None:
        self.last_save = self.clock()

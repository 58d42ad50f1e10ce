"""A callback like the platform's: called per step, with `poll` and `resumed` methods."""


class Killed(Exception):
    """Raised from a callback to stand for a crash or a cancellation at a step boundary."""


class Recorder:
    """Records steps, polls and resumes; raises Killed at the report of step `kill_at` + 1 (the
    engines report a step before saving it, so this is a crash right after step `kill_at`'s
    save) or at poll number `kill_at_poll`."""

    def __init__(self, kill_at: int | None = None, kill_at_poll: int | None = None):
        self.kill_at, self.kill_at_poll = kill_at, kill_at_poll
        self.steps: list[int] = []
        self.metrics: list[dict] = []
        self.resumed_at: list[int] = []
        self.polls = 0

    def __call__(self, step: int, total: int, metrics: dict) -> None:
        self.steps.append(step)
        self.metrics.append(metrics)
        if self.kill_at is not None and step == self.kill_at + 1:
            raise Killed

    def poll(self) -> None:
        self.polls += 1
        if self.polls == self.kill_at_poll:
            raise Killed

    def resumed(self, step: int) -> None:
        self.resumed_at.append(step)

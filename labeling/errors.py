"""Refusals of the service layer: typed, carrying the field the caller should fix.

Every entry point maps them the same way: the API to ``{field: [message]}`` (400, once, in
``api.exceptions``), a web form to an error on the form, a command to ``field: message``.
"""


class ServiceError(ValueError):
    """A write refused by a rule; ``field`` names what to fix, ``message`` says why."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message

    def as_dict(self) -> dict[str, list[str]]:
        return {self.field: [self.message]}

"""Domain errors. Services raise these (or Django's ValidationError) with a message that says
what is wrong and where; the API maps them to 400 {"detail", "field"/"row"} and pages show them."""

from __future__ import annotations


class QuorumError(Exception):
    """A request the domain refuses. `field` or `row` say where, when there is a where."""

    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.row = row
        if code:
            self.code = code

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"detail": self.message, "code": self.code}
        if self.field is not None:
            data["field"] = self.field
        if self.row is not None:
            data["row"] = self.row
        return data


class IllegalTransition(QuorumError):
    code = "illegal_transition"


class NotAllowed(QuorumError):
    """The actor's role on the object does not permit this change."""

    code = "not_allowed"


class TooLarge(QuorumError):
    """A request body or an uploaded file over its size limit (the API answers 413)."""

    code = "too_large"

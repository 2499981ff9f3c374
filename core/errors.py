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


class QueueUnavailable(QuorumError):
    """The task broker did not take a job's message (unreachable): the API answers 503."""

    code = "queue_unavailable"


class Conflict(QuorumError):
    """A stale write: the object changed since the caller read it (a version check failed).
    `changes` says what changed since: {field: {"yours": ..., "now": ..., "by": ..., "at": ...}}."""

    code = "conflict"

    def __init__(self, message: str, *, changes: dict[str, object] | None = None, version: int | None = None):
        super().__init__(message, field="version")
        self.changes = changes or {}
        self.version = version

    def as_dict(self) -> dict[str, object]:
        data = super().as_dict()
        data["changes"] = self.changes
        if self.version is not None:
            data["version"] = self.version
        return data


class StaleEdit(QuorumError):
    """A save of a draft that someone else changed since the editor read it (the API answers 409).
    `current` describes what is stored now: who saved it, when, its revision and what changed."""

    code = "conflict"

    def __init__(self, message: str, *, current: dict[str, object], field: str | None = "revision"):
        super().__init__(message, field=field)
        self.current = current

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "current": self.current}


class AcknowledgementNeeded(QuorumError):
    """The annotator must acknowledge the guideline in force before they get another item."""

    code = "guideline_unacknowledged"

    def __init__(self, message: str, *, guideline_id: int):
        super().__init__(message, field="guideline")
        self.guideline_id = guideline_id

    def as_dict(self) -> dict[str, object]:
        return {**super().as_dict(), "guideline": self.guideline_id}


class TooLarge(QuorumError):
    """A request body or an uploaded file over its size limit (the API answers 413)."""

    code = "too_large"

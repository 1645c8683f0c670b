"""The domain's refusals. The API turns each into its status (see api/errors.py)."""

from workplan.policy import NotPermitted


class PlanRuleError(Exception):
    """The change conflicts with the state of the plan (the API answers 409)."""


class VersionMismatch(Exception):
    """The object changed since the caller read it (the API answers 412; the admin shows
    a conflict and writes nothing)."""


class BulkError(Exception):
    """One or more items of a bulk write failed; nothing was written."""

    def __init__(self, errors: list[tuple[int, str, Exception]]) -> None:
        super().__init__(f"{len(errors)} item(s) failed")
        self.errors = errors


__all__ = ["BulkError", "NotPermitted", "PlanRuleError", "VersionMismatch"]

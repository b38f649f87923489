"""Errors a person can act on: the field path, what is wrong, how to fix it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpecIssue:
    path: str
    message: str

    def line(self, source: str) -> str:
        return f"{source}: {self.path}: {self.message}" if self.path else f"{source}: {self.message}"


class SpecError(Exception):
    """A task file that cannot be accepted; one issue per problem found."""

    def __init__(self, source: str, issues: list[SpecIssue]):
        self.source = source
        self.issues = list(issues)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(issue.line(self.source) for issue in self.issues)

    def to_dict(self) -> dict:
        return {"source": self.source,
                "issues": [{"path": i.path, "message": i.message} for i in self.issues]}


class CompileError(Exception):
    """The spec is well-formed but cannot become a Ray job (e.g. an override fights Argus)."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")

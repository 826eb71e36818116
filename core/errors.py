"""Errors that reach the user as one clear message (exit code 2), never as a traceback."""

from __future__ import annotations

from dataclasses import dataclass


class WlkitError(Exception):
    """Bad input: a pipeline, a plugin, a dataset or a cache the user can fix.

    The CLI prints ``str(error)`` and exits with code 2. Anything else that escapes is an
    unexpected failure (exit code 1).
    """

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One validation problem, located in a pipeline file."""

    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file or "<pipeline>"
        if self.line is not None:
            where += f":{self.line}"
        text = f"{where}: {self.path + ': ' if self.path else ''}{self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class PipelineError(WlkitError):
    """One or more problems in a pipeline; each names file, line and YAML path."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        count = len(self.problems)
        head = "invalid pipeline" + (f" ({count} problems)" if count > 1 else "")
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class PluginError(WlkitError):
    """A plugin is broken or clashes with another one."""


class DatasetError(WlkitError):
    """A dataset is missing, unreadable or malformed."""

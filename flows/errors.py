"""Errors that stop a run with a clear one-line message (exit code 2) instead of a traceback."""
from __future__ import annotations


class InputError(Exception):
    """Input that cannot be processed at all: a missing file, a missing required column,
    an unreadable reference classifier. Names the file and, where it applies, the line and column."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: str | int | None = None):
        self.file, self.line, self.column, self.message = file, line, column, message
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return (": ".join([", ".join(where), self.message]) if where else self.message)


class ConfigError(InputError, ValueError):
    """A setting (an environment variable, an option) whose value cannot be used: a clear
    message naming the setting and exit code 2, like bad input."""

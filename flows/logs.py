"""Logging policy: bad input is reported as one line, not as a traceback.

Prefect logs every failed task and flow with its traceback. For an InputError the traceback
says nothing a data steward can use (the message names file, line and column), so handlers
drop it; any other exception keeps its traceback.
"""
from __future__ import annotations

import logging
import sys

from flows.errors import InputError


class _CurrentStderr:
    """A stream that writes to whatever sys.stderr is now. Prefect's console handler binds the
    stream it was configured with; when a caller swaps stderr (a test runner, a wrapper that
    captures output) and closes the old one, the handler would write to a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return getattr(sys.stderr, "isatty", lambda: False)()

    @property
    def encoding(self) -> str:
        return getattr(sys.stderr, "encoding", "utf-8")


_STDERR = _CurrentStderr()


class _OneLineInputErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, InputError):
            record.exc_info, record.exc_text = None, None
            record.msg, record.args = f"{type(exc).__name__}: {exc.one_line()}", ()
        return True


_FILTER = _OneLineInputErrors()


def quiet_input_errors() -> None:
    """Attach the filter to the handlers Prefect and the root logger use (idempotent)."""
    loggers = [logging.getLogger(), logging.getLogger("prefect")]
    loggers += [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
                if name.startswith("prefect")]
    for logger in loggers:
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
            console = getattr(handler, "console", None)
            if isinstance(handler, logging.StreamHandler) and console is not None \
                    and handler.stream in (sys.stderr, sys.__stderr__):
                handler.stream = _STDERR
                console.file = _STDERR

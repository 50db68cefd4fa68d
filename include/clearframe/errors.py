"""Errors that reach users. Each names the file, field or URL and says what to do."""

from __future__ import annotations


class ClearFrameError(Exception):
    """Base of every error ClearFrame raises on purpose."""


class ConfigError(ClearFrameError):
    """A source file or setting is wrong; the run cannot start. The CLI exits non-zero on these."""

    def __init__(self, path: str, field: str | None, problem: str, hint: str | None = None):
        self.path = path
        self.field = field
        self.problem = problem
        self.hint = hint
        where = f"{path}: field '{field}'" if field else path
        msg = f"{where}: {problem}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)


class InputError(ClearFrameError):
    """One input record is malformed; it becomes a ledger row, the run goes on."""

"""Errors raised on bad input.

Every loader in the package raises :class:`DataError` (a ``ValueError``) with a message that names the
file, the row and column where known, the offending value and what was expected, so a user can fix the
input without reading a traceback from deep inside numpy or pandas.
"""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad input data: the message says where (file/row/column), what was found and what was expected."""

    def __init__(
        self,
        source: str | Path,
        problem: str,
        *,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
        expected: str | None = None,
    ) -> None:
        self.source = str(source)
        self.row = row
        self.column = column
        self.value = value
        self.expected = expected
        where = self.source
        if row is not None:
            where += f", line {row}"
        if column is not None:
            where += f", column '{column}'"
        message = f"{where}: {problem}"
        if value is not None:
            message += f" (got {value!r})"
        if expected is not None:
            message += f"; expected {expected}"
        super().__init__(message)

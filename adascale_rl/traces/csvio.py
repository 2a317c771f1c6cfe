"""Reading and writing trace CSV files: ``# key: value`` metadata lines, a header, then rows."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from adascale_rl.errors import DataError


@dataclass(frozen=True)
class RawTable:
    """A CSV file split into metadata, header and text columns, before any typing."""

    path: Path
    metadata: dict[str, str]
    header: list[str]
    columns: dict[str, list[str]]
    first_line: int  # file line number of the first data row
    header_line: int  # file line number of the header

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


def read_raw(path: str | Path) -> RawTable:
    """Read a CSV with optional leading ``# key: value`` lines; rows must have as many cells as the header."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found", expected="an existing CSV trace file")
    if not path.is_file():
        raise DataError(path, "not a regular file", expected="a CSV trace file")
    try:
        # utf-8-sig: a spreadsheet's byte-order mark must not become part of the first column name.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = text.splitlines()
    metadata: dict[str, str] = {}
    index = 0
    while index < len(lines) and lines[index].startswith("#"):
        key, sep, value = lines[index][1:].partition(":")
        if sep:
            metadata[key.strip()] = value.strip()
        index += 1
    # Trailing blank lines (an editor's final newline or two) are harmless; blank lines inside are not.
    body = lines[index:]
    while body and not body[-1].strip():
        body.pop()
    if not body or not body[0].strip():
        raise DataError(path, "empty file", row=index + 1 if body else None,
                        expected="a header line and at least one data row")
    reader = csv.reader(body)
    header = [name.strip() for name in next(reader)]
    rows = list(reader)
    header_line = index + 1
    columns: dict[str, list[str]] = {name: [] for name in header}
    for offset, row in enumerate(rows):
        if len(row) != len(header):
            raise DataError(path, f"row has {len(row)} cells", row=header_line + 1 + offset,
                            value=",".join(row), expected=f"{len(header)} cells as in the header")
        for name, cell in zip(header, row, strict=True):
            columns[name].append(cell)
    if not rows:
        raise DataError(path, "no data rows (header only)", row=header_line + 1,
                        expected="at least one data row after the header")
    return RawTable(path, metadata, header, columns, header_line + 1, header_line)


def write_csv(path: str | Path, metadata: dict[str, str], columns: dict[str, list[str]]) -> Path:
    """Write ``# key: value`` lines then the columns as CSV (creating parent folders).

    Line breaks inside metadata values are replaced by spaces: a value spanning lines would turn its
    second line into the CSV header on the way back in.
    """
    path = Path(path)
    metadata = {key: " ".join(str(value).split()) for key, value in metadata.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(columns)
    n_rows = len(columns[names[0]]) if names else 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        for key, value in metadata.items():
            handle.write(f"# {key}: {value}\n")
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(names)
        for i in range(n_rows):
            writer.writerow([columns[name][i] for name in names])
    return path

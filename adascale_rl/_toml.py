"""TOML loading with errors that name the file (tomllib on 3.11+, tomli before)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from adascale_rl.errors import DataError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib


def load_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file, raising :class:`DataError` for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found", expected="an existing TOML file")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(path, f"invalid TOML: {exc}") from None


def require(table: dict[str, Any], key: str, kind: type | tuple[type, ...], source: str | Path) -> Any:
    """Fetch ``table[key]`` and check its type, naming the file and key when it is missing or wrong."""
    if key not in table:
        raise DataError(source, f"missing key '{key}'", expected=_kind_name(kind))
    value = table[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise DataError(source, f"key '{key}' has the wrong type", value=value, expected=_kind_name(kind))
    if not isinstance(value, kind):
        raise DataError(source, f"key '{key}' has the wrong type", value=value, expected=_kind_name(kind))
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)

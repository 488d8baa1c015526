"""Minimal TOML reading (``tomllib`` / ``tomli``) and writing for flat configuration tables.

The writer only needs what run configurations hold: top-level scalars and one level of tables
of strings, numbers, booleans and lists of those. ``None`` means "unset" and is omitted.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, Dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

__all__ = ["TOMLDecodeError", "load_toml", "loads_toml", "dumps_toml"]

TOMLDecodeError = tomllib.TOMLDecodeError


def load_toml(path: str) -> Dict[str, Any]:
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def loads_toml(text: str) -> Dict[str, Any]:
    return tomllib.loads(text)


def _value(value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest round-trip form, valid TOML
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as TOML")


def dumps_toml(data: Dict[str, Any]) -> str:
    """Top-level scalars first, then one ``[table]`` per dict value."""
    lines = [f"{k} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict) and v is not None]
    for name, table in data.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]"]
            lines += [f"{k} = {_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"

"""Typed JSON records: a dataclass written as the JSON object of its fields and read back from one, a missing field
or a block of the wrong shape named with the file and the fix (results.json and the side files use it).

Field metadata says how a field sits in the file: ``FLAT`` — a nested record whose keys sit at this level (a
field of type ``X | None`` then is absent when None); ``OMITTED_WHEN_NONE`` — the key is left out when the value is
None (blocks that older files lack, or that only some runs have). A record class with a
``from_dict(data, path)`` classmethod reads itself (its own checks and fix).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from typing import Any, TypeVar

from audiobits.errors import ConfigValueError

FLAT = {"flat": True}
OMITTED_WHEN_NONE = {"omitted_when_none": True}
Record = TypeVar("Record")


def to_json(record: Any) -> Any:
    """``record`` as plain JSON values: dataclasses as objects in field order, lists and dicts element-wise."""
    if dataclasses.is_dataclass(record):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(record):
            value = getattr(record, f.name)
            if value is None and (f.metadata.get("omitted_when_none") or f.metadata.get("flat")):
                continue
            if f.metadata.get("flat"):
                out.update(to_json(value))
            else:
                out[f.name] = to_json(value)
        return out
    if isinstance(record, (list, tuple)):
        return [to_json(v) for v in record]
    if isinstance(record, dict):
        return {k: to_json(v) for k, v in record.items()}
    return record


def from_json(cls: type[Record], data: Any, path: str | os.PathLike, fix: str, where: str = "") -> Record:
    """The ``cls`` record held by ``data`` (an object read from ``path``); a missing required field, or a block that
    is not an object, raises `ConfigValueError` naming the file, the field (``where`` + its name) and ``fix``.
    Keys the record does not declare are left out."""
    if hasattr(cls, "from_dict"):  # a record with checks of its own
        return cls.from_dict(data, path)
    if not isinstance(data, dict):
        raise ConfigValueError(f"{path}: {where.rstrip('.') or 'the file'} holds a JSON {type(data).__name__}, not "
                               f"the object audiobits writes. {fix}")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if f.metadata.get("flat"):
            inner = _without_none(kind)
            if inner is not kind and not all(g.name in data for g in dataclasses.fields(inner)
                                             if g.default is dataclasses.MISSING):
                values[f.name] = None  # an optional flat block the file does not hold
            else:
                values[f.name] = from_json(inner, data, path, fix, where)
        elif f.name in data:
            values[f.name] = _convert(kind, data[f.name], path, fix, f"{where}{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigValueError(f"{path}: lacks the field `{where}{f.name}`, which audiobits writes. {fix}")
    return cls(**values)


def _without_none(kind: Any) -> Any:
    """``X`` for ``X | None``; ``kind`` itself otherwise."""
    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else kind
    return kind


def _convert(kind: Any, value: Any, path: str | os.PathLike, fix: str, where: str) -> Any:
    """``value`` as the declared ``kind``: nested records, lists and dicts of them; plain values as they are."""
    if value is None:
        return None
    kind = _without_none(kind)
    if dataclasses.is_dataclass(kind):
        return from_json(kind, value, path, fix, where + ".")
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is list and args and dataclasses.is_dataclass(args[0]):
        if not isinstance(value, list):
            raise ConfigValueError(f"{path}: `{where}` holds a JSON {type(value).__name__}, not a list. {fix}")
        return [from_json(args[0], v, path, fix, f"{where}[{i}].") for i, v in enumerate(value)]
    if origin is dict and len(args) == 2 and dataclasses.is_dataclass(args[1]):
        if not isinstance(value, dict):
            raise ConfigValueError(f"{path}: `{where}` holds a JSON {type(value).__name__}, not an object. {fix}")
        return {k: from_json(args[1], v, path, fix, f"{where}.{k}.") for k, v in value.items()}
    return value

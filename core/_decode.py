"""Typed decoding of TOML tables into config dataclasses (pure).

Every key is checked: an unknown key, a wrong type or a bad nested table
raises :class:`ConfigError` naming the file, the dotted key path, what was
expected and what was found.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar

__all__ = ["ConfigError", "decode", "encode", "describe_type"]

T = TypeVar("T")


class ConfigError(Exception):
    """A config file is unusable; the message says where and why."""


def describe_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is str:
        return "a string"
    if tp is bool:
        return "a boolean"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if origin is list:
        (item,) = typing.get_args(tp)
        return f"a list of {_plural(item)}"
    if origin is dict:
        _, value = typing.get_args(tp)
        return "a table" if value is Any else f"a table of {_plural(value)}"
    if dataclasses.is_dataclass(tp):
        return "a table"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in typing.get_args(tp) if a is not type(None))
    return getattr(tp, "__name__", str(tp))


def _plural(tp: Any) -> str:
    text = describe_type(tp)
    for article in ("an ", "a "):
        if text.startswith(article):
            return text[len(article):] + "s"
    return text


def _found(value: Any) -> str:
    kind = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "a list", dict: "a table"}
    name = kind.get(type(value), type(value).__name__)
    shown = repr(value) if not isinstance(value, (dict, list)) else ""
    return f"{name} {shown}".strip() if shown and len(shown) < 60 else name


def _fail(file: str, path: str, tp: Any, value: Any) -> ConfigError:
    return ConfigError(f"{file}: key {path}: expected {describe_type(tp)}, found {_found(value)}")


def _value(file: str, path: str, tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value  # free-form (e.g. plugin sections, checked later by their own class)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _fail(file, path, tp, value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _fail(file, path, tp, value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _fail(file, path, tp, value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _fail(file, path, tp, value)
    if origin is list:
        if not isinstance(value, list):
            raise _fail(file, path, tp, value)
        (item,) = typing.get_args(tp)
        return [_value(file, f"{path}[{i}]", item, v) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(file, path, tp, value)
        _, item = typing.get_args(tp)
        return {k: _value(file, f"{path}.{_key(k)}", item, v) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(file, path, tp, value)
        return decode(tp, value, file=file, path=path)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _value(file, path, option, value)
            except ConfigError:
                continue
        raise _fail(file, path, tp, value)
    raise ConfigError(f"{file}: key {path}: unsupported config type {tp!r} (a plugin bug)")


def _key(name: str) -> str:
    plain = name.replace("_", "").replace("-", "").isalnum()
    return name if plain else f'"{name}"'


def decode(cls: type[T], table: dict[str, Any], *, file: str, path: str = "") -> T:
    """Build ``cls`` (a dataclass with defaults) from ``table``.

    Raises:
        ConfigError: unknown key or wrong type, naming ``file`` and the key path.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{path}.{_key(key)}" if path else _key(key)
        if key not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigError(f"{file}: unknown key {where} (known keys here: {known})")
        kwargs[key] = _value(file, where, hints[key], value)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{file}: {path + ': ' if path else ''}{e}") from e


def encode(obj: Any) -> Any:
    """A config dataclass back into plain TOML-able data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [encode(v) for v in obj]
    return obj

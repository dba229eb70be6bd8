"""Validated YAML configs with pydantic v2: every stage describes its settings as `Settings` models (a field's
type, default, bounds and one-line meaning, given by `setting`); `load` reads YAML plus command-line overrides
into them and turns pydantic's errors into messages for the user: an unknown key names the closest valid
key, a wrong type, an out-of-range value or a value not among the allowed ones names the key and the limit,
all before anything heavy is loaded. Allowed values are `Literal` types; cross-key rules are the models'
`model_validator`s, which raise ConfigError naming the keys. docs/configuration.md is generated from the
models (core/config_docs.py).
"""
import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ConfigError(ValueError):
    """A config problem, worded for the user: which file, which key, what to do."""


class Settings(BaseModel):
    """Base of every settings model: unknown keys are errors, and types are strict (a bool is not an int, a
    string is not a number; an int is accepted where a float is meant)."""
    model_config = ConfigDict(extra="forbid", strict=True)


def setting(default: Any, doc: str = "", *, min: float | None = None, max: float | None = None) -> Any:
    """A field with its one-line documentation and inclusive bounds; mutable defaults are made per instance."""
    if isinstance(default, (list, dict, BaseModel)):
        return Field(default_factory=lambda: default.model_copy(deep=True) if isinstance(default, BaseModel)
                     else type(default)(default), description=doc, ge=min, le=max)
    return Field(default, description=doc, ge=min, le=max)


def _closest(key: str, valid: list[str], prefix: str) -> str:
    match = difflib.get_close_matches(key, valid, n=1, cutoff=0.0)
    return f"; did you mean '{prefix}{match[0]}'?" if match else ""


# pydantic error type -> the type named in the message
_EXPECTED = {"int_type": "int", "int_parsing": "int", "bool_type": "bool", "bool_parsing": "bool", "float_type": "float",
             "string_type": "str", "list_type": "a list"}


def _located(cls: type[BaseModel], location: tuple) -> tuple[list[str], type[BaseModel]]:
    """The dotted key parts of a pydantic error location (union member tags such as 'int' left out) and the
    settings model that holds the last key."""
    parts, model = [], cls
    for index, part in enumerate(location):
        if isinstance(part, int):
            parts.append(str(part))
        elif model is not None and part in model.model_fields:
            parts.append(part)
            annotation = model.model_fields[part].annotation
            if index < len(location) - 1:
                model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        elif index == len(location) - 1 and model is not None:   # an unknown key
            parts.append(str(part))
    return parts, model


def _message(cls: type[BaseModel], error: dict) -> str:
    """One pydantic error, worded as the rest of the project words config errors."""
    parts, model = _located(cls, tuple(error["loc"]))
    key = ".".join(parts)
    value, context, kind = error.get("input"), error.get("ctx") or {}, error["type"]
    if kind == "extra_forbidden":
        prefix = "".join(f"{part}." for part in parts[:-1])
        return f"unknown key '{key}'{_closest(parts[-1], list(model.model_fields), prefix)}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{key}: {value!r} is below the minimum {context.get('ge', context.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"{key}: {value!r} is above the maximum {context.get('le', context.get('lt'))}"
    if kind == "literal_error":
        return f"{key}: {value!r} is not one of {context['expected']}"
    if kind == "value_error":   # a cross-key rule of the model: its message names the keys
        return str(context["error"])
    if kind == "model_type":
        return f"{key}: expected a mapping of settings, got {value!r}"
    if kind in _EXPECTED:
        return f"{key}: expected {_EXPECTED[kind]}, got {value!r}"
    return f"{key}: {error['msg']}, got {value!r}"


def parse_overrides(items: list[str] | str | None) -> dict:
    """`["lora.r=8", "max_steps=20"]` (or one space-separated string) -> nested dict; values parsed as YAML."""
    if not items:
        return {}
    if isinstance(items, str):
        items = items.split()
    nested: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key=value (e.g. lora_r=8)")
        key, raw_value = item.split("=", 1)
        node = nested
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw_value) if raw_value != "" else ""
    return nested


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at top level")
    return loaded or {}


def _validate(cls: type[Settings], raw: dict, label: str) -> Any:
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{label}: {_message(cls, exc.errors()[0])}") from None


def load(cls: type[Settings], path: str | Path | None, overrides: list[str] | str | None = None) -> Any:
    """Load `path` (YAML mapping; None = all defaults) into the settings model `cls`, applying overrides."""
    raw = _read_yaml(Path(path)) if path else {}
    return _validate(cls, _merge(raw, parse_overrides(overrides)), str(path) if path else "defaults")


def load_sections(cls: type[Settings], path: str | Path) -> Any:
    """Only the top-level sections of `path` that `cls` declares, validated; the file's other sections belong
    to another stage's schema (e.g. train's chat reads eval.yaml's sampling settings)."""
    raw = _read_yaml(Path(path))
    return _validate(cls, {k: v for k, v in raw.items() if k in cls.model_fields}, str(path))


def to_dict(cfg: Settings) -> dict:
    return cfg.model_dump()

